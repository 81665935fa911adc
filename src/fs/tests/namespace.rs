//! Namespace operations: lookup, creation, removal, rename, link.

use super::{env, mode, run, user};
use crate::fs::{
    CreateMode, Cred, DeviceId, FileType, FsError, SetAttr, SpecialKind, LINK_MAX, NAME_LEN_MAX,
};

#[test]
fn lookup_rules() {
    let e = env();
    let root = Cred::root();
    let alice = user(1000, 1000, &[]);
    let d = e.mkdir(&root, e.root, "d", 0o700);
    let f = e.fifo(&root, d.ino, "f", 0o644);
    assert_eq!(
        run(e.fs.lookup(&root, d.ino, b"f")).map(|a| a.ino),
        Ok(f.ino)
    );
    assert_eq!(
        run(e.fs.lookup(&alice, d.ino, b"f")),
        Err(FsError::AccessDenied)
    );
    assert_eq!(
        run(e.fs.lookup(&root, f.ino, b"x")),
        Err(FsError::NotDirectory)
    );
    assert_eq!(
        run(e.fs.lookup(&root, d.ino, b"nope")),
        Err(FsError::NotFound)
    );
    assert_eq!(
        run(e.fs.lookup(&root, d.ino, b".")).map(|a| a.ino),
        Ok(d.ino)
    );
    assert_eq!(
        run(e.fs.lookup(&root, d.ino, b"..")).map(|a| a.ino),
        Ok(e.root)
    );
    assert_eq!(
        run(e.fs.lookup(&root, e.root, b"..")).map(|a| a.ino),
        Ok(e.root)
    );
    let long = vec![b'a'; NAME_LEN_MAX + 1];
    assert_eq!(
        run(e.fs.lookup(&root, d.ino, &long)),
        Err(FsError::NameTooLong)
    );
}

#[test]
fn ownership_and_setgid_inheritance() {
    let e = env();
    let alice = user(1000, 100, &[200]);
    let f = e.file(&alice, e.root, "f", 0o640);
    assert_eq!((f.uid, f.gid, f.mode, f.nlink), (1000, 100, 0o640, 1));
    let defaults = run(e.fs.create(
        &alice,
        e.root,
        b"g",
        CreateMode::Guarded,
        &SetAttr::default(),
    ))
    .expect("create")
    .attr;
    assert_eq!(defaults.mode, 0o644);
    let sg = e.mkdir(&Cred::root(), e.root, "sg", 0o777);
    run(e.fs.setattr(
        &Cred::root(),
        sg.ino,
        &SetAttr {
            gid: Some(300),
            mode: Some(0o2777),
            ..SetAttr::default()
        },
        None,
    ))
    .expect("chgrp");
    let sub = e.mkdir(&alice, sg.ino, "sub", 0o755);
    assert_eq!((sub.gid, sub.mode), (300, 0o2755));
    let inner = e.file(&alice, sg.ino, "x", 0o2755);
    assert_eq!(
        (inner.gid, inner.mode),
        (300, 0o755),
        "non-member loses S_ISGID"
    );
    let parent = e.get(e.root);
    assert_eq!(parent.nlink, 3);
    assert_eq!(e.get(sg.ino).nlink, 3);
}

