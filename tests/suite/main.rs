//! Most integration tests, as one test binary: each file under `tests/` is its own crate that
//! links the library and compiles its own copy of every generic it uses (the model, the
//! learner, the backends: nothing is shared between crates in a release build), so fifteen
//! files cost fifteen such builds; as modules of one crate they cost one.
//!
//! Three stay apart, each its own binary: `training.rs` and `collective.rs` compare runs bit for
//! bit, and a backend's random number generator is global to its process, so a test drawing
//! from it in another thread would change their weights; `backends.rs` is what CI builds again
//! with `--features wgpu`.
//!
//! Run one file's tests with a filter: `cargo test --release --test suite marian::`.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod decoding;
mod distill;
mod ensemble;
mod fuzz_properties;
mod kill;
mod marian;
mod model_invariants;
mod nonautoregressive;
mod pytorch_parity;
mod rerank;
mod serve;
mod speech;
mod token_distill;
mod translation;
mod vision;
mod whisper_transformers;
