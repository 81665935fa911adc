//! The block store interface: where sealed blocks of file content live.
//!
//! A block store is a flat key → object map (memory, a local directory, an S3
//! bucket). Objects are written whole and read by range.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

/// Error of a block store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockStoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("block store is full")]
    NoSpace,
    #[error("block store I/O error: {0}")]
    Io(String),
    /// The store refused our credentials (HTTP 401/403); retrying cannot help.
    #[error("block store access denied: {0}")]
    Denied(String),
}

/// A store of immutable objects addressed by key.
pub trait BlockStore: Send + Sync {
    /// Stores `data` under `key`, replacing an earlier object.
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError>;
    /// Reads `len` bytes at `offset` of object `key` (fewer at the object's end).
    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError>;
    /// Deletes `key`; deleting a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), BlockStoreError>;
    /// Keys that start with `prefix`.
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError>;
}

/// Block store in process memory; content is lost at exit.
#[derive(Default)]
pub struct MemoryBlockStore {
    objects: Mutex<BTreeMap<String, Bytes>>,
}

impl MemoryBlockStore {
    /// An empty store.
    pub fn new() -> MemoryBlockStore {
        MemoryBlockStore::default()
    }
}

impl BlockStore for MemoryBlockStore {
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError> {
        self.objects.lock().unwrap().insert(key.to_owned(), data);
        Ok(())
    }

    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        let objects = self.objects.lock().unwrap();
        let object = objects
            .get(key)
            .ok_or_else(|| BlockStoreError::NotFound(key.to_owned()))?;
        let object_len = object.len() as u64;
        let start = offset.min(object_len);
        let end = offset.saturating_add(len).min(object_len);
        // Both bounds are at most object.len(), which is a usize.
        Ok(object.slice(start as usize..end as usize))
    }

    fn delete(&self, key: &str) -> Result<(), BlockStoreError> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        let objects = self.objects.lock().unwrap();
        let mut keys: Vec<String> = objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        Ok(keys)
    }
}
