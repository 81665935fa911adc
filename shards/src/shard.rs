//! One core's content shard.

/// Which file's content: share id and inode id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentKey {
    pub share: u32,
    pub ino: u64,
}

/// Error of a content operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("no space for file content")]
    NoSpace,
    #[error("content I/O error: {0}")]
    Io(String),
    #[error("file too large")]
    TooLarge,
}
