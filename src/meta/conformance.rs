//! The conformance suite every [`MetadataStore`] must pass.
//!
//! Each check takes a fresh store from the caller's factory, so the same
//! functions run against the memory store here and against LMDB and PostgreSQL
//! stores in their own test modules: `block_on(conformance::run_all(|| store()))`.
//! Checks panic (with `assert!`) on the first deviation.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{
    AttrChange, MetaError, MetadataStore, NewInode, OnExists, RemoveKind, RenameArgs, DIR_SIZE,
    FIRST_COOKIE,
};
use crate::fs::{Attr, DeviceId, FileType, InodeId, Timespec};

pub(super) fn t(sec: i64) -> Timespec {
    Timespec { sec, nsec: 7 }
}

pub(super) fn new_inode(ftype: FileType, mode: u32) -> NewInode {
    NewInode {
        ftype,
        mode,
        uid: 1000,
        gid: 100,
        rdev: DeviceId::default(),
        target: Vec::new(),
        verifier: None,
        on_exists: OnExists::Fail,
    }
}

pub(super) async fn mk(s: &dyn MetadataStore, dir: InodeId, name: &str, ftype: FileType) -> Attr {
    let new = new_inode(ftype, 0o644);
    s.create(dir, name.as_bytes(), &new, t(10))
        .await
        .expect("create")
        .attr
}

pub(super) async fn root(s: &dyn MetadataStore) -> InodeId {
    s.share_root("/export", 0o755).await.expect("share_root")
}

pub(super) fn rn<'a>(
    from_dir: InodeId,
    from: &'a str,
    to_dir: InodeId,
    to: &'a str,
) -> RenameArgs<'a> {
    RenameArgs {
        from_dir,
        from_name: from.as_bytes(),
        to_dir,
        to_name: to.as_bytes(),
        expect_src: None,
        expect_dst: None,
    }
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all(make: impl Fn() -> Arc<dyn MetadataStore>) {
    share_roots(&*make()).await;
    create_and_lookup(&*make()).await;
    create_on_exists(&*make()).await;
    remove_rules(&*make()).await;
    rename_rules(&*make()).await;
    rename_nlink_accounting(&*make()).await;
    link_rules(&*make()).await;
    set_attr_rules(&*make()).await;
    readdir_stable_cookies(&*make()).await;
    stat_counts(&*make()).await;
    block_map(&*make()).await;
    super::conformance_identity::identity(&*make()).await;
    super::conformance_identity::dos_attributes(&*make()).await;
    super::conformance_identity::creation_time(&*make()).await;
    super::conformance_unlinked::keep_and_reap(&*make()).await;
    super::conformance_unlinked::orphan_set(&*make()).await;
    super::conformance_streams::lifecycle(&*make()).await;
    super::conformance_streams::rename_and_drop(&*make()).await;
}

/// Share roots are created once, are directories and their own parent.
pub async fn share_roots(s: &dyn MetadataStore) {
    let r = root(s).await;
    assert_eq!(root(s).await, r);
    let other = s.share_root("/other", 0o700).await.expect("second share");
    assert_ne!(other, r);
    let a = s.get(r).await.expect("root attr");
    assert_eq!(a.ftype, FileType::Directory);
    assert_eq!(a.nlink, 2);
    assert_eq!(a.mode, 0o755);
    assert_eq!((a.uid, a.gid), (0, 0));
    assert_eq!(s.lookup(r, b"..").await.expect("..").ino, r);
    assert_eq!(s.lookup(r, b".").await.expect(".").ino, r);
    assert_eq!(s.get(other).await.expect("other").mode, 0o700);
}

