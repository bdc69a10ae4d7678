//! seq2seq: the Transformer encoder-decoder (Vaswani et al. 2017) on Burn 0.21, generic over the
//! backend, verified against PyTorch.

pub mod backend;
pub mod fsutil;
pub mod model;
pub mod store;
pub mod vocab;
pub mod data;
pub mod decode;
pub mod config;
pub mod train;
pub mod artifact;
pub mod cli_config;
