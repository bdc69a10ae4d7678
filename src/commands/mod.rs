//! The subcommands whose code is more than argument plumbing, one file each.

pub mod bench;
