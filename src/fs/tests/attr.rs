//! SETATTR permission rules, ACCESS, READLINK, FSSTAT.

use super::{env, mode, run, user};
use crate::fs::{access, Cred, FsError, SetAttr, SetTime, Timespec};

fn chown(uid: Option<u32>, gid: Option<u32>) -> SetAttr {
    SetAttr {
        uid,
        gid,
        ..SetAttr::default()
    }
}

#[test]
fn chmod_rules() {
    let e = env();
    let alice = user(1000, 100, &[]);
    let bob = user(1001, 100, &[]);
    let f = e.fifo(&alice, e.root, "f", 0o644);
    assert_eq!(
        run(e.fs.setattr(&bob, f.ino, &mode(0o777), None)).map(|_| ()),
        Err(FsError::NotPermitted)
    );
    let w = run(e.fs.setattr(&alice, f.ino, &mode(0o4755), None)).expect("owner chmod");
    let after = w.after.expect("after");
    assert_eq!(after.mode, 0o4755);
    assert!(after.ctime >= f.ctime);
    assert_eq!(w.before.map(|b| b.ctime), Some(f.ctime));
    run(e
        .fs
        .setattr(&Cred::root(), f.ino, &chown(None, Some(500)), None))
    .expect("chgrp");
    let w = run(e.fs.setattr(&alice, f.ino, &mode(0o2755), None)).expect("chmod g+s");
    assert_eq!(
        w.after.map(|a| a.mode),
        Some(0o755),
        "not in the file's group"
    );
    let w = run(e.fs.setattr(&Cred::root(), f.ino, &mode(0o2755), None)).expect("root");
    assert_eq!(w.after.map(|a| a.mode), Some(0o2755));
    let d = e.mkdir(&alice, e.root, "d", 0o755);
    let w = run(e.fs.setattr(&alice, d.ino, &mode(0o1777), None)).expect("sticky dir");
    assert_eq!(w.after.map(|a| a.mode), Some(0o1777));
}

#[test]
fn chown_rules() {
    let e = env();
    let root = Cred::root();
    let alice = user(1000, 100, &[200]);
    let bob = user(1001, 100, &[200]);
    let f = e.file(&alice, e.root, "f", 0o644);
    assert_eq!(
        run(e.fs.setattr(&alice, f.ino, &chown(Some(1001), None), None)).map(|_| ()),
        Err(FsError::NotPermitted)
    );
    run(e.fs.setattr(&alice, f.ino, &chown(Some(1000), None), None)).expect("uid to itself");
    run(e.fs.setattr(&alice, f.ino, &chown(None, Some(200)), None)).expect("to own group");
    assert_eq!(
        run(e.fs.setattr(&alice, f.ino, &chown(None, Some(300)), None)).map(|_| ()),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        run(e.fs.setattr(&bob, f.ino, &chown(None, Some(100)), None)).map(|_| ()),
        Err(FsError::NotPermitted),
        "not the owner"
    );
    assert_eq!(
        run(e.fs.setattr(&bob, f.ino, &chown(Some(1000), None), None)).map(|_| ()),
        Err(FsError::NotPermitted)
    );
    // chown of a non-directory clears S_ISUID, and S_ISGID when group-exec is set.
    run(e.fs.setattr(&root, f.ino, &mode(0o6755), None)).expect("set-id");
    let w = run(e.fs.setattr(&root, f.ino, &chown(Some(5), Some(6)), None)).expect("chown");
    let a = w.after.expect("after");
    assert_eq!((a.uid, a.gid, a.mode), (5, 6, 0o755));
    run(e.fs.setattr(&root, f.ino, &mode(0o6744), None)).expect("set-id no g+x");
    let w = run(e.fs.setattr(&root, f.ino, &chown(None, Some(7)), None)).expect("chgrp");
    assert_eq!(w.after.map(|a| a.mode), Some(0o2744));
    let d = e.mkdir(&root, e.root, "d", 0o6755);
    let w = run(e.fs.setattr(&root, d.ino, &chown(Some(9), None), None)).expect("dir");
    assert_eq!(
        w.after.map(|a| a.mode),
        Some(0o6755),
        "directories keep them"
    );
}

