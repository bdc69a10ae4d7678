//! The subcommands whose code is more than argument plumbing, one file each.

pub mod bench;
pub mod infer;
