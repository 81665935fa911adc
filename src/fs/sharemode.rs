//! Share modes (MS-FSA 2.1.5.1.2): which opens of a file may coexist.
//!
//! Why global and in the neutral core: two clients' connections usually land
//! on different cores (SO_REUSEPORT), yet an open taken through one must stop
//! the other's conflicting open. Like the byte-range lock table
//! ([`super::locks`]) and the lease table ([`super::leases`]), this is a fixed
//! set of `std::sync::Mutex` shards keyed by (share id, inode); a critical
//! section scans one file's open list, with no await inside.
//!
//! Only opens with data access (READ_DATA/EXECUTE, WRITE_DATA/APPEND_DATA,
//! DELETE) are recorded: an open for attributes, READ_CONTROL or SYNCHRONIZE
//! never conflicts and never is conflicted with. An entry lives as long as its
//! [`ShareModeToken`]; the SMB adapter keeps the token in its open, so CLOSE,
//! TREE_DISCONNECT, LOGOFF and connection end release it by dropping the open.
//!
//! NFS takes no share modes: NFSv3 has no open, so an NFS READ/WRITE is never
//! refused because of an SMB open's share access.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::InodeId;

/// Number of mutex shards.
const SHARDS: usize = 64;

/// Access rights that take part in the check (MS-SMB2 2.2.13.1.1).
pub const FILE_READ_DATA: u32 = 0x0000_0001;
pub const FILE_WRITE_DATA: u32 = 0x0000_0002;
pub const FILE_APPEND_DATA: u32 = 0x0000_0004;
pub const FILE_EXECUTE: u32 = 0x0000_0020;
pub const DELETE: u32 = 0x0001_0000;
/// Every access right that matters to share modes.
pub const DATA_ACCESS: u32 =
    FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_EXECUTE | DELETE;

/// ShareAccess bits (MS-SMB2 2.2.13).
pub const SHARE_READ: u32 = 0x1;
pub const SHARE_WRITE: u32 = 0x2;
pub const SHARE_DELETE: u32 = 0x4;

/// Which file: (share id, inode).
pub type FileKey = (u32, InodeId);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: u64,
    access: u32,
    share: u32,
}

/// The new open conflicts with an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharingViolation;

/// Whether an open with `access` is refused by an open that shares `share`.
fn denied_by(access: u32, share: u32) -> bool {
    (access & (FILE_READ_DATA | FILE_EXECUTE) != 0 && share & SHARE_READ == 0)
        || (access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0 && share & SHARE_WRITE == 0)
        || (access & DELETE != 0 && share & SHARE_DELETE == 0)
}

/// MS-FSA 2.1.5.1.2.1: either side's access not allowed by the other's sharing.
fn conflicts(held: &Entry, access: u32, share: u32) -> bool {
    denied_by(access, held.share) || denied_by(held.access, share)
}

/// The share-mode table.
#[derive(Debug)]
pub struct ShareModeTable {
    shards: Vec<Mutex<HashMap<FileKey, Vec<Entry>>>>,
    next_id: AtomicU64,
}

impl Default for ShareModeTable {
    fn default() -> Self {
        ShareModeTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next_id: AtomicU64::new(1),
        }
    }
}

/// The server-wide table.
pub fn global() -> &'static ShareModeTable {
    static TABLE: OnceLock<ShareModeTable> = OnceLock::new();
    TABLE.get_or_init(ShareModeTable::default)
}

/// One open's entry; dropping it releases the entry.
#[derive(Debug)]
pub struct ShareModeToken {
    table: &'static ShareModeTable,
    key: FileKey,
    id: u64,
}

impl Drop for ShareModeToken {
    fn drop(&mut self) {
        self.table.release(self.key, self.id);
    }
}

