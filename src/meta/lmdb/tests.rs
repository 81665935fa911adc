//! LMDB-specific tests: the shared conformance suite, persistence across
//! reopen, group commit, map growth and fsck.

use std::sync::{Arc, Mutex};

use futures_lite::future::block_on;

use super::*;
use crate::fs::{DeviceId, FileType};
use crate::meta::{conformance, OnExists};

/// A store without fsync per commit (the suite checks semantics, not durability;
/// the crash test runs the server with the real setting).
fn open(dir: &Path) -> LmdbStore {
    let options = LmdbOptions {
        no_sync: true,
        ..LmdbOptions::default()
    };
    LmdbStore::open(dir.join("meta"), options).expect("open lmdb")
}

fn file(mode: u32) -> NewInode {
    NewInode {
        ftype: FileType::Regular,
        mode,
        uid: 1,
        gid: 2,
        rdev: DeviceId::default(),
        target: Vec::new(),
        verifier: None,
        on_exists: OnExists::Fail,
    }
}

fn dir_inode() -> NewInode {
    NewInode {
        ftype: FileType::Directory,
        ..file(0o755)
    }
}

#[test]
fn conformance_suite() {
    let dirs = Mutex::new(Vec::new());
    block_on(conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        dirs.lock().unwrap().push(dir);
        Arc::new(store) as Arc<dyn MetadataStore>
    }));
}

#[test]
fn readdir_100k_entries_while_modified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let started = std::time::Instant::now();
    block_on(crate::meta::readdir_100k::check(&store, 512));
    eprintln!("lmdb readdir_100k: {:?}", started.elapsed());
}

fn alice() -> crate::meta::UserRecord {
    crate::meta::UserRecord {
        name: "alice".into(),
        uid: 1000,
        gid: 100,
        groups: vec![100, 27],
        password_hash: "$2b$12$x".into(),
        nt_hash: Some([7; 16]),
        share_permissions: vec![("/export".into(), crate::meta::SharePermission::ReadWrite)],
    }
}

#[test]
fn state_and_generation_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let now = Timespec { sec: 100, nsec: 1 };
    let (root, sub, f, gen) = {
        let s = open(dir.path());
        let root = block_on(s.share_root("/export", 0o755)).unwrap();
        let sub = block_on(s.create(root, b"sub", &dir_inode(), now))
            .unwrap()
            .attr;
        let f = block_on(s.create(sub.ino, b"f", &file(0o600), now))
            .unwrap()
            .attr;
        block_on(s.link(f.ino, root, b"f2", now)).unwrap();
        block_on(s.put_block(
            f.ino,
            0,
            BlockRef {
                key: "k0".into(),
                len: 10,
                generation: 1,
            },
        ))
        .unwrap();
        block_on(s.put_user(&alice())).unwrap();
        block_on(s.set_dos_attributes(f.ino, 0x20)).unwrap();
        (root, sub.ino, f.ino, f.generation)
    };
    let s = open(dir.path());
    assert_eq!(block_on(s.share_root("/export", 0o700)).unwrap(), root);
    let a = block_on(s.lookup(sub, b"f")).unwrap();
    assert_eq!((a.ino, a.generation, a.nlink), (f, gen, 2));
    assert_eq!(block_on(s.get_block(f, 0)).unwrap().unwrap().key, "k0");
    assert_eq!(block_on(s.get_user_by_uid(1000)).unwrap(), Some(alice()));
    assert_eq!(block_on(s.get_dos_attributes(f)).unwrap(), 0x20);
    // Ids are not reused after a reopen.
    let g = block_on(s.create(root, b"g", &file(0o600), now))
        .unwrap()
        .attr;
    assert!(g.ino > f);
    assert!(s.fsck().unwrap().problems.is_empty());
}

