//! Autoregressive decoding: start from BEGIN, pick the next token, feed it back, stop at END.
//! Greedy and beam search share the model's `decode` (the same code as training) and its
//! explicit KV cache.

pub mod beam;
pub mod greedy;

pub use beam::{beam, beam_search, BeamConfig, Scorer};
pub use greedy::{greedy, Hypothesis};