/// Create sets times, link counts and parent links; lookup finds it.
pub async fn create_and_lookup(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    assert_eq!(f.nlink, 1);
    assert_eq!((f.uid, f.gid, f.mode), (1000, 100, 0o644));
    assert_eq!([f.atime, f.mtime, f.ctime, f.btime], [t(10); 4]);
    assert!(f.generation != 0);
    let d = mk(s, r, "d", FileType::Directory).await;
    assert_eq!((d.nlink, d.size), (2, DIR_SIZE));
    let ra = s.get(r).await.expect("root");
    assert_eq!(ra.nlink, 3);
    assert_eq!((ra.mtime, ra.ctime), (t(10), t(10)));
    assert_eq!(s.lookup(r, b"f").await.expect("f").ino, f.ino);
    assert_eq!(s.lookup(d.ino, b"..").await.expect("..").ino, r);
    assert_eq!(s.lookup(r, b"nope").await, Err(MetaError::NoEntry));
    assert_eq!(s.lookup(f.ino, b"x").await, Err(MetaError::NotDirectory));
    assert_eq!(
        s.lookup(9_999_999, b"x").await,
        Err(MetaError::NoInode(9_999_999))
    );
    let mut sl = new_inode(FileType::Symlink, 0o777);
    sl.target = b"some/where".to_vec();
    let sa = s.create(r, b"l", &sl, t(11)).await.expect("symlink").attr;
    assert_eq!(sa.size, 10);
    assert_eq!(s.readlink(sa.ino).await.expect("readlink"), b"some/where");
    assert_eq!(s.readlink(f.ino).await, Err(MetaError::InvalidArgument));
    let mut dev = new_inode(FileType::CharDevice, 0o600);
    dev.rdev = DeviceId { major: 4, minor: 2 };
    let da = s.create(r, b"c", &dev, t(11)).await.expect("mknod").attr;
    assert_eq!(da.rdev, DeviceId { major: 4, minor: 2 });
    for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
        assert_eq!(
            s.create(r, bad, &new_inode(FileType::Regular, 0), t(1))
                .await
                .map(|c| c.attr.ino),
            Err(MetaError::InvalidArgument)
        );
    }
    assert_eq!(
        s.create(f.ino, b"x", &new_inode(FileType::Regular, 0), t(1))
            .await
            .map(|c| c.attr.ino),
        Err(MetaError::NotDirectory)
    );
}

/// `OnExists` variants and exclusive-create verifiers.
pub async fn create_on_exists(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    mk(s, r, "d", FileType::Directory).await;
    let mut n = new_inode(FileType::Regular, 0o600);
    assert_eq!(
        s.create(r, b"f", &n, t(20)).await.map(|c| c.existed),
        Err(MetaError::Exists)
    );
    n.on_exists = OnExists::ReturnRegular;
    let c = s.create(r, b"f", &n, t(20)).await.expect("unchecked");
    assert!(c.existed);
    assert_eq!(c.attr, f);
    assert_eq!(
        s.create(r, b"d", &n, t(20)).await.map(|c| c.existed),
        Err(MetaError::Exists)
    );
    let v = [1, 2, 3, 4, 5, 6, 7, 8];
    n.on_exists = OnExists::ReturnIfVerifier(v);
    n.verifier = Some(v);
    let first = s.create(r, b"x", &n, t(21)).await.expect("exclusive");
    assert!(!first.existed);
    let again = s.create(r, b"x", &n, t(22)).await.expect("retransmission");
    assert!(again.existed);
    assert_eq!(again.attr.ino, first.attr.ino);
    assert_eq!(s.create_verifier(first.attr.ino).await, Ok(Some(v)));
    n.on_exists = OnExists::ReturnIfVerifier([9; 8]);
    assert_eq!(
        s.create(r, b"x", &n, t(22)).await.map(|c| c.existed),
        Err(MetaError::Exists)
    );
    assert_eq!(s.create_verifier(f.ino).await, Ok(None));
}

