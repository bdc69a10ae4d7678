//! Checkpoint averaging: the element-wise mean of the weights of several checkpoints of one run.
//!
//! Vaswani et al. (2017, section 6.1) average the last 5 (base) or 20 (big) checkpoints; for
//! small G2P Transformers averaging the last epochs is a cheap gain over any single epoch.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// Collects every float parameter, in visiting order, as host `f32` values.
struct Collect(Vec<Vec<f32>>);

impl<B: Backend> ModuleVisitor<B> for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("float parameters convert to f32");
        self.0.push(values);
    }
}

/// Replaces every float parameter, in visiting order, by the given values (same shapes).
struct Replace<'a> {
    values: std::slice::Iter<'a, Vec<f32>>,
}

impl<B: Backend> ModuleMapper<B> for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let values = self.values.next().expect("same module structure");
        let device = tensor.device();
        let shape = tensor.shape();
        let averaged = Tensor::from_data(TensorData::new(values.clone(), shape), &device);
        Param::from_mapped_value(id, averaged, mapper)
    }
}

/// The element-wise mean of the float parameters of `models` (all of one architecture), in the
/// structure of the first. `None` when `models` is empty.
pub fn average<B: Backend, M: Module<B>>(models: Vec<M>) -> Option<M> {
    let count = models.len();
    let mut models = models.into_iter();
    let first = models.next()?;
    let mut sum = Collect(Vec::new());
    first.visit(&mut sum);
    for model in models {
        let mut next = Collect(Vec::new());
        model.visit(&mut next);
        assert_eq!(next.0.len(), sum.0.len(), "same module structure");
        for (total, values) in sum.0.iter_mut().zip(&next.0) {
            for (t, v) in total.iter_mut().zip(values) {
                *t += v;
            }
        }
    }
    let scale = 1.0 / count as f32;
    for values in &mut sum.0 {
        for v in values.iter_mut() {
            *v *= scale;
        }
    }
    Some(first.map(&mut Replace {
        values: sum.0.iter(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend;
    use burn::nn::{Linear, LinearConfig};

    fn weights(linear: &Linear<TestBackend>) -> Vec<f32> {
        linear.weight.val().into_data().into_vec::<f32>().unwrap()
    }

    #[test]
    fn averages_every_parameter_element_wise() {
        let device = Default::default();
        // Distinct sizes (3 -> 5) so a transposed or shuffled parameter would show.
        let models: Vec<Linear<TestBackend>> = (0..3)
            .map(|_| LinearConfig::new(3, 5).init(&device))
            .collect();
        let expected: Vec<f32> = (0..15)
            .map(|i| models.iter().map(|m| weights(m)[i]).sum::<f32>() / 3.0)
            .collect();
        let expected_bias: Vec<f32> = (0..5)
            .map(|i| {
                models
                    .iter()
                    .map(|m| {
                        m.bias
                            .as_ref()
                            .unwrap()
                            .val()
                            .into_data()
                            .into_vec::<f32>()
                            .unwrap()[i]
                    })
                    .sum::<f32>()
                    / 3.0
            })
            .collect();
        let mean = average(models).unwrap();
        assert_eq!(mean.weight.val().dims(), [3, 5]);
        for (a, b) in weights(&mean).iter().zip(&expected) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        let bias = mean
            .bias
            .unwrap()
            .val()
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        for (a, b) in bias.iter().zip(&expected_bias) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn the_average_of_one_model_is_that_model() {
        let device = Default::default();
        let model: Linear<TestBackend> = LinearConfig::new(4, 2).init(&device);
        let before = weights(&model);
        assert_eq!(weights(&average(vec![model]).unwrap()), before);
        assert!(average::<TestBackend, Linear<TestBackend>>(Vec::new()).is_none());
    }
}
