//! Metadata stores: inodes, directory entries and shares behind one trait.
//!
//! The file-system core is written against [`MetadataStore`]; the in-memory store
//! lives here and LMDB / PostgreSQL stores plug in without touching `fs` or `nfs`.

/// A store of inodes, directory entries and share roots. (Methods are defined by the
/// memory-store work; see ARCHITECTURE.md.)
pub trait MetadataStore: Send + Sync {}