/// Remove and rmdir: types, emptiness, link counts, expectations, staleness.
pub async fn remove_rules(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    let d = mk(s, r, "d", FileType::Directory).await;
    mk(s, d.ino, "inner", FileType::Regular).await;
    let nd = RemoveKind::NonDirectory;
    let dk = RemoveKind::Directory;
    assert_eq!(
        s.remove(r, b"d", nd, None, t(30)).await.map(|_| ()),
        Err(MetaError::IsDirectory)
    );
    assert_eq!(
        s.remove(r, b"f", dk, None, t(30)).await.map(|_| ()),
        Err(MetaError::NotDirectory)
    );
    assert_eq!(
        s.remove(r, b"d", dk, None, t(30)).await.map(|_| ()),
        Err(MetaError::NotEmpty)
    );
    assert_eq!(
        s.remove(r, b"f", nd, Some(d.ino), t(30)).await.map(|_| ()),
        Err(MetaError::Conflict)
    );
    assert_eq!(
        s.remove(r, b"zz", nd, None, t(30)).await.map(|_| ()),
        Err(MetaError::NoEntry)
    );
    // A second link keeps the file alive.
    s.link(f.ino, d.ino, b"f2", t(31)).await.expect("link");
    let rm = s.remove(r, b"f", nd, Some(f.ino), t(32)).await.expect("rm");
    assert!(!rm.victim.last_link);
    assert_eq!(rm.victim.attr.nlink, 1);
    assert_eq!(rm.victim.attr.ctime, t(32));
    assert_eq!(rm.dir.after.mtime, t(32));
    let rm = s.remove(d.ino, b"f2", nd, None, t(33)).await.expect("rm2");
    assert!(rm.victim.last_link);
    assert_eq!(s.get(f.ino).await, Err(MetaError::NoInode(f.ino)));
    s.remove(d.ino, b"inner", nd, None, t(34))
        .await
        .expect("inner");
    let rm = s.remove(r, b"d", dk, None, t(35)).await.expect("rmdir");
    assert!(rm.victim.last_link);
    assert_eq!(rm.dir.after.nlink, 2);
    assert_eq!(s.get(d.ino).await, Err(MetaError::NoInode(d.ino)));
}

/// The POSIX rename rules, each checked for its error and for leaving things alone.
pub async fn rename_rules(s: &dyn MetadataStore) {
    let r = root(s).await;
    let a = mk(s, r, "a", FileType::Regular).await;
    let b = mk(s, r, "b", FileType::Regular).await;
    let d = mk(s, r, "d", FileType::Directory).await;
    let e = mk(s, r, "e", FileType::Directory).await;
    let full = mk(s, r, "full", FileType::Directory).await;
    mk(s, full.ino, "x", FileType::Regular).await;
    let sub = mk(s, d.ino, "sub", FileType::Directory).await;

    assert_eq!(
        s.rename(rn(r, "d", r, "a"), t(40)).await.map(|_| ()),
        Err(MetaError::NotDirectory)
    );
    assert_eq!(
        s.rename(rn(r, "a", r, "d"), t(40)).await.map(|_| ()),
        Err(MetaError::IsDirectory)
    );
    assert_eq!(
        s.rename(rn(r, "e", r, "full"), t(40)).await.map(|_| ()),
        Err(MetaError::NotEmpty)
    );
    assert_eq!(
        s.rename(rn(r, "d", sub.ino, "x"), t(40)).await.map(|_| ()),
        Err(MetaError::InvalidArgument)
    );
    assert_eq!(
        s.rename(rn(r, "d", d.ino, "x"), t(40)).await.map(|_| ()),
        Err(MetaError::InvalidArgument)
    );
    assert_eq!(
        s.rename(rn(r, "nope", r, "x"), t(40)).await.map(|_| ()),
        Err(MetaError::NoEntry)
    );
    let mut stale = rn(r, "a", r, "b");
    stale.expect_dst = Some(None);
    assert_eq!(
        s.rename(stale, t(40)).await.map(|_| ()),
        Err(MetaError::Conflict)
    );
    assert_eq!(s.lookup(r, b"a").await.expect("a still").ino, a.ino);

    // Over an existing file: the target loses its last link.
    let res = s
        .rename(rn(r, "a", r, "b"), t(41))
        .await
        .expect("over file");
    let replaced = res.replaced.expect("replaced");
    assert_eq!(replaced.attr.ino, b.ino);
    assert!(replaced.last_link);
    assert_eq!(res.moved.ctime, t(41));
    assert_eq!(s.lookup(r, b"b").await.expect("b").ino, a.ino);
    assert_eq!(s.lookup(r, b"a").await, Err(MetaError::NoEntry));
    assert_eq!(s.get(b.ino).await, Err(MetaError::NoInode(b.ino)));

    // Same inode under two names: nothing happens.
    s.link(a.ino, r, b"a2", t(42)).await.expect("link");
    let res = s
        .rename(rn(r, "a2", r, "b"), t(43))
        .await
        .expect("same inode");
    assert!(res.replaced.is_none());
    assert_eq!(s.lookup(r, b"a2").await.expect("a2").ino, a.ino);
    assert_eq!(s.get(a.ino).await.expect("a").nlink, 2);

    // Onto an empty directory; `..` follows.
    let res = s.rename(rn(r, "d", r, "e"), t(44)).await.expect("over dir");
    assert_eq!(res.replaced.expect("e replaced").attr.ino, e.ino);
    assert_eq!(s.get(e.ino).await, Err(MetaError::NoInode(e.ino)));
    assert_eq!(s.lookup(r, b"e").await.expect("e").ino, d.ino);
    // Renaming a name onto itself is a no-op.
    s.rename(rn(r, "e", r, "e"), t(45)).await.expect("self");
    assert_eq!(s.lookup(r, b"e").await.expect("e").ino, d.ino);
}