#[test]
fn creation_needs_write_and_search_on_dir() {
    let e = env();
    let root = Cred::root();
    let alice = user(1000, 1000, &[]);
    let ro = e.mkdir(&root, e.root, "ro", 0o755);
    let noexec = e.mkdir(&root, e.root, "nx", 0o776);
    for dir in [ro.ino, noexec.ino] {
        assert_eq!(
            run(e.fs.mkdir(&alice, dir, b"x", &mode(0o755))).map(|_| ()),
            Err(FsError::AccessDenied)
        );
        assert_eq!(
            run(e
                .fs
                .create(&alice, dir, b"x", CreateMode::Guarded, &mode(0o644)))
            .map(|_| ()),
            Err(FsError::AccessDenied)
        );
    }
    let group = user(1000, 1000, &[0]);
    let gw = e.mkdir(&root, e.root, "gw", 0o770);
    e.fifo(&group, gw.ino, "ok", 0o644);
    assert_eq!(
        run(e.fs.mknod(
            &alice,
            e.root,
            b"c",
            SpecialKind::Char(DeviceId::default()),
            &mode(0o600)
        ))
        .map(|_| ()),
        Err(FsError::NotPermitted)
    );
    let dev = DeviceId { major: 1, minor: 3 };
    let c = run(e
        .fs
        .mknod(&root, e.root, b"c", SpecialKind::Block(dev), &mode(0o600)))
    .expect("mknod")
    .attr;
    assert_eq!((c.ftype, c.rdev), (FileType::BlockDevice, dev));
}

#[test]
fn create_modes() {
    let e = env();
    let alice = user(1000, 1000, &[]);
    let f = e.file(&alice, e.root, "f", 0o644);
    let again = run(e
        .fs
        .create(&alice, e.root, b"f", CreateMode::Guarded, &mode(0o600)));
    assert_eq!(again.map(|c| c.attr.ino), Err(FsError::Exists));
    let unchecked = run(e
        .fs
        .create(&alice, e.root, b"f", CreateMode::Unchecked, &mode(0o600)))
    .expect("unchecked");
    assert_eq!((unchecked.attr.ino, unchecked.attr.mode), (f.ino, 0o644));
    e.mkdir(&alice, e.root, "d", 0o755);
    assert_eq!(
        run(e
            .fs
            .create(&alice, e.root, b"d", CreateMode::Unchecked, &mode(0o600)))
        .map(|_| ()),
        Err(FsError::Exists)
    );
    let v = [7; 8];
    let how = CreateMode::Exclusive(v);
    let first = run(e.fs.create(&alice, e.root, b"x", how, &SetAttr::default())).expect("excl");
    let retry = run(e.fs.create(&alice, e.root, b"x", how, &SetAttr::default())).expect("retry");
    assert_eq!(first.attr.ino, retry.attr.ino);
    let other = CreateMode::Exclusive([8; 8]);
    assert_eq!(
        run(e
            .fs
            .create(&alice, e.root, b"x", other, &SetAttr::default()))
        .map(|_| ()),
        Err(FsError::Exists)
    );
    assert_eq!(
        run(e
            .fs
            .create(&alice, e.root, b"f", other, &SetAttr::default()))
        .map(|_| ()),
        Err(FsError::Exists)
    );
}

#[test]
fn name_rules() {
    let e = env();
    let root = Cred::root();
    let long = vec![b'n'; NAME_LEN_MAX + 1];
    let ok = vec![b'n'; NAME_LEN_MAX];
    for (name, err) in [
        (&b""[..], FsError::InvalidArgument),
        (b"a/b", FsError::InvalidArgument),
        (b"a\0b", FsError::InvalidArgument),
        (b".", FsError::InvalidArgument),
        (b"..", FsError::InvalidArgument),
        (&long, FsError::NameTooLong),
    ] {
        assert_eq!(
            run(e.fs.mkdir(&root, e.root, name, &mode(0o755))).map(|_| ()),
            Err(err.clone())
        );
        assert_eq!(
            run(e.fs.rename(&root, e.root, name, e.root, b"x")),
            Err(err.clone())
        );
    }
    e.mkdir(
        &root,
        e.root,
        std::str::from_utf8(&ok).unwrap_or("x"),
        0o755,
    );
    assert_eq!(
        run(e.fs.rmdir(&root, e.root, b".")),
        Err(FsError::InvalidArgument)
    );
    assert_eq!(
        run(e.fs.rmdir(&root, e.root, b"..")),
        Err(FsError::NotEmpty)
    );
    assert_eq!(
        run(e.fs.remove(&root, e.root, b"..")),
        Err(FsError::InvalidArgument)
    );
    assert_eq!(
        run(e.fs.symlink(&root, e.root, b"l", b"", &SetAttr::default())).map(|_| ()),
        Err(FsError::NotFound)
    );
    let long_target = vec![b't'; crate::fs::SYMLINK_LEN_MAX + 1];
    assert_eq!(
        run(e
            .fs
            .symlink(&root, e.root, b"l", &long_target, &SetAttr::default()))
        .map(|_| ()),
        Err(FsError::NameTooLong)
    );
}

