//! Positional information added to the token embeddings (section 3.5).

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How positions are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Positional {
    /// The paper's fixed sinusoids: `PE(pos, 2i) = sin(pos / 10000^(2i/d))`,
    /// `PE(pos, 2i+1) = cos(pos / 10000^(2i/d))`.
    #[default]
    Sinusoidal,
    /// The same sinusoids laid out in two halves, `[sin(pos / 10000^(2i/d)) for i < d/2 |
    /// cos(...) for the same i]`: Hugging Face's Marian (opus-mt) layout, needed to run
    /// imported Marian models (`crate::marian`). Not interleaved, so not the paper's table.
    #[serde(rename = "sinusoidal_halves")]
    SinusoidalHalves,
    /// A learned embedding per position (the paper's section 3.5 alternative, "nearly identical
    /// results").
    Learned,
}

/// Configuration of [`PositionalEncoding`].
#[derive(Config, Debug)]
pub struct PositionalEncodingConfig {
    pub d_model: usize,
    /// Longest sequence the model accepts.
    pub max_len: usize,
    #[config(default = "Positional::Sinusoidal")]
    pub kind: Positional,
}

/// The position vectors themselves, one variant per [`Positional`] kind.
#[derive(Module, Debug)]
pub enum PositionTable<B: Backend> {
    /// `[max_len, d_model]`, computed once at `init` and kept as a constant (not a parameter:
    /// it is not saved and gets no gradient); either layout of [`Positional`].
    Sinusoidal(Tensor<B, 2>),
    /// One learned vector per position (saved as `pos_embed.weight`, see `crate::store`).
    Learned(Embedding<B>),
}

/// Adds position vectors to embeddings.
#[derive(Module, Debug)]
pub struct PositionalEncoding<B: Backend> {
    pub table: PositionTable<B>,
    max_len: usize,
}

/// The sinusoid table, `[max_len, d_model]`, row-major.
pub fn sinusoid_table(max_len: usize, d_model: usize) -> Vec<f32> {
    let mut table = vec![0.0f32; max_len * d_model];
    for pos in 0..max_len {
        for i in (0..d_model).step_by(2) {
            // Computed in f64 then rounded, like PyTorch's reference which uses exp/log in f32;
            // the two agree to ~1e-7 for the lengths used here.
            let angle = pos as f64 / 10000f64.powf(i as f64 / d_model as f64);
            table[pos * d_model + i] = angle.sin() as f32;
            if i + 1 < d_model {
                table[pos * d_model + i + 1] = angle.cos() as f32;
            }
        }
    }
    table
}

/// The sinusoid table in halves, `[max_len, d_model]`: column `i < ceil(d/2)` holds
/// `sin(pos / 10000^(2i/d))`, column `ceil(d/2) + i` the cosine at that frequency, exactly as
/// transformers' `MarianSinusoidalPositionalEmbedding` computes it (f64, then rounded).
pub fn sinusoid_halves_table(max_len: usize, d_model: usize) -> Vec<f32> {
    let half = d_model.div_ceil(2);
    let mut table = vec![0.0f32; max_len * d_model];
    for pos in 0..max_len {
        for j in 0..d_model {
            // Column j of the interleaved angles, 2 * (j / 2) / d, then sines of the even
            // columns first and cosines of the odd ones after them.
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / d_model as f64);
            let (column, value) = if j % 2 == 0 {
                (j / 2, angle.sin())
            } else {
                (half + j / 2, angle.cos())
            };
            table[pos * d_model + column] = value as f32;
        }
    }
    table
}

impl PositionalEncodingConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> PositionalEncoding<B> {
        let table = match self.kind {
            Positional::Sinusoidal | Positional::SinusoidalHalves => {
                let values = if self.kind == Positional::Sinusoidal {
                    sinusoid_table(self.max_len, self.d_model)
                } else {
                    sinusoid_halves_table(self.max_len, self.d_model)
                };
                let data = TensorData::new(values, [self.max_len, self.d_model]);
                PositionTable::Sinusoidal(Tensor::from_data(data, device))
            }
            Positional::Learned => PositionTable::Learned(
                EmbeddingConfig::new(self.max_len, self.d_model).init(device),
            ),
        };
        PositionalEncoding {
            table,
            max_len: self.max_len,
        }
    }
}

impl<B: Backend> PositionalEncoding<B> {
    /// Longest sequence this encoding covers.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Add the encodings of positions `offset..offset + len` to `x` (an offset > 0 is used by
    /// step-by-step decoding).
    ///
    /// # Shapes
    /// - `x`: `[batch, len, d_model]`
    /// - output: `[batch, len, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>, offset: usize) -> Tensor<B, 3> {
        let [batch, len, d_model] = x.dims();
        assert!(
            offset + len <= self.max_len,
            "sequence of {} positions exceeds max_len {}",
            offset + len,
            self.max_len
        );
        let positions = match &self.table {
            PositionTable::Sinusoidal(table) => table.clone().narrow(0, offset, len),
            PositionTable::Learned(embedding) => {
                let ids =
                    Tensor::<B, 1, Int>::arange(offset as i64..(offset + len) as i64, &x.device());
                embedding
                    .forward(ids.reshape([1, len]))
                    .reshape([len, d_model])
            }
        };
        x + positions
            .reshape([1, len, d_model])
            .expand([batch, len, d_model])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_follow_the_paper() {
        let d = 6;
        let table = sinusoid_table(4, d);
        // position 0: sin(0) = 0 on even dims, cos(0) = 1 on odd dims
        assert_eq!(&table[0..6], &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        // position 3, dims 2 and 3: angle = 3 / 10000^(2/6)
        let angle = 3.0f64 / 10000f64.powf(2.0 / 6.0);
        assert!((table[3 * d + 2] as f64 - angle.sin()).abs() < 1e-6);
        assert!((table[3 * d + 3] as f64 - angle.cos()).abs() < 1e-6);
    }

    #[test]
    fn halves_hold_the_same_sinusoids_sines_first() {
        let (d, len) = (6, 5);
        let paper = sinusoid_table(len, d);
        let halves = sinusoid_halves_table(len, d);
        for pos in 0..len {
            for i in 0..d / 2 {
                assert_eq!(halves[pos * d + i], paper[pos * d + 2 * i], "sin {pos} {i}");
                assert_eq!(
                    halves[pos * d + d / 2 + i],
                    paper[pos * d + 2 * i + 1],
                    "cos {pos} {i}"
                );
            }
        }
        // An odd width: 3 sines, 2 cosines (transformers' sentinel rule).
        let odd = sinusoid_halves_table(2, 5);
        let angle = 1.0f64 / 10000f64.powf(4.0 / 5.0);
        assert_eq!(odd[5 + 2], angle.sin() as f32);
        assert_eq!(odd[5 + 3], 1f64.cos() as f32);
    }
}
