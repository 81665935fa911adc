//! The fixed label tables: protocols, their operation names, status names.
//!
//! Operations are indexed by their wire number (NFS procedure, MOUNT
//! procedure, SMB2 command), so recording needs no lookup. Statuses share
//! one table across protocols; index 0 is success.

use serde::Serialize;

/// A protocol whose requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    Nfs,
    Mount,
    /// Hook for the SMB adapter: record with the SMB2 command number.
    Smb,
}

/// NFSv3 procedure names by number (RFC 1813).
pub const NFS_OPS: &[&str] = &[
    "NULL",
    "GETATTR",
    "SETATTR",
    "LOOKUP",
    "ACCESS",
    "READLINK",
    "READ",
    "WRITE",
    "CREATE",
    "MKDIR",
    "SYMLINK",
    "MKNOD",
    "REMOVE",
    "RMDIR",
    "RENAME",
    "LINK",
    "READDIR",
    "READDIRPLUS",
    "FSSTAT",
    "FSINFO",
    "PATHCONF",
    "COMMIT",
];

/// MOUNT v3 procedure names by number.
pub const MOUNT_OPS: &[&str] = &["NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"];

/// SMB2 command names by command code (MS-SMB2 2.2.1).
pub const SMB_OPS: &[&str] = &[
    "NEGOTIATE",
    "SESSION_SETUP",
    "LOGOFF",
    "TREE_CONNECT",
    "TREE_DISCONNECT",
    "CREATE",
    "CLOSE",
    "FLUSH",
    "READ",
    "WRITE",
    "LOCK",
    "IOCTL",
    "CANCEL",
    "ECHO",
    "QUERY_DIRECTORY",
    "CHANGE_NOTIFY",
    "QUERY_INFO",
    "SET_INFO",
    "OPLOCK_BREAK",
];

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Nfs, Protocol::Mount, Protocol::Smb];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The `protocol` label.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Nfs => "nfs",
            Protocol::Mount => "mount",
            Protocol::Smb => "smb",
        }
    }

    /// Operation names by number.
    pub fn ops(self) -> &'static [&'static str] {
        match self {
            Protocol::Nfs => NFS_OPS,
            Protocol::Mount => MOUNT_OPS,
            Protocol::Smb => SMB_OPS,
        }
    }
}

/// `status` label values; index 0 is success (never exported as an error),
/// the last is the catch-all.
pub const STATUS_NAMES: &[&str] = &[
    "OK",
    "PERM",
    "NOENT",
    "IO",
    "NXIO",
    "ACCES",
    "EXIST",
    "XDEV",
    "NODEV",
    "NOTDIR",
    "ISDIR",
    "INVAL",
    "FBIG",
    "NOSPC",
    "ROFS",
    "MLINK",
    "NAMETOOLONG",
    "NOTEMPTY",
    "DQUOT",
    "STALE",
    "REMOTE",
    "BADHANDLE",
    "NOT_SYNC",
    "BAD_COOKIE",
    "NOTSUPP",
    "TOOSMALL",
    "SERVERFAULT",
    "BADTYPE",
    "JUKEBOX",
    "GARBAGE_ARGS",
    "PROC_UNAVAIL",
    // SMB: the NTSTATUS names of SMB_STATUSES, same order.
    "STATUS_ACCESS_DENIED",
    "STATUS_OBJECT_NAME_NOT_FOUND",
    "STATUS_OBJECT_PATH_NOT_FOUND",
    "STATUS_OBJECT_NAME_COLLISION",
    "STATUS_OBJECT_NAME_INVALID",
    "STATUS_LOGON_FAILURE",
    "STATUS_BAD_NETWORK_NAME",
    "STATUS_NETWORK_NAME_DELETED",
    "STATUS_USER_SESSION_DELETED",
    "STATUS_FILE_CLOSED",
    "STATUS_INVALID_PARAMETER",
    "STATUS_INVALID_HANDLE",
    "STATUS_NOT_SUPPORTED",
    "STATUS_END_OF_FILE",
    "STATUS_DIRECTORY_NOT_EMPTY",
    "STATUS_NOT_A_DIRECTORY",
    "STATUS_FILE_IS_A_DIRECTORY",
    "STATUS_SHARING_VIOLATION",
    "STATUS_DELETE_PENDING",
    "STATUS_DISK_FULL",
    "STATUS_MEDIA_WRITE_PROTECTED",
    "STATUS_NAME_TOO_LONG",
    "STATUS_INTERNAL_ERROR",
    "STATUS_INVALID_DEVICE_REQUEST",
    "STATUS_INFO_LENGTH_MISMATCH",
    "STATUS_INVALID_INFO_CLASS",
    "STATUS_CANCELLED",
    "OTHER",
];

