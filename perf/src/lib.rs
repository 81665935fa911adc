//! The dittofs benchmark harness: an NFSv3 and SMB2/3 load generator with build-farm
//! workloads.
//!
//! Its own async NFSv3 + MOUNT client ([`client`], [`nfs`]) reuses the server crate's
//! pure codecs, drives many connections with many requests in flight each, and works
//! against any NFSv3 server (dittofs, NFS-Ganesha, knfsd). The workloads live here
//! (not in `main.rs`) so integration tests can run them against the real server.

pub mod client;
pub mod compare;
pub mod config;
pub mod limits;
pub mod nfs;
pub mod pattern;
pub mod report;
pub mod runner;
pub mod smb;
pub mod stats;
pub mod workloads;

pub use config::{RunConfig, StableMode, Target, Workload};
pub use runner::{run, RunError, RunReport};
