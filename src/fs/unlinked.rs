//! Unlinked-but-open files: POSIX lets a process read and write a file it
//! holds open after its last name is gone, and the Linux SMB client with POSIX
//! extensions expects that of the server (pjdfstest unlink
//! open_file_not_freed). NFSv3 has no open (its clients silly-rename), so only
//! the SMB adapter holds files here.
//!
//! Every SMB open of a regular file takes an [`OpenHold`] in one process-wide
//! table (opens of one file can be on several cores, like the share-mode
//! table). [`Fs::remove_held`] removes a name whose inode is held with
//! [`RemoveKind::NonDirectoryKeep`]: the store keeps the inode with `nlink` 0
//! and the table marks it unlinked. Dropping the last hold queues the inode,
//! and [`Fs::reap_released`] (called by the SMB adapter on CLOSE and CREATE)
//! deletes it from the store and drops its content.
//!
//! Windows delete-pending (the default SMB delete, no POSIX semantics): a file
//! whose delete-on-close took effect keeps its *name* until the last open of
//! it closes, and a new open of it fails with STATUS_DELETE_PENDING (smbtorture
//! smb2.oplock.doc; Explorer relies on it). [`Fs::set_delete_pending`] records
//! the name to remove (and who removes it) in the file's entry; dropping the
//! last hold moves it to a queue that [`Fs::reap_released`] empties by
//! removing the name. Until then [`Fs::delete_pending`] answers true. Opens
//! dropped without CLOSE (disconnect) queue it the same way.
//!
//! Crash safety: the store puts an inode it keeps at `nlink` 0 on its orphan
//! set in the same transaction ([`crate::meta::MetadataStore::orphans`]), and
//! `reap` takes it off in the reap's transaction. An inode left by a crash (or
//! by a hold whose reap never ran) is therefore still listed at the next
//! start, where [`Fs::collect_orphans`] reaps it and drops its content and
//! named streams before the listeners bind. A crash during that collection
//! leaves the rest listed, so the next start simply repeats it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use super::{Fs, FsError, FsResult, InodeId, Wcc};
use crate::fs::{perm, Attr, FileType, Timespec};
use crate::meta::{MetaError, RemoveKind};

/// (share id, inode).
type FileKey = (u32, InodeId);

#[derive(Default)]
struct Entry {
    opens: u32,
    unlinked: bool,
    /// Delete pending: the name removed when the last open goes.
    doomed: Option<Doomed>,
}

/// The name of a delete-pending file and the caller that deletes it.
#[derive(Debug, Clone)]
struct Doomed {
    dir: InodeId,
    name: Vec<u8>,
    cred: super::Cred,
}

#[derive(Default)]
struct Table {
    files: HashMap<FileKey, Entry>,
    /// Unlinked inodes whose last hold went away, waiting for a reap.
    released: Vec<FileKey>,
    /// Delete-pending files whose last hold went away: names to remove.
    doomed: Vec<(FileKey, Doomed)>,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);
/// Something is queued in `released` or `doomed` (the common "nothing to
/// reap" is one relaxed load, CREATE checks it every time).
static QUEUED: AtomicBool = AtomicBool::new(false);

fn table() -> MutexGuard<'static, Table> {
    // A poisoned lock only means a panic mid-update of plain maps; still valid.
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// One open's hold on a file; dropping it releases the hold.
#[derive(Debug)]
pub struct OpenHold {
    key: FileKey,
}

