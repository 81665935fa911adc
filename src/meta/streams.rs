//! Named streams (SMB alternate data streams, `file:name:$DATA`) in the
//! metadata stores.
//!
//! Why this shape: a stream is a *hidden regular inode* — an inode id from the
//! store's normal sequence, `nlink` 1, no directory entry — so its content goes
//! through the shard/WAL/block path under its own id and is exactly as durable
//! as file data, and its attributes (size, times) are kept by the normal
//! `get`/`set_attr`. What makes it a stream is one row of a per-store table:
//!
//! `(base ino, key) → (name, stream ino)`
//!
//! where `key` is the case-folded name chosen by the caller (`fs::streams`) and
//! `name` the spelling it was created with. The table is keyed by the base's
//! inode, so renames and hard links of the base keep its streams; nothing in
//! the namespace (NFS, directory listings) ever names a stream inode.
//!
//! Removing the base does not remove its streams inside the same transaction:
//! the file-system core calls [`super::MetadataStore::drop_streams`] right
//! after the base's last link went (where it drops the base's content), and
//! drops each stream's content. A crash in between leaves rows of a base that
//! no longer exists; inode ids are never reused, so they are unreachable and
//! only cost space (fsck counts stream rows as the stream inode's link).

use crate::fs::Attr;

/// One named stream of an inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// The key it is found by (the case-folded name).
    pub key: Vec<u8>,
    /// The stream's name as created (without `:` and `:$DATA`).
    pub name: Vec<u8>,
    /// The stream inode's attributes (its size is the stream's size).
    pub attr: Attr,
}

/// Result of [`super::MetadataStore::create_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCreated {
    pub stream: StreamRecord,
    /// True when a stream with that key existed; nothing changed then.
    pub existed: bool,
}

/// Checks a stream key or name: non-empty, no NUL, `/`, `\` or `:`.
pub fn check_stream_name(name: &[u8]) -> super::MetaResult<()> {
    if name.is_empty() || name.iter().any(|b| matches!(b, 0 | b'/' | b'\\' | b':')) {
        return Err(super::MetaError::InvalidArgument);
    }
    Ok(())
}
