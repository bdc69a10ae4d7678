//! Autoregressive decoding: start from BEGIN, pick the next token, feed it back, stop at END.

pub mod greedy;

pub use greedy::greedy;
