//! The shards' view of the metadata stores during WAL recovery.
//!
//! The shards crate knows nothing of inodes and attributes; recovery only needs
//! to know whether a file still exists (records of removed files are dropped)
//! and to grow a file's size to the end of replayed writes (an UNSTABLE write
//! whose size update was lost in the crash). This adapter answers both from
//! the share's `MetadataStore`.

use std::collections::HashMap;
use std::sync::Arc;

use dittofs_shards::{BlockIndex, ContentError};
use futures_lite::future::BoxedLocal;

use crate::fs::Timespec;
use crate::meta::{AttrChange, MetaError, MetadataStore};

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

impl BlockIndex for MetaBlockIndex {
    fn exists(&self, share: u32, ino: u64) -> BoxedLocal<Result<bool, ContentError>> {
        let meta = self.meta(share);
        Box::pin(async move {
            match meta?.get(ino).await {
                Ok(_) => Ok(true),
                Err(MetaError::NoInode(_)) => Ok(false),
                Err(e) => Err(ContentError::Io(e.to_string())),
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
                Err(e) => Err(ContentError::Io(e.to_string())),
            }
        })
    }
}
