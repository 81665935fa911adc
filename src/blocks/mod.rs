//! Block stores: where sealed content blocks live (memory, a local directory, an
//! S3 bucket), plus a fault-injecting wrapper for tests.
//!
//! The trait is defined next to its only caller, the shards crate, and re-exported here.

pub mod faulty;
pub mod fs;
mod fs_direct;
pub mod s3;
pub mod s3_retry;

pub use dittofs_shards::{BlockStore, BlockStoreError, MemoryBlockStore};
pub use faulty::{FaultHandle, FaultMode, FaultyBlockStore};
pub use fs::FsBlockStore;
pub use s3::S3BlockStore;
