//! dittofs: a userspace NFSv3 and SMB2/3 file server, thread-per-core on io_uring.
//!
//! `main.rs` is only the command line; everything else is reachable from here so
//! integration tests and the perf harness can use the same code.

pub mod api;
pub mod blocks;
pub mod config;
pub mod fs;
pub mod identity;
pub mod logging;
pub mod meta;
pub mod metrics;
pub mod nfs;
pub mod rpc;
pub mod runtime;
pub mod shares;
pub mod smb;
