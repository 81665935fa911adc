//! Share modes at CREATE (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.1.2): the SMB side of
//! [`crate::fs::sharemode`]. A new open whose access or sharing conflicts with
//! an existing open of the file fails with STATUS_SHARING_VIOLATION.
//!
//! Leases: when the conflict is with an open whose lease caches the handle (H),
//! that client may only be keeping the handle open for reuse, so the H caching of
//! the file's other grants is broken first ([`leases::Op::Sharing`]), waiting
//! (bounded) for the acknowledgment, and the check is made once more.

use std::sync::atomic::Ordering;
use std::time::Duration;

use dittofs_smb_wire::status::STATUS_SHARING_VIOLATION;

use crate::fs::leases::{self, Origin};
use crate::fs::sharemode::{self, ShareModeToken};
use crate::fs::{Fs, InodeId};

/// Records an open of `ino` with `access` (granted rights) and `share`
/// (ShareAccess), or refuses it.
pub(crate) async fn acquire(
    fs: &Fs,
    ino: InodeId,
    origin: Origin,
    access: u32,
    share: u32,
) -> Result<Option<ShareModeToken>, u32> {
    let key = (fs.share().id, ino);
    let table = sharemode::global();
    if let Ok(t) = table.open(key, access, share) {
        return Ok(t);
    }
    if leases::ACTIVE_FILES.load(Ordering::Relaxed) == 0 {
        return Err(STATUS_SHARING_VIOLATION);
    }
    let wait = Duration::from_millis(leases::smb_wait_ms());
    leases::table()
        .break_and_wait(key, Some(origin), leases::Op::Sharing, wait)
        .await;
    table
        .open(key, access, share)
        .map_err(|_| STATUS_SHARING_VIOLATION)
}

/// A rename adds an entry to the directory it renames in (and to the target's):
/// Windows opens those directories internally for FILE_ADD_FILE sharing read and
/// write, so a directory held open without write sharing, or for DELETE, refuses
/// it (smbtorture smb2.rename.share_delete_and_delete_access and neighbours).
pub(crate) fn rename_parents(fs: &Fs, dirs: &[InodeId]) -> Result<(), u32> {
    let table = sharemode::global();
    for dir in dirs {
        // The entry is dropped at once: the internal open lasts only the rename.
        table
            .open(
                (fs.share().id, *dir),
                sharemode::FILE_WRITE_DATA,
                sharemode::SHARE_READ | sharemode::SHARE_WRITE,
            )
            .map_err(|_| STATUS_SHARING_VIOLATION)?;
    }
    Ok(())
}
