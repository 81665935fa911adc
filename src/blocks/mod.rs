//! Block stores: where sealed content blocks live (memory and a local directory
//! today; S3 later).
//!
//! The trait is defined next to its only caller, the shards crate, and re-exported here.

pub mod fs;

pub use dittofs_shards::{BlockStore, BlockStoreError, MemoryBlockStore};
pub use fs::FsBlockStore;
