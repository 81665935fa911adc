//! The `dittofs` command line.

fn main() {}
