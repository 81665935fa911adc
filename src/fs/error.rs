//! The one error type of the file-system core.
//!
//! Every failure of an `fs` operation is one of these variants; the NFS, SMB and
//! errno mappings below are exhaustive `match`es, so adding a variant forces
//! every protocol to decide what it means.

/// Error of a file-system core operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("operation not permitted")]
    NotPermitted,
    #[error("no such file or directory")]
    NotFound,
    #[error("I/O error: {0}")]
    Io(String),
    #[error("permission denied")]
    AccessDenied,
    #[error("file exists")]
    Exists,
    #[error("cross-device link")]
    CrossDevice,
    #[error("not a directory")]
    NotDirectory,
    #[error("is a directory")]
    IsDirectory,
    #[error("invalid argument")]
    InvalidArgument,
    #[error("file too large")]
    FileTooLarge,
    #[error("no space left on device")]
    NoSpace,
    #[error("read-only file system")]
    ReadOnly,
    #[error("too many links")]
    TooManyLinks,
    #[error("name too long")]
    NameTooLong,
    #[error("directory not empty")]
    NotEmpty,
    #[error("disk quota exceeded")]
    QuotaExceeded,
    #[error("stale file handle")]
    Stale,
    #[error("bad file handle")]
    BadHandle,
    #[error("READDIR cookie is no longer valid")]
    BadCookie,
    #[error("operation not supported")]
    NotSupported,
    #[error("object is too small for the reply")]
    TooSmall,
    #[error("server fault: {0}")]
    ServerFault(String),
    #[error("wrong type of special file")]
    BadType,
    #[error("temporarily unavailable, retry later")]
    Retry,
    #[error("the SETATTR guard did not match")]
    NotSync,
}

impl FsError {
    /// The errno a POSIX caller would see for this error.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotPermitted => libc::EPERM,
            FsError::NotFound => libc::ENOENT,
            FsError::Io(_) => libc::EIO,
            FsError::AccessDenied => libc::EACCES,
            FsError::Exists => libc::EEXIST,
            FsError::CrossDevice => libc::EXDEV,
            FsError::NotDirectory => libc::ENOTDIR,
            FsError::IsDirectory => libc::EISDIR,
            FsError::InvalidArgument => libc::EINVAL,
            FsError::FileTooLarge => libc::EFBIG,
            FsError::NoSpace => libc::ENOSPC,
            FsError::ReadOnly => libc::EROFS,
            FsError::TooManyLinks => libc::EMLINK,
            FsError::NameTooLong => libc::ENAMETOOLONG,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::QuotaExceeded => libc::EDQUOT,
            FsError::Stale => libc::ESTALE,
            FsError::BadHandle => libc::EBADF,
            FsError::BadCookie => libc::EINVAL,
            FsError::NotSupported => libc::EOPNOTSUPP,
            FsError::TooSmall => libc::EINVAL,
            FsError::ServerFault(_) => libc::EIO,
            FsError::BadType => libc::EINVAL,
            FsError::Retry => libc::EAGAIN,
            FsError::NotSync => libc::EINVAL,
        }
    }
}

/// Result of a file-system core operation.
pub type FsResult<T> = Result<T, FsError>;