/// NTSTATUS codes with a name of their own in [`STATUS_NAMES`] (from index
/// [`SMB_STATUS_FIRST`] on, same order).
const SMB_STATUSES: &[u32] = &[
    0xC000_0022,
    0xC000_0034,
    0xC000_003A,
    0xC000_0035,
    0xC000_0033,
    0xC000_006D,
    0xC000_00CC,
    0xC000_00C9,
    0xC000_0203,
    0xC000_0128,
    0xC000_000D,
    0xC000_0008,
    0xC000_00BB,
    0xC000_0011,
    0xC000_0101,
    0xC000_0103,
    0xC000_00BA,
    0xC000_0043,
    0xC000_0056,
    0xC000_007F,
    0xC000_00A2,
    0xC000_0106,
    0xC000_00E5,
    0xC000_0010,
    0xC000_0004,
    0xC000_0003,
    0xC000_0120,
];

/// Index in [`STATUS_NAMES`] of the first SMB status.
const SMB_STATUS_FIRST: usize = 31;

/// Index in [`STATUS_NAMES`] of an NTSTATUS: 0 for success and for the
/// warning and informational codes that carry a normal answer
/// (MORE_PROCESSING_REQUIRED, BUFFER_OVERFLOW, NO_MORE_FILES); error codes
/// (severity 3) without a name of their own are "OTHER".
pub fn smb_status_index(status: u32) -> usize {
    // MORE_PROCESSING_REQUIRED has error severity but is SESSION_SETUP's
    // normal intermediate answer.
    const MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
    if status >> 30 != 3 || status == MORE_PROCESSING_REQUIRED {
        return 0;
    }
    SMB_STATUSES
        .iter()
        .position(|&c| c == status)
        .map_or(STATUS_NAMES.len() - 1, |i| SMB_STATUS_FIRST + i)
}

/// Index in [`STATUS_NAMES`] of an `nfsstat3` (also MOUNT's `mountstat3`,
/// whose codes are the same numbers). Unknown codes map to "OTHER".
pub fn nfs_status_index(code: u32) -> usize {
    const CODES: &[u32] = &[
        0, 1, 2, 5, 6, 13, 17, 18, 19, 20, 21, 22, 27, 28, 30, 31, 63, 66, 69, 70, 71, 10001,
        10002, 10003, 10004, 10005, 10006, 10007, 10008,
    ];
    CODES
        .iter()
        .position(|&c| c == code)
        .unwrap_or(STATUS_NAMES.len() - 1)
}

/// Status index of an RPC-level GARBAGE_ARGS reply.
pub const STATUS_GARBAGE_ARGS: usize = 29;
/// Status index of an RPC-level PROC_UNAVAIL reply.
pub const STATUS_PROC_UNAVAIL: usize = 30;

