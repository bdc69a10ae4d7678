//! seq2seq: the Transformer encoder-decoder (Vaswani et al. 2017) on Burn 0.21, generic over the
//! backend, verified against PyTorch.

pub mod backend;
pub mod fsutil;
pub mod model;
pub mod store;
pub mod vocab;