impl ShareModeTable {
    fn shard(&self, key: &FileKey) -> MutexGuard<'_, HashMap<FileKey, Vec<Entry>>> {
        let h = (key.1 ^ (u64::from(key.0) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> 58) as usize % SHARDS;
        // A poisoned shard only means another thread panicked mid-update of a
        // plain Vec; the data is still structurally valid.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a new open of `key` with `access` (rights after generic mapping)
    /// and `share` (ShareAccess) against the file's opens and records it.
    /// `Ok(None)`: the open has no data access and is not recorded.
    pub fn open(
        &'static self,
        key: FileKey,
        access: u32,
        share: u32,
    ) -> Result<Option<ShareModeToken>, SharingViolation> {
        let access = access & DATA_ACCESS;
        if access == 0 {
            return Ok(None);
        }
        let share = share & (SHARE_READ | SHARE_WRITE | SHARE_DELETE);
        let mut map = self.shard(&key);
        let list = map.entry(key).or_default();
        if list.iter().any(|e| conflicts(e, access, share)) {
            if list.is_empty() {
                map.remove(&key);
            }
            return Err(SharingViolation);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        list.push(Entry { id, access, share });
        Ok(Some(ShareModeToken {
            table: self,
            key,
            id,
        }))
    }

    fn release(&self, key: FileKey, id: u64) {
        let mut map = self.shard(&key);
        if let Some(list) = map.get_mut(&key) {
            list.retain(|e| e.id != id);
            if list.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// Number of recorded opens of a file (tests, diagnostics).
    pub fn open_count(&self, key: FileKey) -> usize {
        self.shard(&key).get(&key).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: u32 = SHARE_READ | SHARE_WRITE;
    const ALL: u32 = SHARE_READ | SHARE_WRITE | SHARE_DELETE;

    fn table() -> &'static ShareModeTable {
        Box::leak(Box::default())
    }

    #[test]
    fn share_read_refuses_a_writer_and_allows_a_reader() {
        let t = table();
        let k = (1, 10);
        let _a = t.open(k, FILE_READ_DATA, SHARE_READ).unwrap();
        assert_eq!(
            t.open(k, FILE_WRITE_DATA, RW).unwrap_err(),
            SharingViolation
        );
        assert_eq!(
            t.open(k, FILE_APPEND_DATA, RW).unwrap_err(),
            SharingViolation
        );
        let b = t.open(k, FILE_READ_DATA, SHARE_READ).unwrap();
        assert!(b.is_some());
        assert_eq!(t.open_count(k), 2);
    }

    #[test]
    fn new_share_must_allow_existing_access() {
        let t = table();
        let k = (1, 11);
        let _w = t.open(k, FILE_WRITE_DATA, ALL).unwrap();
        // A reader that does not share write with the existing writer.
        assert!(t.open(k, FILE_READ_DATA, SHARE_READ).is_err());
        assert!(t.open(k, FILE_READ_DATA, RW).is_ok());
    }

    #[test]
    fn delete_needs_share_delete() {
        let t = table();
        let k = (1, 12);
        let _r = t.open(k, FILE_READ_DATA, RW).unwrap();
        assert!(t.open(k, DELETE, ALL).is_err());
        let t2 = table();
        let _r = t2.open(k, FILE_READ_DATA, ALL).unwrap();
        let d = t2.open(k, DELETE, ALL).unwrap();
        assert!(d.is_some());
        // And an existing DELETE open refuses a new one without SHARE_DELETE.
        assert!(t2.open(k, FILE_READ_DATA, RW).is_err());
    }

    #[test]
    fn attribute_only_opens_never_conflict() {
        let t = table();
        let k = (1, 13);
        let _x = t
            .open(k, FILE_READ_DATA | FILE_WRITE_DATA | DELETE, 0)
            .unwrap();
        // FILE_READ_ATTRIBUTES | SYNCHRONIZE | READ_CONTROL
        let a = t.open(k, 0x80 | 0x0010_0000 | 0x0002_0000, 0).unwrap();
        assert!(a.is_none());
        assert_eq!(t.open_count(k), 1);
    }

    #[test]
    fn dropping_the_token_releases() {
        let t = table();
        let k = (1, 14);
        let a = t.open(k, FILE_WRITE_DATA, 0).unwrap();
        assert!(t.open(k, FILE_READ_DATA, ALL).is_err());
        drop(a);
        assert_eq!(t.open_count(k), 0);
        assert!(t.open(k, FILE_READ_DATA, 0).unwrap().is_some());
    }

    #[test]
    fn files_and_shares_are_separate() {
        let t = table();
        let _a = t.open((1, 15), FILE_WRITE_DATA, 0).unwrap();
        assert!(t.open((1, 16), FILE_WRITE_DATA, 0).is_ok());
        assert!(t.open((2, 15), FILE_WRITE_DATA, 0).is_ok());
    }
}
