//! The model's parameters and gradients as one flat vector, the form in which a node sends
//! them through one all-reduce, and a hash of the weights to check that the nodes agree.

use super::session::Inner;
use crate::train::Seq2SeqTrainer;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// The model's float parameters in visiting order, as one flat vector.
struct Flatten<B: AutodiffBackend> {
    pub(super) parts: Vec<Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.parts.push(value.reshape([n]));
    }
}

pub(super) fn flatten<B: AutodiffBackend>(model: &Seq2SeqTrainer<B>) -> Tensor<Inner<B>, 1> {
    let mut v = Flatten::<B> { parts: Vec::new() };
    model.visit(&mut v);
    Tensor::cat(v.parts, 0)
}

/// Replaces the parameters by consecutive slices of `flat` (the inverse of [`flatten`]).
pub(super) struct Unflatten<B: AutodiffBackend> {
    pub(super) flat: Tensor<Inner<B>, 1>,
    pub(super) offset: usize,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Unflatten<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let value = self
            .flat
            .clone()
            .slice(self.offset..self.offset + n)
            .reshape(shape);
        self.offset += n;
        let mut value = Tensor::<B, D>::from_inner(value);
        if tensor.is_require_grad() {
            value = value.require_grad();
        }
        Param::from_mapped_value(id, value, mapper)
    }
}

/// Moves each parameter's gradient into a flat vector (zeros where a parameter got none).
pub(super) struct TakeGrads<'a, B: AutodiffBackend> {
    pub(super) grads: &'a mut burn::optim::GradientsParams,
    pub(super) parts: Vec<Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for TakeGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        let grad = self
            .grads
            .remove::<Inner<B>, D>(param.id)
            .map(|g| g.reshape([n]))
            .unwrap_or_else(|| Tensor::zeros([n], &value.device()));
        self.parts.push(grad);
    }
}

/// Registers consecutive slices of `flat` as the parameters' gradients.
pub(super) struct PutGrads<'a, B: AutodiffBackend> {
    pub(super) grads: &'a mut burn::optim::GradientsParams,
    pub(super) flat: Tensor<Inner<B>, 1>,
    pub(super) offset: usize,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for PutGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let shape = param.val().shape();
        let n = shape.num_elements();
        let grad = self
            .flat
            .clone()
            .slice(self.offset..self.offset + n)
            .reshape(shape);
        self.offset += n;
        self.grads.register::<Inner<B>, D>(param.id, grad);
    }
}

/// FNV-1a over the bits of every parameter: equal weights, equal hash.
pub(super) fn weights_hash<B: AutodiffBackend>(model: &Seq2SeqTrainer<B>) -> u64 {
    let values = flatten(model)
        .into_data()
        .to_vec::<f32>()
        .expect("f32 weights");
    values.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        v.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
    })
}

/// A 64-bit value as eight 8-bit pieces: a sum over up to 65,536 nodes stays below 2^24, so
/// it is exact in f32.
pub(super) fn pieces(x: u64) -> Vec<f32> {
    (0..8).map(|i| ((x >> (8 * i)) & 0xff) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_split_into_pieces_that_sum_exactly_in_f32() {
        let x = 0xfedc_ba98_7654_3210u64;
        let p = pieces(x);
        let back = p
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, v)| acc | ((*v as u64) << (8 * i)));
        assert_eq!(back, x);
        // The largest group --nodes allows (1,024) sums each piece exactly: below 2^24.
        assert!(p.iter().all(|v| *v * 1024.0 < 16_777_216.0));
        let all_ones = pieces(u64::MAX);
        assert!(all_ones.iter().all(|v| *v == 255.0));
    }
}