#[test]
fn remove_and_rmdir() {
    let e = env();
    let root = Cred::root();
    let d = e.mkdir(&root, e.root, "d", 0o755);
    let f = e.fifo(&root, d.ino, "f", 0o644);
    run(e.fs.link(&root, f.ino, e.root, b"f2")).expect("link");
    assert_eq!(run(e.fs.rmdir(&root, e.root, b"d")), Err(FsError::NotEmpty));
    assert_eq!(
        run(e.fs.rmdir(&root, d.ino, b"f")),
        Err(FsError::NotDirectory)
    );
    assert_eq!(
        run(e.fs.remove(&root, e.root, b"d")),
        Err(FsError::IsDirectory)
    );
    assert_eq!(
        run(e.fs.remove(&root, e.root, b"zz")),
        Err(FsError::NotFound)
    );
    let before = e.get(f.ino);
    let w = run(e.fs.remove(&root, d.ino, b"f")).expect("remove");
    let after = e.get(f.ino);
    assert_eq!(after.nlink, 1);
    assert!(after.ctime >= before.ctime);
    assert_eq!(
        w.after.as_ref().map(|a| a.mtime >= before.ctime),
        Some(true)
    );
    run(e.fs.rmdir(&root, e.root, b"d")).expect("rmdir");
    assert_eq!(e.get(e.root).nlink, 2);
    assert_eq!(run(e.fs.getattr(d.ino, None)), Err(FsError::Stale));
    assert_eq!(
        run(e.fs.mkdir(&root, d.ino, b"x", &mode(0o755))).map(|_| ()),
        Err(FsError::Stale)
    );
    run(e.fs.remove(&root, e.root, b"f2")).expect("last link");
    assert_eq!(run(e.fs.getattr(f.ino, None)), Err(FsError::Stale));
}

#[test]
fn sticky_directories() {
    let e = env();
    let root = Cred::root();
    let (alice, bob, owner) = (user(1001, 1, &[]), user(1002, 1, &[]), user(1003, 1, &[]));
    let t = e.mkdir(&root, e.root, "tmp", 0o777);
    run(e.fs.setattr(
        &root,
        t.ino,
        &SetAttr {
            uid: Some(1003),
            mode: Some(0o1777),
            ..SetAttr::default()
        },
        None,
    ))
    .expect("sticky");
    for n in ["a1", "a2", "a3", "a4"] {
        e.fifo(&alice, t.ino, n, 0o666);
    }
    e.fifo(&bob, t.ino, "b", 0o666);
    assert_eq!(
        run(e.fs.remove(&bob, t.ino, b"a1")),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        run(e.fs.rename(&bob, t.ino, b"a1", t.ino, b"z")),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        run(e.fs.rename(&alice, t.ino, b"a1", t.ino, b"b")),
        Err(FsError::NotPermitted),
        "replacing someone else's entry"
    );
    run(e.fs.remove(&alice, t.ino, b"a1")).expect("own file");
    run(e.fs.remove(&owner, t.ino, b"a2")).expect("dir owner");
    run(e.fs.remove(&root, t.ino, b"a3")).expect("root");
    run(e.fs.rename(&bob, t.ino, b"b", t.ino, b"b2")).expect("own rename");
}

