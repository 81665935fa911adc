//! Protocol-neutral value types of the file-system core.
//!
//! NFS and SMB handlers translate their wire types to and from these; the
//! metadata stores persist them. Nothing here knows about a protocol.

/// Inode number, unique within one metadata store. `0` is never a valid inode.
pub type InodeId = u64;

/// A point in time with nanosecond resolution (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timespec {
    /// Seconds since 1970-01-01T00:00:00Z (may be negative).
    pub sec: i64,
    /// Nanoseconds, always `< 1_000_000_000`.
    pub nsec: u32,
}

impl Timespec {
    /// The current wall-clock time.
    pub fn now() -> Timespec {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timespec {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: d.subsec_nanos(),
        }
    }
}

/// The type of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// Device numbers of a character or block special file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeviceId {
    pub major: u32,
    pub minor: u32,
}

/// All attributes of an inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: InodeId,
    pub ftype: FileType,
    /// Permission bits including set-uid, set-gid and sticky (`mode & 0o7777`).
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    /// Length in bytes (regular files), target length (symlinks), or an
    /// implementation-defined size (directories).
    pub size: u64,
    /// Bytes of storage actually used.
    pub used: u64,
    pub rdev: DeviceId,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    /// Creation ("birth") time; SMB reports it.
    pub btime: Timespec,
    /// Incremented every time the inode number is reused; part of file handles.
    pub generation: u64,
}

/// Identity of the caller, after squashing rules were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (AUTH_SYS allows at most 16).
    pub gids: Vec<u32>,
}

impl Cred {
    /// The superuser.
    pub fn root() -> Cred {
        Cred {
            uid: 0,
            gid: 0,
            gids: Vec::new(),
        }
    }

    /// Whether `gid` is the primary or a supplementary group of the caller.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.gids.contains(&gid)
    }
}

/// How a SETATTR changes a time stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetTime {
    #[default]
    DontChange,
    /// Set to the server's current time.
    ServerNow,
    /// Set to the given time.
    Client(Timespec),
}

/// Attribute changes requested by SETATTR or on creation. `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: SetTime,
    pub mtime: SetTime,
    /// Creation time set by a client (SMB FileBasicInformation CreationTime); NFSv3
    /// has no way to set it. Needs ownership, like explicit atime/mtime.
    pub btime: Option<Timespec>,
    /// ChangeTime set by an SMB client: recorded as ctime instead of "now".
    /// Needs ownership, like explicit atime/mtime.
    pub ctime: Option<Timespec>,
}

/// How CREATE treats an existing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Succeed on an existing regular file (applying size changes from the SetAttr).
    Unchecked,
    /// Fail with `Exists` when the name exists.
    Guarded,
    /// Exclusive create with a client verifier; a retransmission with the same
    /// verifier succeeds and returns the same file.
    Exclusive([u8; 8]),
}

/// The kind of special file MKNOD creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialKind {
    Fifo,
    Socket,
    Char(DeviceId),
    Block(DeviceId),
}

/// Attributes of an inode before an operation changed it (NFS `wcc_attr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreOpAttr {
    pub size: u64,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl From<&Attr> for PreOpAttr {
    fn from(a: &Attr) -> Self {
        PreOpAttr {
            size: a.size,
            mtime: a.mtime,
            ctime: a.ctime,
        }
    }
}

/// Weak cache consistency data of one inode: its attributes before and after.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wcc {
    pub before: Option<PreOpAttr>,
    pub after: Option<Attr>,
}

/// One directory entry as READDIR returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: InodeId,
    /// Opaque, stable position: passing it back continues after this entry.
    pub cookie: u64,
    /// Filled in when the caller asked for attributes (READDIRPLUS).
    pub attr: Option<Attr>,
}

/// One page of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirPage {
    pub entries: Vec<DirEntry>,
    /// True when the last entry of the directory is in this page.
    pub eof: bool,
    /// Cookie verifier: changes when cookies handed out earlier become invalid.
    pub verifier: [u8; 8],
    /// Attributes of the directory itself.
    pub dir_attr: Attr,
}

/// The stability a WRITE asks for or achieved (ordered weakest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stability {
    Unstable,
    DataSync,
    FileSync,
}

/// File-system wide figures (FSSTAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub avail_bytes: u64,
    pub total_files: u64,
    pub free_files: u64,
    pub avail_files: u64,
}

/// ACCESS bits, the same values as NFSv3's ACCESS3_* so handlers pass them through.
pub mod access {
    pub const READ: u32 = 0x0001;
    pub const LOOKUP: u32 = 0x0002;
    pub const MODIFY: u32 = 0x0004;
    pub const EXTEND: u32 = 0x0008;
    pub const DELETE: u32 = 0x0010;
    pub const EXECUTE: u32 = 0x0020;
}