impl Drop for OpenHold {
    fn drop(&mut self) {
        let mut t = table();
        let Some(e) = t.files.get_mut(&self.key) else {
            return;
        };
        e.opens = e.opens.saturating_sub(1);
        if e.opens == 0 {
            let unlinked = e.unlinked;
            let doomed = e.doomed.take();
            t.files.remove(&self.key);
            if unlinked {
                t.released.push(self.key);
                QUEUED.store(true, Ordering::Relaxed);
            } else if let Some(d) = doomed {
                t.doomed.push((self.key, d));
                QUEUED.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Takes a hold on `ino` of share `share`.
fn hold(share: u32, ino: InodeId) -> OpenHold {
    let key = (share, ino);
    table().files.entry(key).or_default().opens += 1;
    OpenHold { key }
}

/// How many holds `ino` of share `share` has.
fn holds(share: u32, ino: InodeId) -> u32 {
    table().files.get(&(share, ino)).map_or(0, |e| e.opens)
}

/// Marks a held inode unlinked; false when no hold is left (reap it now).
fn mark_unlinked(key: FileKey) -> bool {
    match table().files.get_mut(&key) {
        Some(e) => {
            e.unlinked = true;
            true
        }
        None => false,
    }
}

/// Takes the released unlinked inodes of share `share`.
fn set_doomed(key: FileKey, doomed: Option<Doomed>) -> bool {
    match table().files.get_mut(&key) {
        Some(e) => {
            e.doomed = doomed;
            true
        }
        None => false,
    }
}

fn is_doomed(key: FileKey) -> bool {
    let t = table();
    t.files.get(&key).is_some_and(|e| e.doomed.is_some()) || t.doomed.iter().any(|d| d.0 == key)
}

fn take_doomed(share: u32) -> Vec<(InodeId, Doomed)> {
    let mut t = table();
    if t.doomed.is_empty() {
        return Vec::new();
    }
    let (mine, rest): (Vec<_>, Vec<_>) = t.doomed.drain(..).partition(|d| d.0 .0 == share);
    t.doomed = rest;
    mine.into_iter().map(|(k, d)| (k.1, d)).collect()
}

fn take_released(share: u32) -> Vec<InodeId> {
    let mut t = table();
    if t.released.is_empty() {
        return Vec::new();
    }
    let (mine, rest) = t.released.drain(..).partition(|k| k.0 == share);
    t.released = rest;
    mine.into_iter().map(|k: FileKey| k.1).collect()
}

impl Fs {
    /// A hold on `ino` for an open (see the module docs).
    pub fn hold_open(&self, ino: InodeId) -> OpenHold {
        hold(self.share.id, ino)
    }

    /// Removes a non-directory name like [`Fs::remove`], but an inode that
    /// `excluding` plus other opens hold (more than `excluding` holds) keeps
    /// its attributes and content until the last hold is released.
    pub async fn remove_held(
        &self,
        cred: &super::Cred,
        dir: InodeId,
        name: &[u8],
        excluding: u32,
    ) -> FsResult<Wcc> {
        self.writable()?;
        let victim = self.meta.lookup(dir, name).await?;
        if victim.ftype == FileType::Directory || holds(self.share.id, victim.ino) <= excluding {
            return self.remove(cred, dir, name).await;
        }
        self.break_leases_at(dir, name, super::leases::Op::Remove)
            .await;
        let dir_attr = self.changeable_dir(cred, dir).await?;
        if !perm::sticky_allows(cred, &dir_attr, &victim) {
            return Err(FsError::NotPermitted);
        }
        let r = self
            .meta
            .remove(
                dir,
                name,
                RemoveKind::NonDirectoryKeep,
                Some(victim.ino),
                Timespec::now(),
            )
            .await
            .map_err(|e| match e {
                MetaError::Conflict => FsError::Retry,
                e => e.into(),
            })?;
        self.report(
            dir,
            name,
            super::watch::action::REMOVED,
            super::watch_report::name_kind(victim.ftype),
        )
        .await;
        if r.victim.last_link {
            self.note_gone(victim.ino, victim.ftype);
            self.drop_content(&r.victim.attr);
        } else if r.victim.attr.nlink == 0 && !mark_unlinked((self.share.id, victim.ino)) {
            // The other opens closed meanwhile.
            self.reap(victim.ino).await;
        }
        Ok(super::wcc(r.dir.before, r.dir.after))
    }

    /// Deletes the unlinked inodes of this share whose last open closed.
    /// Windows delete-pending: `Some((dir, name, cred))` makes the held file
    /// delete pending (its name goes at its last close), `None` clears it.
    /// False when no open holds the file (the caller deletes it itself).
    pub fn set_delete_pending(
        &self,
        ino: InodeId,
        doomed: Option<(InodeId, Vec<u8>, super::Cred)>,
    ) -> bool {
        set_doomed(
            (self.share.id, ino),
            doomed.map(|(dir, name, cred)| Doomed { dir, name, cred }),
        )
    }

    /// Whether the file is delete pending (a new open gets
    /// STATUS_DELETE_PENDING).
    pub fn delete_pending(&self, ino: InodeId) -> bool {
        is_doomed((self.share.id, ino))
    }

    /// Removes the names of delete-pending files whose last open went away,
    /// then deletes unlinked inodes nobody holds any more.
    pub async fn reap_released(&self) {
        if !QUEUED.load(Ordering::Relaxed) {
            return;
        }
        {
            let t = table();
            let others = t
                .released
                .iter()
                .chain(t.doomed.iter().map(|d| &d.0))
                .any(|k| k.0 != self.share.id);
            QUEUED.store(others, Ordering::Relaxed);
        }
        for (ino, d) in take_doomed(self.share.id) {
            // Only the name that still names this file (it may have been
            // renamed over meanwhile through NFS).
            match self.meta.lookup(d.dir, &d.name).await {
                Ok(a) if a.ino == ino => {
                    if let Err(e) = self.remove_held(&d.cred, d.dir, &d.name, 0).await {
                        log::debug!("delete pending of inode {ino} failed: {e:?}");
                    }
                }
                _ => {}
            }
        }
        for ino in take_released(self.share.id) {
            self.reap(ino).await;
        }
    }

    async fn reap(&self, ino: InodeId) {
        match self.meta.reap(ino).await {
            Ok(Some(attr)) => {
                self.note_gone(ino, attr.ftype);
                self.drop_content(&attr);
            }
            Ok(None) => {}
            Err(e) => log::warn!(
                "share {}: deleting unlinked inode {ino} failed: {e}",
                self.share.id
            ),
        }
    }
}

/// Orphans listed per store call by [`Fs::collect_orphans`].
const ORPHAN_BATCH: usize = 256;

impl Fs {
    /// Reaps the orphans of this share's store whose content `core` owns
    /// (every core collects its part, so content is dropped locally) and
    /// drops their content and named streams, awaiting the drops; returns how
    /// many inodes it reaped. Run at start-up, when no open can hold them.
    pub async fn collect_orphans(&self, core: usize) -> FsResult<u64> {
        let mut after = 0;
        let mut reaped = 0;
        loop {
            let batch = self.meta.orphans(after, ORPHAN_BATCH).await?;
            let Some(&last) = batch.last() else {
                return Ok(reaped);
            };
            for ino in batch {
                if self.router.owner(self.key(ino)) != core {
                    continue;
                }
                if let Some(attr) = self.meta.reap(ino).await? {
                    reaped += 1;
                    self.note_gone(ino, attr.ftype);
                    self.drop_content_now(&attr).await;
                }
            }
            after = last;
        }
    }

    /// What [`Fs::drop_content`] does, awaited: the named streams (metadata
    /// and content), then a regular file's blocks and objects.
    async fn drop_content_now(&self, attr: &Attr) {
        let share = self.share.id;
        match self.meta.drop_streams(attr.ino).await {
            Ok(gone) => {
                for a in gone {
                    if let Err(e) = self.router.remove(self.key(a.ino)).await {
                        log::warn!("share {share}: dropping stream {} failed: {e}", a.ino);
                    }
                }
            }
            Err(e) => log::warn!(
                "share {share}: dropping streams of {} failed: {e}",
                attr.ino
            ),
        }
        if attr.ftype == FileType::Regular {
            if let Err(e) = self.router.remove(self.key(attr.ino)).await {
                log::warn!(
                    "share {share}: dropping content of inode {} failed: {e}",
                    attr.ino
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_hold_of_an_unlinked_file_queues_it() {
        let share = 0xFFFF_0001;
        let a = hold(share, 7);
        let b = hold(share, 7);
        assert_eq!(holds(share, 7), 2);
        assert!(mark_unlinked((share, 7)));
        drop(a);
        assert!(take_released(share).is_empty());
        drop(b);
        assert_eq!(holds(share, 7), 0);
        assert_eq!(take_released(share), [7]);
        assert!(take_released(share).is_empty());
        assert!(!mark_unlinked((share, 7)));
    }

    #[test]
    fn delete_pending_until_the_last_hold() {
        let share = 0xFFFF_0003;
        let key = (share, 11);
        let d = Doomed {
            dir: 1,
            name: b"f".to_vec(),
            cred: super::super::Cred::root(),
        };
        assert!(!set_doomed(key, Some(d.clone())), "no hold: caller deletes");
        let (a, b) = (hold(share, 11), hold(share, 11));
        assert!(!is_doomed(key));
        assert!(set_doomed(key, Some(d.clone())));
        assert!(is_doomed(key));
        assert!(set_doomed(key, None), "cleared");
        assert!(!is_doomed(key));
        assert!(set_doomed(key, Some(d)));
        drop(a);
        assert!(take_doomed(share).is_empty(), "still held");
        assert!(is_doomed(key));
        drop(b);
        assert!(is_doomed(key), "queued, name not yet removed");
        let gone = take_doomed(share);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].0, gone[0].1.name.as_slice()), (11, &b"f"[..]));
        assert!(!is_doomed(key));
        assert!(take_released(share).is_empty(), "linked file: no reap");
    }

    #[test]
    fn linked_files_are_not_queued() {
        let share = 0xFFFF_0002;
        drop(hold(share, 9));
        assert!(take_released(share).is_empty());
    }
}
