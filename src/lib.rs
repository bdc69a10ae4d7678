//! seq2seq: the Transformer encoder-decoder (Vaswani et al. 2017) on Burn 0.21, generic over the
//! backend, verified against PyTorch.

pub mod allocator;
pub mod artifact;
pub mod attention_plot;
pub mod backend;
pub mod bench;
pub mod cli_config;
pub mod config;
pub mod data;
pub mod decode;
pub mod eval;
pub mod fsutil;
pub mod infer;
pub mod lexicon;
pub mod marian;
pub mod model;
pub mod parity;
pub mod rerank;
pub mod rng;
pub mod serve;
pub mod speech;
pub mod store;
pub mod text_metrics;
pub mod train;
pub mod vision;
pub mod vocab;