#[test]
fn size_and_time_rules() {
    let e = env();
    let alice = user(1000, 100, &[]);
    let bob = user(1001, 100, &[]);
    let d = e.mkdir(&alice, e.root, "d", 0o755);
    let f = e.fifo(&alice, e.root, "f", 0o644);
    let size = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    assert_eq!(
        run(e.fs.setattr(&alice, d.ino, &size, None)).map(|_| ()),
        Err(FsError::IsDirectory)
    );
    assert_eq!(
        run(e.fs.setattr(&alice, f.ino, &size, None)).map(|_| ()),
        Err(FsError::InvalidArgument)
    );
    let now = SetAttr {
        atime: SetTime::ServerNow,
        mtime: SetTime::ServerNow,
        ..SetAttr::default()
    };
    let t = Timespec { sec: 1234, nsec: 5 };
    let explicit = SetAttr {
        atime: SetTime::Client(t),
        mtime: SetTime::Client(t),
        ..SetAttr::default()
    };
    assert_eq!(
        run(e.fs.setattr(&bob, f.ino, &now, None)).map(|_| ()),
        Err(FsError::AccessDenied)
    );
    run(e.fs.setattr(&alice, f.ino, &mode(0o666), None)).expect("chmod");
    run(e.fs.setattr(&bob, f.ino, &now, None)).expect("writer may touch");
    assert_eq!(
        run(e.fs.setattr(&bob, f.ino, &explicit, None)).map(|_| ()),
        Err(FsError::NotPermitted)
    );
    let w = run(e.fs.setattr(&alice, f.ino, &explicit, None)).expect("owner");
    let a = w.after.expect("after");
    assert_eq!((a.atime, a.mtime), (t, t));
    run(e.fs.setattr(&Cred::root(), f.ino, &explicit, None)).expect("root");
    // Guard.
    let wrong = Timespec { sec: 1, nsec: 0 };
    assert_eq!(
        run(e.fs.setattr(&alice, f.ino, &mode(0o600), Some(wrong))),
        Err(FsError::NotSync)
    );
    let current = e.get(f.ino).ctime;
    run(e.fs.setattr(&alice, f.ino, &mode(0o600), Some(current))).expect("guard ok");
    // An empty SETATTR changes nothing, not even ctime.
    let before = e.get(f.ino);
    run(e.fs.setattr(&bob, f.ino, &SetAttr::default(), None)).expect("empty");
    assert_eq!(e.get(f.ino), before);
}

#[test]
fn access_bits() {
    let e = env();
    let root = Cred::root();
    let alice = user(1000, 100, &[]);
    let other = user(2000, 2000, &[]);
    let all = access::READ
        | access::LOOKUP
        | access::MODIFY
        | access::EXTEND
        | access::DELETE
        | access::EXECUTE;
    let f = e.fifo(&alice, e.root, "f", 0o754);
    let d = e.mkdir(&alice, e.root, "d", 0o751);
    let got = |c: &Cred, ino| run(e.fs.access(c, ino, all)).map(|(g, _)| g);
    assert_eq!(
        got(&alice, f.ino),
        Ok(access::READ | access::MODIFY | access::EXTEND | access::EXECUTE)
    );
    assert_eq!(
        got(&user(1, 100, &[]), f.ino),
        Ok(access::READ | access::EXECUTE)
    );
    assert_eq!(got(&other, f.ino), Ok(access::READ));
    assert_eq!(
        got(&alice, d.ino),
        Ok(access::READ | access::LOOKUP | access::MODIFY | access::EXTEND | access::DELETE)
    );
    assert_eq!(got(&other, d.ino), Ok(access::LOOKUP));
    assert_eq!(got(&root, d.ino), Ok(all & !access::EXECUTE));
    let plain = e.fifo(&alice, e.root, "p", 0o644);
    assert_eq!(
        got(&root, plain.ino),
        Ok(access::READ | access::MODIFY | access::EXTEND)
    );
    assert_eq!(
        run(e.ro.access(&alice, f.ino, all)).map(|(g, _)| g),
        Ok(access::READ | access::EXECUTE)
    );
    assert_eq!(
        run(e.fs.access(&alice, f.ino, access::READ)).map(|(g, _)| g),
        Ok(access::READ)
    );
}

#[test]
fn readlink_and_fsstat() {
    let e = env();
    let root = Cred::root();
    let l = run(e
        .fs
        .symlink(&root, e.root, b"l", b"../target", &SetAttr::default()))
    .expect("symlink")
    .attr;
    assert_eq!((l.mode, l.size), (0o777, 9));
    let (target, attr) = run(e.fs.readlink(&root, l.ino)).expect("readlink");
    assert_eq!((target.as_slice(), attr.ino), (&b"../target"[..], l.ino));
    let f = e.fifo(&root, e.root, "f", 0o644);
    assert_eq!(
        run(e.fs.readlink(&root, f.ino)).map(|_| ()),
        Err(FsError::InvalidArgument)
    );
    let s = run(e.fs.fsstat()).expect("fsstat");
    assert!(s.total_bytes > 0 && s.free_bytes <= s.total_bytes);
    assert!(s.free_files + 3 <= s.total_files);
    assert_eq!((s.avail_bytes, s.avail_files), (s.free_bytes, s.free_files));
}