#[test]
fn concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    // With the real fsync: commits queue up behind it, which is what batches them.
    let s = LmdbStore::open(dir.path().join("meta"), LmdbOptions::default()).unwrap();
    let s = Arc::new(s);
    let root = block_on(s.share_root("/export", 0o755)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                // Each thread keeps 16 creates in flight at once.
                block_on(async {
                    for round in 0..8 {
                        let names: Vec<Vec<u8>> = (0..16)
                            .map(|i| format!("t{t}-r{round}-{i}").into_bytes())
                            .collect();
                        let new = file(0o644);
                        let futs: Vec<_> = names
                            .iter()
                            .map(|n| s.create(root, n, &new, Timespec::now()))
                            .collect();
                        for f in futs {
                            f.await.expect("create");
                        }
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (commits, ops) = s.commit_stats();
    let listing = block_on(s.readdir(root, 0, 10_000, false)).unwrap();
    assert_eq!(listing.entries.len(), 8 * 8 * 16);
    eprintln!("group commit: {ops} mutations in {commits} commits");
    assert!(commits < ops / 4, "{ops} mutations took {commits} commits");
    assert!(s.fsck().unwrap().problems.is_empty());
}

#[test]
fn map_grows_and_then_reports_no_space() {
    let dir = tempfile::tempdir().unwrap();
    let s = LmdbStore::open(
        dir.path().join("meta"),
        LmdbOptions {
            map_size_bytes: 128 << 10,
            map_size_max_bytes: 4 << 20,
            no_sync: true,
        },
    )
    .unwrap();
    let root = block_on(s.share_root("/export", 0o755)).unwrap();
    let mut created = 0u32;
    let mut last = Ok(());
    let new = file(0o644);
    // 64 creates in flight at once share commits, which keeps the test fast.
    'fill: for chunk in 0..5_000u32 {
        let names: Vec<String> = (0..64)
            .map(|i| format!("a-rather-long-file-name-to-fill-pages-{chunk:05}-{i:02}"))
            .collect();
        let futs: Vec<_> = names
            .iter()
            .map(|n| s.create(root, n.as_bytes(), &new, Timespec::now()))
            .collect();
        for f in futs {
            match block_on(f) {
                Ok(_) => created += 1,
                Err(e) => {
                    last = Err(e);
                    break 'fill;
                }
            }
        }
    }
    // 128 KiB holds a few hundred entries: the map must have grown.
    assert!(created > 2000, "only {created} files before {last:?}");
    assert_eq!(last, Err(MetaError::NoSpace));
    // The store is still usable for reads and consistent.
    assert_eq!(
        block_on(s.stat()).unwrap().used_files,
        u64::from(created) + 1
    );
    assert!(s.fsck().unwrap().problems.is_empty());
}

#[test]
fn failed_op_in_a_batch_leaves_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let root = block_on(s.share_root("/export", 0o755)).unwrap();
    let new = file(0o644);
    let now = Timespec::now();
    // Queue both before awaiting either so they usually share a batch.
    let a = s.create(root, b"x", &new, now);
    let b = s.create(root, b"x", &new, now);
    let c = s.create(root, b"y", &new, now);
    let results = block_on(async { (a.await, b.await, c.await) });
    assert!(results.0.is_ok());
    assert_eq!(results.1, Err(MetaError::Exists));
    assert!(results.2.is_ok());
    let report = s.fsck().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.inodes, report.entries), (3, 2));
}

/// A kept inode stays on the orphan set across a reopen (what a crash leaves)
/// and fsck accepts it there; the same inode off the set is a leak fsck
/// reports; a reap leaves a clean store.
#[test]
fn orphan_set_survives_reopen_and_fsck_tells_listed_from_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let ino = {
        let s = open(dir.path());
        let root = block_on(s.share_root("/export", 0o755)).unwrap();
        let now = Timespec::now();
        let f = block_on(s.create(root, b"f", &file(0o644), now)).unwrap();
        let keep = crate::meta::RemoveKind::NonDirectoryKeep;
        block_on(s.remove(root, b"f", keep, None, now)).unwrap();
        f.attr.ino
    };
    let s = open(dir.path());
    assert_eq!(block_on(s.orphans(0, 16)), Ok(vec![ino]));
    let report = s.fsck().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // Take it off the set behind the store's back: now it is a leak.
    {
        let mut txn = s.shared.env.write_txn().unwrap();
        s.shared
            .dbs
            .orphans
            .delete(&mut txn, &ino.to_be_bytes())
            .unwrap();
        txn.commit().unwrap();
    }
    let report = s.fsck().unwrap();
    assert_eq!(
        report.problems,
        vec![format!("orphan inode {ino} (Regular)")]
    );
    // Listed again and reaped: clean, and nothing left to list.
    {
        let mut txn = s.shared.env.write_txn().unwrap();
        s.shared
            .dbs
            .orphans
            .put(&mut txn, &ino.to_be_bytes(), &[])
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(block_on(s.reap(ino)).unwrap().is_some());
    assert_eq!(block_on(s.orphans(0, 16)), Ok(vec![]));
    let report = s.fsck().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
