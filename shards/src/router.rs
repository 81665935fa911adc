//! Routes content operations to the owner shard of a file.

use bytes::Bytes;

use crate::shard::{ContentError, ContentKey};

/// This core's handle on all content shards.
pub struct Router {}

#[allow(unused_variables, clippy::todo)]
impl Router {
    /// Reads exactly `len` bytes at `offset` (holes and data past the end read as zeros;
    /// the caller clamps to the file size).
    pub async fn read(
        &self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ContentError> {
        todo!()
    }

    /// Writes `data` at `offset`.
    pub async fn write(
        &self,
        key: ContentKey,
        offset: u64,
        data: Bytes,
    ) -> Result<(), ContentError> {
        todo!()
    }

    /// Cuts or extends (with zeros) the content to `size` bytes.
    pub async fn truncate(&self, key: ContentKey, size: u64) -> Result<(), ContentError> {
        todo!()
    }

    /// Makes all content written to `key` stable.
    pub async fn flush(&self, key: ContentKey) -> Result<(), ContentError> {
        todo!()
    }

    /// Drops all content of `key` (its last link is gone).
    pub async fn remove(&self, key: ContentKey) -> Result<(), ContentError> {
        todo!()
    }
}

#[allow(unused_variables, clippy::todo)]
impl Router {
    /// A router with a single shard living on the calling thread, serving the given
    /// block stores by share id. Needs no executor mesh; used by tests and `--cores 1`.
    pub fn local(block_stores: Vec<(u32, std::sync::Arc<dyn crate::BlockStore>)>) -> Router {
        todo!()
    }
}
