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
    "OTHER",
];

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
    fn op_tables_have_the_wire_numbers() {
        assert_eq!(NFS_OPS.len(), 22);
        assert_eq!(NFS_OPS[7], "WRITE");
        assert_eq!(NFS_OPS[21], "COMMIT");
        assert_eq!(MOUNT_OPS[1], "MNT");
        assert_eq!(SMB_OPS[18], "OPLOCK_BREAK");
    }
}
