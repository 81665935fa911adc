//! FsError → NTSTATUS, in one exhaustive match so a new core error cannot reach
//! an SMB client unmapped.

use dittofs_smb_wire::status::*;

use crate::fs::FsError;

/// The NTSTATUS an SMB reply carries for a core error.
pub fn to_ntstatus(e: &FsError) -> u32 {
    match e {
        FsError::NotPermitted => STATUS_ACCESS_DENIED,
        FsError::NotFound => STATUS_OBJECT_NAME_NOT_FOUND,
        FsError::Io(_) => STATUS_UNSUCCESSFUL,
        FsError::AccessDenied => STATUS_ACCESS_DENIED,
        FsError::Exists => STATUS_OBJECT_NAME_COLLISION,
        FsError::CrossDevice => STATUS_NOT_SUPPORTED,
        FsError::NotDirectory => STATUS_NOT_A_DIRECTORY,
        FsError::IsDirectory => STATUS_FILE_IS_A_DIRECTORY,
        FsError::InvalidArgument => STATUS_INVALID_PARAMETER,
        FsError::FileTooLarge => STATUS_DISK_FULL,
        FsError::NoSpace => STATUS_DISK_FULL,
        FsError::ReadOnly => STATUS_MEDIA_WRITE_PROTECTED,
        FsError::TooManyLinks => STATUS_INSUFFICIENT_RESOURCES,
        FsError::NameTooLong => STATUS_NAME_TOO_LONG,
        FsError::NotEmpty => STATUS_DIRECTORY_NOT_EMPTY,
        FsError::QuotaExceeded => STATUS_DISK_FULL,
        FsError::Stale => STATUS_FILE_CLOSED,
        FsError::BadHandle => STATUS_INVALID_HANDLE,
        FsError::BadCookie => STATUS_INVALID_PARAMETER,
        FsError::NotSupported => STATUS_NOT_SUPPORTED,
        FsError::TooSmall => STATUS_BUFFER_TOO_SMALL,
        FsError::ServerFault(_) => STATUS_INTERNAL_ERROR,
        FsError::BadType => STATUS_INVALID_PARAMETER,
        FsError::Retry => STATUS_INSUFFICIENT_RESOURCES,
        FsError::NotSync => STATUS_INVALID_PARAMETER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errors_map_to_what_windows_clients_expect() {
        assert_eq!(
            to_ntstatus(&FsError::NotFound),
            STATUS_OBJECT_NAME_NOT_FOUND
        );
        assert_eq!(to_ntstatus(&FsError::Exists), STATUS_OBJECT_NAME_COLLISION);
        assert_eq!(to_ntstatus(&FsError::NotEmpty), STATUS_DIRECTORY_NOT_EMPTY);
        assert_eq!(to_ntstatus(&FsError::AccessDenied), STATUS_ACCESS_DENIED);
        assert_eq!(
            to_ntstatus(&FsError::ReadOnly),
            STATUS_MEDIA_WRITE_PROTECTED
        );
    }
}
