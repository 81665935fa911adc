//! READ, WRITE, COMMIT and truncation, through a single-shard router.

use bytes::Bytes;

use super::{env, run, user};
use crate::fs::{Cred, FsError, SetAttr, Stability};

#[test]
fn type_checks_before_content() {
    let e = env();
    let root = Cred::root();
    let d = e.mkdir(&root, e.root, "d", 0o755);
    let f = e.fifo(&root, e.root, "f", 0o666);
    let data = || Bytes::from_static(b"x");
    assert_eq!(
        run(e.fs.read(&root, d.ino, 0, 10)).map(|_| ()),
        Err(FsError::IsDirectory)
    );
    assert_eq!(
        run(e.fs.read(&root, f.ino, 0, 10)).map(|_| ()),
        Err(FsError::InvalidArgument)
    );
    assert_eq!(
        run(e.fs.write(&root, d.ino, 0, data(), Stability::Unstable)).map(|_| ()),
        Err(FsError::IsDirectory)
    );
    assert_eq!(
        run(e.fs.write(&root, f.ino, 0, data(), Stability::Unstable)).map(|_| ()),
        Err(FsError::InvalidArgument)
    );
    let alice = user(1000, 1000, &[]);
    let g = e.file(&root, e.root, "g", 0o600);
    assert_eq!(
        run(e.fs.read(&alice, g.ino, 0, 10)).map(|_| ()),
        Err(FsError::AccessDenied)
    );
    assert_eq!(
        run(e.fs.write(&alice, g.ino, 0, data(), Stability::Unstable)).map(|_| ()),
        Err(FsError::AccessDenied)
    );
    assert_eq!(
        run(e
            .fs
            .write(&root, g.ino, u64::MAX, data(), Stability::Unstable))
        .map(|_| ()),
        Err(FsError::FileTooLarge)
    );
    // Reading an empty file needs no content.
    let r = run(e
        .fs
        .read(&alice, e.file(&alice, e.root, "h", 0o000).ino, 0, 10))
    .expect("owner");
    assert!(r.eof && r.data.is_empty());
}

#[test]
fn write_read_roundtrip() {
    let e = env();
    let alice = user(1000, 1000, &[]);
    let f = e.file(&alice, e.root, "f", 0o644);
    let w = run(e.fs.write(
        &alice,
        f.ino,
        10,
        Bytes::from_static(b"hello"),
        Stability::Unstable,
    ))
    .expect("write");
    assert_eq!((w.count, w.committed), (5, Stability::Unstable));
    let a = w.wcc.after.expect("after");
    assert_eq!(a.size, 15);
    assert!(a.mtime >= f.mtime && a.ctime >= f.ctime);
    let r = run(e.fs.read(&alice, f.ino, 8, 100)).expect("read");
    assert_eq!(&r.data[..], b"\0\0hello");
    assert!(r.eof);
    let r = run(e.fs.read(&alice, f.ino, 0, 4)).expect("read");
    assert_eq!((r.data.len(), r.eof), (4, false));
    let w = run(e.fs.write(
        &alice,
        f.ino,
        0,
        Bytes::from_static(b"A"),
        Stability::DataSync,
    ))
    .expect("stable write");
    assert_eq!(w.committed, Stability::FileSync);
    assert_eq!(w.wcc.after.map(|a| a.size), Some(15));
    run(e.fs.commit(&alice, f.ino)).expect("commit");
    // Owner override: the owner writes and reads a 0000 file.
    run(e.fs.setattr(&alice, f.ino, &super::mode(0o000), None)).expect("chmod");
    run(e.fs.write(
        &alice,
        f.ino,
        0,
        Bytes::from_static(b"B"),
        Stability::Unstable,
    ))
    .expect("owner write");
    assert_eq!(
        &run(e.fs.read(&alice, f.ino, 0, 1)).expect("read").data[..],
        b"B"
    );
}

#[test]
fn truncate_and_privilege_clearing() {
    let e = env();
    let root = Cred::root();
    let bob = user(1001, 1001, &[]);
    let f = e.file(&root, e.root, "f", 0o6777);
    run(e.fs.write(
        &root,
        f.ino,
        0,
        Bytes::from_static(b"0123456789"),
        Stability::Unstable,
    ))
    .expect("write");
    assert_eq!(e.get(f.ino).mode, 0o6777, "root's writes keep set-id bits");
    run(e.fs.write(
        &bob,
        f.ino,
        0,
        Bytes::from_static(b"x"),
        Stability::Unstable,
    ))
    .expect("write");
    assert_eq!(e.get(f.ino).mode, 0o0777);
    let size = SetAttr {
        size: Some(3),
        ..SetAttr::default()
    };
    let w = run(e.fs.setattr(&bob, f.ino, &size, None)).expect("truncate");
    assert_eq!(w.after.map(|a| a.size), Some(3));
    let r = run(e.fs.read(&bob, f.ino, 0, 100)).expect("read");
    assert_eq!(&r.data[..], b"x12");
    // UNCHECKED create with size 0 truncates an existing file (O_TRUNC).
    let c = run(e.fs.create(
        &bob,
        e.root,
        b"f",
        crate::fs::CreateMode::Unchecked,
        &SetAttr {
            size: Some(0),
            ..SetAttr::default()
        },
    ))
    .expect("o_trunc");
    assert_eq!((c.attr.ino, c.attr.size), (f.ino, 0));
    // Removing the last link drops the content.
    run(e.fs.remove(&root, e.root, b"f")).expect("remove");
}

