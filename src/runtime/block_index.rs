//! The shards' view of the metadata stores: inode existence, sizes, block maps.
//!
//! The shards crate knows nothing of inodes and attributes. Recovery needs to
//! know whether a file still exists (records of removed files are dropped)
//! and to grow a file's size to the end of replayed writes (an UNSTABLE write
//! whose size update was lost in the crash). The cache loads a file's block
//! map on first touch, records every uploaded block (generation and length;
//! the object key is `{share}/{ino}/{index}.{generation}`), and drops entries
//! past a truncation or of a removed file. This adapter answers all of it
//! from the share's `MetadataStore` (`put_block`, `blocks`, `drop_blocks`).

use std::collections::HashMap;
use std::sync::Arc;

use dittofs_shards::{BlockIndex, ContentError, ContentKey, MappedBlock};
use futures_lite::future::BoxedLocal;

use crate::fs::Timespec;
use crate::meta::{AttrChange, BlockRef, MetaError, MetadataStore};

/// Metadata stores by share id.
pub(super) struct MetaBlockIndex {
    pub(super) shares: HashMap<u32, Arc<dyn MetadataStore>>,
}

impl MetaBlockIndex {
    fn meta(&self, share: u32) -> Result<Arc<dyn MetadataStore>, ContentError> {
        self.shares
            .get(&share)
            .cloned()
            .ok_or(ContentError::UnknownShare(share))
    }
}

fn io(e: MetaError) -> ContentError {
    ContentError::Io(e.to_string())
}

fn mapped(block: &BlockRef) -> MappedBlock {
    MappedBlock {
        generation: block.generation,
        len: block.len,
    }
}

impl BlockIndex for MetaBlockIndex {
    fn exists(&self, share: u32, ino: u64) -> BoxedLocal<Result<bool, ContentError>> {
        let meta = self.meta(share);
        Box::pin(async move {
            match meta?.get(ino).await {
                Ok(_) => Ok(true),
                Err(MetaError::NoInode(_)) => Ok(false),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn grow_size(&self, share: u32, ino: u64, size: u64) -> BoxedLocal<Result<(), ContentError>> {
        let meta = self.meta(share);
        Box::pin(async move {
            let change = AttrChange {
                grow_to: Some(size),
                ..AttrChange::default()
            };
            match meta?.set_attr(ino, &change, Timespec::now()).await {
                Ok(_) | Err(MetaError::NoInode(_)) => Ok(()),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn load(
        &self,
        share: u32,
        ino: u64,
    ) -> BoxedLocal<Result<Vec<(u64, MappedBlock)>, ContentError>> {
        let meta = self.meta(share);
        Box::pin(async move {
            match meta?.blocks(ino).await {
                Ok(map) => Ok(map.iter().map(|(i, b)| (*i, mapped(b))).collect()),
                Err(MetaError::NoInode(_)) => Ok(Vec::new()),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn record(
        &self,
        share: u32,
        ino: u64,
        index: u64,
        block: MappedBlock,
    ) -> BoxedLocal<Result<(), ContentError>> {
        let meta = self.meta(share);
        Box::pin(async move {
            let entry = BlockRef {
                key: ContentKey { share, ino }.object_key(index, block.generation),
                len: block.len,
                generation: block.generation,
            };
            match meta?.put_block(ino, index, entry).await {
                // Removed meanwhile: the object is an orphan the sweep deletes.
                Ok(_) | Err(MetaError::NoInode(_)) => Ok(()),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn drop_from(
        &self,
        share: u32,
        ino: u64,
        from: u64,
    ) -> BoxedLocal<Result<Vec<(u64, MappedBlock)>, ContentError>> {
        let meta = self.meta(share);
        Box::pin(async move {
            match meta?.drop_blocks(ino, from).await {
                Ok(dropped) => Ok(dropped.iter().map(|(i, b)| (*i, mapped(b))).collect()),
                Err(MetaError::NoInode(_)) => Ok(Vec::new()),
                Err(e) => Err(io(e)),
            }
        })
    }
}