/// Link counts and `..` when directories move between parents.
pub async fn rename_nlink_accounting(s: &dyn MetadataStore) {
    let r = root(s).await;
    let p = mk(s, r, "p", FileType::Directory).await;
    let q = mk(s, r, "q", FileType::Directory).await;
    let c = mk(s, p.ino, "c", FileType::Directory).await;
    let empty = mk(s, q.ino, "empty", FileType::Directory).await;
    assert_eq!(s.get(p.ino).await.expect("p").nlink, 3);
    assert_eq!(s.get(q.ino).await.expect("q").nlink, 3);
    let res = s
        .rename(rn(p.ino, "c", q.ino, "c"), t(50))
        .await
        .expect("move");
    assert_eq!(res.from_dir.after.nlink, 2);
    assert_eq!(res.to_dir.after.nlink, 4);
    assert_eq!(res.from_dir.after.mtime, t(50));
    assert_eq!(res.to_dir.after.ctime, t(50));
    assert_eq!(s.lookup(c.ino, b"..").await.expect("..").ino, q.ino);
    // Replace an empty dir in the other parent: target parent keeps its count.
    let res = s
        .rename(rn(q.ino, "c", p.ino, "c"), t(51))
        .await
        .expect("back");
    assert_eq!(res.from_dir.after.nlink, 3);
    assert_eq!(res.to_dir.after.nlink, 3);
    let res = s
        .rename(rn(p.ino, "c", q.ino, "empty"), t(52))
        .await
        .expect("over empty");
    assert_eq!(res.replaced.expect("replaced").attr.ino, empty.ino);
    assert_eq!(res.from_dir.after.nlink, 2);
    assert_eq!(res.to_dir.after.nlink, 3);
    // Within one directory over an empty dir: the parent loses one link.
    mk(s, q.ino, "e2", FileType::Directory).await;
    assert_eq!(s.get(q.ino).await.expect("q").nlink, 4);
    let res = s
        .rename(rn(q.ino, "empty", q.ino, "e2"), t(53))
        .await
        .expect("same dir");
    assert_eq!(res.to_dir.after.nlink, 3);
    assert_eq!(s.get(r).await.expect("root").nlink, 4);
    // Files move without touching directory link counts.
    mk(s, p.ino, "f", FileType::Regular).await;
    let res = s
        .rename(rn(p.ino, "f", q.ino, "f"), t(54))
        .await
        .expect("file");
    assert_eq!((res.from_dir.after.nlink, res.to_dir.after.nlink), (2, 3));
}

/// Hard links.
pub async fn link_rules(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    let d = mk(s, r, "d", FileType::Directory).await;
    assert_eq!(
        s.link(d.ino, r, b"d2", t(60)).await.map(|_| ()),
        Err(MetaError::IsDirectory)
    );
    assert_eq!(
        s.link(f.ino, r, b"d", t(60)).await.map(|_| ()),
        Err(MetaError::Exists)
    );
    assert_eq!(
        s.link(f.ino, f.ino, b"x", t(60)).await.map(|_| ()),
        Err(MetaError::NotDirectory)
    );
    let l = s.link(f.ino, d.ino, b"g", t(61)).await.expect("link");
    assert_eq!(l.attr.nlink, 2);
    assert_eq!(l.attr.ctime, t(61));
    assert_eq!(l.dir.after.mtime, t(61));
    assert_eq!(l.dir.after.nlink, 2);
}