#[test]
fn zero_range_and_data_ranges() {
    let e = env();
    let alice = user(1000, 1000, &[]);
    let bob = user(1001, 1001, &[]);
    let f = e.file(&alice, e.root, "sparse", 0o644);
    let kib = 1024u64;
    let write = |off: u64, len: u64, b: u8| {
        run(e.fs.write(
            &alice,
            f.ino,
            off,
            Bytes::from(vec![b; len as usize]),
            Stability::Unstable,
        ))
        .expect("write");
    };
    write(0, 16 * kib, 0xAB);
    write(32 * kib, 8 * kib, 0xCD); // 16..32 KiB never written
    let ranges = |off, len| run(e.fs.data_ranges(f.ino, off, len, 4096, 100)).expect("ranges");
    assert_eq!(ranges(0, 1 << 20), vec![(0, 16 * kib), (32 * kib, 8 * kib)]);
    assert_eq!(ranges(100, 20 * kib), vec![(100, 16 * kib - 100)]);
    assert_eq!(ranges(40 * kib, 4096), vec![], "past EOF");

    assert_eq!(
        run(e.fs.zero_range(&bob, f.ino, 0, 4096)),
        Err(FsError::AccessDenied)
    );
    // Clipped to EOF: the file does not grow.
    assert_eq!(
        run(e.fs.zero_range(&alice, f.ino, 4 * kib, 1 << 30)),
        Ok(36 * kib)
    );
    assert_eq!(ranges(0, 1 << 20), vec![(0, 4 * kib)]);
    let a = run(e.fs.getattr(f.ino, None)).expect("getattr");
    assert_eq!(a.size, 40 * kib);
    let r = run(e.fs.read(&alice, f.ino, 0, 8192)).expect("read");
    assert!(r.data[..4096].iter().all(|&b| b == 0xAB));
    assert!(r.data[4096..].iter().all(|&b| b == 0));
    // A partly zeroed granule still holds data; at most `ranges_max` ranges.
    run(e.fs.zero_range(&alice, f.ino, 0, 100)).expect("zero");
    assert_eq!(ranges(0, 1 << 20), vec![(0, 4 * kib)]);
    write(8 * kib, 4096, 1);
    assert_eq!(
        run(e.fs.data_ranges(f.ino, 0, 1 << 20, 4096, 1)).expect("ranges"),
        vec![(0, 4 * kib)]
    );
    assert_eq!(
        run(e.fs.zero_range(&alice, f.ino, 50 * kib, 60 * kib)),
        Ok(0)
    );
}

#[test]
fn smb_writes_keep_mtime_stamp_ctime_once_per_tick_and_always_grow() {
    let e = env();
    let alice = user(1000, 1000, &[]);
    let f = e.file(&alice, e.root, "f", 0o644);
    let w = |off: u64, data: &'static [u8]| {
        run(e.fs.write_keep_mtime(
            &alice,
            f.ino,
            off,
            Bytes::from_static(data),
            Stability::Unstable,
        ))
        .expect("write")
    };
    let stat = || run(e.fs.getattr(f.ino, None)).expect("getattr");
    // mtime is left to the caller (SMB's delayed write time); ctime moves.
    let old = crate::fs::Timespec {
        sec: 1_000,
        nsec: 0,
    };
    let set = SetAttr {
        mtime: crate::fs::SetTime::Client(old),
        ..SetAttr::default()
    };
    run(e.fs.setattr(&alice, f.ino, &set, None)).expect("set mtime");
    assert_eq!(stat().mtime, old);
    let set_ctime = stat().ctime;
    w(0, b"hello");
    let a = stat();
    assert_eq!(a.size, 5);
    assert_eq!(a.mtime, old);
    assert!(a.ctime >= set_ctime);
    // Growing always reaches the store, whatever the stamps.
    w(5, b"world");
    assert_eq!(stat().size, 10);
    // An overwrite right after: the stamp stays when within the tick.
    let before = stat();
    let t = std::time::Instant::now();
    w(0, b"HELLO");
    let after = stat();
    if t.elapsed() < std::time::Duration::from_millis(super::super::io::MTIME_COARSE_MS) {
        assert_eq!((after.mtime, after.ctime), (before.mtime, before.ctime));
    }
    assert_eq!(after.size, 10);
    assert_eq!(
        &run(e.fs.read(&alice, f.ino, 0, 10)).expect("read").data[..],
        b"HELLOworld"
    );
}

#[test]
fn coarse_stamp_window() {
    use crate::fs::Timespec;
    let t = |sec, nsec| Timespec { sec, nsec };
    let within = super::super::io::stamped_within;
    assert!(within(t(10, 0), t(10, 9_999_999), 10));
    assert!(!within(t(10, 0), t(10, 10_000_000), 10));
    assert!(within(t(9, 995_000_000), t(10, 1_000_000), 10));
    // A stamp in the future is never "recent": the write stamps it.
    assert!(!within(t(10, 1), t(10, 0), 10));
    assert!(!within(t(0, 0), t(10, 0), 10));
}