#[test]
fn rename_rules() {
    let e = env();
    let root = Cred::root();
    let a = e.mkdir(&root, e.root, "a", 0o755);
    let b = e.mkdir(&root, e.root, "b", 0o755);
    let sub = e.mkdir(&root, a.ino, "sub", 0o755);
    let empty = e.mkdir(&root, b.ino, "empty", 0o755);
    e.mkdir(&root, b.ino, "full", 0o755);
    let full = e.lookup(b.ino, "full").expect("full");
    e.fifo(&root, full.ino, "x", 0o644);
    let f = e.fifo(&root, e.root, "f", 0o644);
    let g = e.fifo(&root, e.root, "g", 0o644);
    let r = e.root;
    assert_eq!(
        run(e.fs.rename(&root, r, b"a", sub.ino, b"x")),
        Err(FsError::InvalidArgument)
    );
    assert_eq!(
        run(e.fs.rename(&root, r, b"a", a.ino, b"x")),
        Err(FsError::InvalidArgument)
    );
    assert_eq!(
        run(e.fs.rename(&root, r, b"a", r, b"f")),
        Err(FsError::NotDirectory)
    );
    assert_eq!(
        run(e.fs.rename(&root, r, b"f", r, b"a")),
        Err(FsError::IsDirectory)
    );
    assert_eq!(
        run(e.fs.rename(&root, a.ino, b"sub", b.ino, b"full")),
        Err(FsError::NotEmpty)
    );
    assert_eq!(
        run(e.fs.rename(&root, r, b"nope", r, b"x")),
        Err(FsError::NotFound)
    );
    // Over a file: the target inode is gone.
    run(e.fs.rename(&root, r, b"f", r, b"g")).expect("over file");
    assert_eq!(e.lookup(r, "g").map(|x| x.ino), Some(f.ino));
    assert_eq!(run(e.fs.getattr(g.ino, None)), Err(FsError::Stale));
    // Same inode: no-op.
    run(e.fs.link(&root, f.ino, r, b"h")).expect("link");
    run(e.fs.rename(&root, r, b"g", r, b"h")).expect("same inode");
    assert!(e.lookup(r, "g").is_some() && e.lookup(r, "h").is_some());
    // Directory across parents, over an empty directory: counts and `..` follow.
    let (a_links, b_links) = (e.get(a.ino).nlink, e.get(b.ino).nlink);
    let (wa, wb) = run(e.fs.rename(&root, a.ino, b"sub", b.ino, b"empty")).expect("over dir");
    assert_eq!(wa.after.map(|x| x.nlink), Some(a_links - 1));
    assert_eq!(wb.after.map(|x| x.nlink), Some(b_links));
    assert_eq!(run(e.fs.getattr(empty.ino, None)), Err(FsError::Stale));
    assert_eq!(e.lookup(sub.ino, "..").map(|x| x.ino), Some(b.ino));
    assert!(e.get(sub.ino).ctime >= e.get(sub.ino).btime);
}

#[test]
fn moving_a_directory_needs_write_on_it() {
    let e = env();
    let root = Cred::root();
    let alice = user(1000, 1000, &[]);
    let p = e.mkdir(&alice, e.root, "p", 0o755);
    let q = e.mkdir(&alice, e.root, "q", 0o755);
    let d = e.mkdir(&alice, p.ino, "d", 0o555);
    assert_eq!(
        run(e.fs.rename(&alice, p.ino, b"d", q.ino, b"d")),
        Err(FsError::AccessDenied)
    );
    run(e.fs.rename(&alice, p.ino, b"d", p.ino, b"d2")).expect("same parent is fine");
    run(e.fs.rename(&root, p.ino, b"d2", q.ino, b"d")).expect("root may");
    assert_eq!(e.lookup(d.ino, "..").map(|x| x.ino), Some(q.ino));
    let bob = user(1001, 1001, &[]);
    assert_eq!(
        run(e.fs.rename(&bob, q.ino, b"d", p.ino, b"d")),
        Err(FsError::AccessDenied),
        "no write on the source directory"
    );
}

