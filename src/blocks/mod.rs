//! Block stores: where sealed content blocks live (memory today; local files and S3 later).
//!
//! The trait is defined next to its only caller, the shards crate, and re-exported here.

pub use dittofs_shards::{BlockStore, BlockStoreError, MemoryBlockStore};