/// Attribute changes, guards and the set-id killing rule.
pub async fn set_attr_rules(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    let d = mk(s, r, "d", FileType::Directory).await;
    let mut sl = new_inode(FileType::Symlink, 0o777);
    sl.target = b"t".to_vec();
    let l = s.create(r, b"l", &sl, t(1)).await.expect("symlink").attr;
    let size = AttrChange {
        size: Some(100),
        ..AttrChange::default()
    };
    assert_eq!(
        s.set_attr(d.ino, &size, t(70)).await.map(|_| ()),
        Err(MetaError::IsDirectory)
    );
    assert_eq!(
        s.set_attr(l.ino, &size, t(70)).await.map(|_| ()),
        Err(MetaError::InvalidArgument)
    );
    let (before, after) = s.set_attr(f.ino, &size, t(71)).await.expect("truncate");
    assert_eq!(before.size, 0);
    assert_eq!((after.size, after.ctime), (100, t(71)));
    let grow = AttrChange {
        grow_to: Some(50),
        mtime: Some(t(72)),
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &grow, t(72)).await.expect("grow");
    assert_eq!((after.size, after.mtime), (100, t(72)));
    let guarded = AttrChange {
        mode: Some(0o7755),
        guard_ctime: Some(t(1)),
        ..AttrChange::default()
    };
    assert_eq!(
        s.set_attr(f.ino, &guarded, t(73)).await.map(|_| ()),
        Err(MetaError::NotSync)
    );
    let guarded = AttrChange {
        guard_ctime: Some(t(72)),
        ..guarded
    };
    let (_, after) = s.set_attr(f.ino, &guarded, t(73)).await.expect("chmod");
    assert_eq!(after.mode, 0o7755);
    let kill = AttrChange {
        uid: Some(5),
        gid: Some(6),
        kill_suid_sgid: true,
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &kill, t(74)).await.expect("chown");
    assert_eq!((after.mode, after.uid, after.gid), (0o1755, 5, 6));
    // S_ISGID without group exec is mandatory locking, not set-gid: kept.
    let m = AttrChange {
        mode: Some(0o6744),
        kill_suid_sgid: true,
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &m, t(75)).await.expect("chmod2");
    assert_eq!(after.mode, 0o2744);
    let times = AttrChange {
        atime: Some(t(3)),
        mtime: Some(t(4)),
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &times, t(76)).await.expect("utimes");
    assert_eq!((after.atime, after.mtime, after.ctime), (t(3), t(4), t(76)));
    let (_, after) = s
        .set_attr(f.ino, &AttrChange::default(), t(77))
        .await
        .expect("nothing");
    assert_eq!(after.ctime, t(76));
    assert_eq!(
        s.set_attr(9_999_999, &times, t(1)).await.map(|_| ()),
        Err(MetaError::NoInode(9_999_999))
    );
}