#[test]
fn link_rules() {
    let e = env();
    let root = Cred::root();
    let d = e.mkdir(&root, e.root, "d", 0o755);
    let f = e.fifo(&root, e.root, "f", 0o644);
    assert_eq!(
        run(e.fs.link(&root, d.ino, e.root, b"d2")).map(|_| ()),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        run(e.fs.link(&root, f.ino, e.root, b"d")).map(|_| ()),
        Err(FsError::Exists)
    );
    assert_eq!(
        run(e.fs.link(&user(5, 5, &[]), f.ino, d.ino, b"x")).map(|_| ()),
        Err(FsError::AccessDenied)
    );
    let before = e.get(f.ino);
    let (attr, w) = run(e.fs.link(&root, f.ino, d.ino, b"x")).expect("link");
    assert_eq!(attr.nlink, 2);
    assert!(attr.ctime >= before.ctime);
    assert!(w.after.is_some() && w.before.is_some());
    for i in 2..LINK_MAX {
        run(e.fs.link(&root, f.ino, d.ino, format!("l{i}").as_bytes())).expect("link");
    }
    assert_eq!(e.get(f.ino).nlink, LINK_MAX);
    assert_eq!(
        run(e.fs.link(&root, f.ino, d.ino, b"one-more")).map(|_| ()),
        Err(FsError::TooManyLinks)
    );
}

#[test]
fn read_only_share_refuses_every_change() {
    let e = env();
    let root = Cred::root();
    let f = e.fifo(&root, e.root, "f", 0o644);
    let r = e.root;
    let fs = &e.ro;
    assert_eq!(
        run(fs.create(&root, r, b"x", CreateMode::Guarded, &mode(0o644))).map(|_| ()),
        Err(FsError::ReadOnly)
    );
    assert_eq!(
        run(fs.mkdir(&root, r, b"x", &mode(0o755))).map(|_| ()),
        Err(FsError::ReadOnly)
    );
    assert_eq!(
        run(fs.symlink(&root, r, b"x", b"t", &SetAttr::default())).map(|_| ()),
        Err(FsError::ReadOnly)
    );
    assert_eq!(
        run(fs.mknod(&root, r, b"x", SpecialKind::Fifo, &mode(0o644))).map(|_| ()),
        Err(FsError::ReadOnly)
    );
    assert_eq!(run(fs.remove(&root, r, b"f")), Err(FsError::ReadOnly));
    assert_eq!(run(fs.rmdir(&root, r, b"f")), Err(FsError::ReadOnly));
    assert_eq!(
        run(fs.rename(&root, r, b"f", r, b"g")),
        Err(FsError::ReadOnly)
    );
    assert_eq!(
        run(fs.link(&root, f.ino, r, b"g")).map(|_| ()),
        Err(FsError::ReadOnly)
    );
    assert_eq!(
        run(fs.setattr(&root, f.ino, &mode(0o600), None)),
        Err(FsError::ReadOnly)
    );
    assert_eq!(
        run(fs.write(
            &root,
            f.ino,
            0,
            bytes::Bytes::from_static(b"x"),
            crate::fs::Stability::Unstable
        ))
        .map(|_| ()),
        Err(FsError::ReadOnly)
    );
    assert_eq!(run(fs.lookup(&root, r, b"f")).map(|a| a.ino), Ok(f.ino));
}

#[test]
fn stale_handles() {
    let e = env();
    let root = Cred::root();
    let f = e.fifo(&root, e.root, "f", 0o644);
    assert_eq!(run(e.fs.getattr(f.ino, Some(f.generation))), Ok(f.clone()));
    assert_eq!(
        run(e.fs.getattr(f.ino, Some(f.generation + 1))),
        Err(FsError::Stale)
    );
    assert_eq!(run(e.fs.getattr(987_654, None)), Err(FsError::Stale));
    // A new store (a restart of the memory store) invalidates old handles even
    // though inode numbers repeat.
    let e2 = env();
    let f2 = e2.fifo(&root, e2.root, "f", 0o644);
    assert_eq!(f2.ino, f.ino);
    assert_eq!(
        run(e2.fs.getattr(f.ino, Some(f.generation))),
        Err(FsError::Stale)
    );
}