/// The label of status index `i`.
pub fn status_name(i: usize) -> &'static str {
    STATUS_NAMES.get(i).copied().unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfs_codes_map_to_their_names() {
        assert_eq!(status_name(nfs_status_index(0)), "OK");
        assert_eq!(status_name(nfs_status_index(2)), "NOENT");
        assert_eq!(status_name(nfs_status_index(70)), "STALE");
        assert_eq!(status_name(nfs_status_index(10008)), "JUKEBOX");
        assert_eq!(status_name(nfs_status_index(12345)), "OTHER");
        assert_eq!(STATUS_NAMES[STATUS_GARBAGE_ARGS], "GARBAGE_ARGS");
        assert_eq!(STATUS_NAMES[STATUS_PROC_UNAVAIL], "PROC_UNAVAIL");
    }

    #[test]
    fn smb_codes_map_to_their_names() {
        use dittofs_smb_wire::status::*;
        assert_eq!(
            SMB_STATUSES.len() + SMB_STATUS_FIRST + 1,
            STATUS_NAMES.len()
        );
        for (code, name) in [
            (STATUS_SUCCESS, "OK"),
            (STATUS_MORE_PROCESSING_REQUIRED, "OK"),
            (STATUS_NO_MORE_FILES, "OK"),
            (STATUS_BUFFER_OVERFLOW, "OK"),
            (STATUS_ACCESS_DENIED, "STATUS_ACCESS_DENIED"),
            (STATUS_OBJECT_NAME_NOT_FOUND, "STATUS_OBJECT_NAME_NOT_FOUND"),
            (STATUS_OBJECT_PATH_NOT_FOUND, "STATUS_OBJECT_PATH_NOT_FOUND"),
            (STATUS_OBJECT_NAME_COLLISION, "STATUS_OBJECT_NAME_COLLISION"),
            (STATUS_OBJECT_NAME_INVALID, "STATUS_OBJECT_NAME_INVALID"),
            (STATUS_LOGON_FAILURE, "STATUS_LOGON_FAILURE"),
            (STATUS_BAD_NETWORK_NAME, "STATUS_BAD_NETWORK_NAME"),
            (STATUS_NETWORK_NAME_DELETED, "STATUS_NETWORK_NAME_DELETED"),
            (STATUS_USER_SESSION_DELETED, "STATUS_USER_SESSION_DELETED"),
            (STATUS_FILE_CLOSED, "STATUS_FILE_CLOSED"),
            (STATUS_INVALID_PARAMETER, "STATUS_INVALID_PARAMETER"),
            (STATUS_INVALID_HANDLE, "STATUS_INVALID_HANDLE"),
            (STATUS_NOT_SUPPORTED, "STATUS_NOT_SUPPORTED"),
            (STATUS_END_OF_FILE, "STATUS_END_OF_FILE"),
            (STATUS_DIRECTORY_NOT_EMPTY, "STATUS_DIRECTORY_NOT_EMPTY"),
            (STATUS_NOT_A_DIRECTORY, "STATUS_NOT_A_DIRECTORY"),
            (STATUS_FILE_IS_A_DIRECTORY, "STATUS_FILE_IS_A_DIRECTORY"),
            (STATUS_SHARING_VIOLATION, "STATUS_SHARING_VIOLATION"),
            (STATUS_DELETE_PENDING, "STATUS_DELETE_PENDING"),
            (STATUS_DISK_FULL, "STATUS_DISK_FULL"),
            (STATUS_MEDIA_WRITE_PROTECTED, "STATUS_MEDIA_WRITE_PROTECTED"),
            (STATUS_NAME_TOO_LONG, "STATUS_NAME_TOO_LONG"),
            (STATUS_INTERNAL_ERROR, "STATUS_INTERNAL_ERROR"),
            (
                STATUS_INVALID_DEVICE_REQUEST,
                "STATUS_INVALID_DEVICE_REQUEST",
            ),
            (STATUS_INFO_LENGTH_MISMATCH, "STATUS_INFO_LENGTH_MISMATCH"),
            (STATUS_INVALID_INFO_CLASS, "STATUS_INVALID_INFO_CLASS"),
            (STATUS_CANCELLED, "STATUS_CANCELLED"),
            (STATUS_LOCK_NOT_GRANTED, "OTHER"),
        ] {
            assert_eq!(status_name(smb_status_index(code)), name, "{code:#x}");
        }
    }

    #[test]
    fn op_tables_have_the_wire_numbers() {
        assert_eq!(NFS_OPS.len(), 22);
        assert_eq!(NFS_OPS[7], "WRITE");
        assert_eq!(NFS_OPS[21], "COMMIT");
        assert_eq!(MOUNT_OPS[1], "MNT");
        assert_eq!(SMB_OPS[18], "OPLOCK_BREAK");
    }
}