/// READDIR pages continue correctly from any cookie while the directory changes.
pub async fn readdir_stable_cookies(s: &dyn MetadataStore) {
    let r = root(s).await;
    let d = mk(s, r, "big", FileType::Directory).await.ino;
    let n = 10_000;
    let new = new_inode(FileType::Regular, 0o644);
    for i in 0..n {
        s.create(d, format!("f{i}").as_bytes(), &new, t(1))
            .await
            .expect("create");
    }
    let mut seen = BTreeSet::new();
    let mut cookie = 0;
    let mut last_cookie = 0;
    let mut page = 0;
    let mut verifier = None;
    loop {
        let l = s
            .readdir(d, cookie, 97, page % 2 == 0)
            .await
            .expect("readdir");
        assert_eq!(*verifier.get_or_insert(l.verifier), l.verifier);
        assert_eq!(l.parent, r);
        for e in &l.entries {
            assert!(e.cookie > last_cookie && e.cookie >= FIRST_COOKIE);
            last_cookie = e.cookie;
            assert!(seen.insert(e.name.clone()), "entry listed twice");
            if page % 2 == 0 {
                assert_eq!(e.attr.as_ref().map(|a| a.ino), Some(e.ino));
            }
        }
        // Between pages: remove an entry already seen, one not seen yet, and the
        // entry whose cookie we continue from; add a new one.
        let k = page * 3;
        for victim in [format!("f{k}"), format!("f{}", n - 1 - k)] {
            if s.remove(d, victim.as_bytes(), RemoveKind::NonDirectory, None, t(2))
                .await
                .is_ok()
            {
                seen.insert(victim.into_bytes());
            }
        }
        if let Some(last) = l.entries.last() {
            let _ = s
                .remove(d, &last.name, RemoveKind::NonDirectory, None, t(2))
                .await;
            cookie = last.cookie;
        }
        s.create(d, format!("new{page}").as_bytes(), &new, t(3))
            .await
            .expect("add");
        page += 1;
        if l.eof {
            break;
        }
    }
    for i in 0..n {
        assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missed");
    }
    let end = s
        .readdir(d, u64::MAX - 1, 10, false)
        .await
        .expect("past end");
    assert!(end.entries.is_empty() && end.eof);
    assert_eq!(
        s.readdir(9_999_999, 0, 10, false).await.map(|_| ()),
        Err(MetaError::NoInode(9_999_999))
    );
}

/// FSSTAT figures follow creation, size and removal.
pub async fn stat_counts(s: &dyn MetadataStore) {
    let r = root(s).await;
    let before = s.stat().await.expect("stat");
    let f = mk(s, r, "f", FileType::Regular).await;
    let size = AttrChange {
        size: Some(4096),
        ..AttrChange::default()
    };
    s.set_attr(f.ino, &size, t(1)).await.expect("size");
    let mid = s.stat().await.expect("stat");
    assert_eq!(mid.used_files, before.used_files + 1);
    assert_eq!(mid.used_bytes, before.used_bytes + 4096);
    assert!(mid.total_bytes >= mid.used_bytes && mid.total_files >= mid.used_files);
    s.remove(r, b"f", RemoveKind::NonDirectory, None, t(2))
        .await
        .expect("rm");
    assert_eq!(s.stat().await.expect("stat"), before);
}

/// The per-file block map: put replaces and returns the old entry, truncate drops
/// the tail, files are independent.
pub async fn block_map(s: &dyn MetadataStore) {
    use super::BlockRef;
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await.ino;
    let g = mk(s, r, "g", FileType::Regular).await.ino;
    let blk = |i: u64, gen: u64| BlockRef {
        key: format!("k/{i}/{gen}"),
        len: 100 + i,
        generation: gen,
    };
    assert_eq!(s.get_block(f, 0).await.expect("get"), None);
    for i in 0..4 {
        assert_eq!(s.put_block(f, i, blk(i, 1)).await.expect("put"), None);
    }
    s.put_block(g, 0, blk(0, 7)).await.expect("put g");
    assert_eq!(
        s.put_block(f, 2, blk(2, 2)).await.expect("replace"),
        Some(blk(2, 1))
    );
    assert_eq!(s.get_block(f, 2).await.expect("get"), Some(blk(2, 2)));
    let all = s.blocks(f).await.expect("blocks");
    assert_eq!(
        all,
        vec![
            (0, blk(0, 1)),
            (1, blk(1, 1)),
            (2, blk(2, 2)),
            (3, blk(3, 1))
        ]
    );
    let dropped = s.drop_blocks(f, 2).await.expect("drop tail");
    assert_eq!(dropped, vec![(2, blk(2, 2)), (3, blk(3, 1))]);
    assert_eq!(s.blocks(f).await.expect("blocks").len(), 2);
    assert_eq!(s.drop_blocks(f, 0).await.expect("drop all").len(), 2);
    assert!(s.blocks(f).await.expect("blocks").is_empty());
    assert_eq!(s.get_block(g, 0).await.expect("g intact"), Some(blk(0, 7)));
}
