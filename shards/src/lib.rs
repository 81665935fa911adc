//! Per-core content shards.
//!
//! Every file's content has exactly one owner shard, `hash(file id) % cores`, so
//! the cache of a shard needs no lock: only its own core touches it. A core that
//! serves a request for a file owned elsewhere forwards the operation over the
//! glommio channel mesh and awaits the reply; payloads travel as `Bytes`, never
//! copied.

pub mod block_store;
mod cache;
pub mod router;
pub mod shard;
pub mod stats;
pub mod uploader;
pub mod wal;

pub use block_store::{BlockStore, BlockStoreError, MemoryBlockStore};
pub use router::{owner_of, shard_mesh, Router, ShardMesh, ShardRequest, BLOCK_BYTES_DEFAULT};
pub use shard::{BlockIndex, ContentError, ContentKey, RecoveryReport, Shard, FILE_BYTES_MAX};
pub use uploader::Uploader;
pub use wal::{Wal, WalError, WalOptions};
