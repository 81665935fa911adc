//! READDIR and READDIRPLUS paging.

use std::collections::BTreeSet;

use super::{env, run, user};
use crate::fs::{Cred, FsError};

#[test]
fn dots_first_with_fixed_cookies() {
    let e = env();
    let root = Cred::root();
    let d = e.mkdir(&root, e.root, "d", 0o755);
    let f = e.fifo(&root, d.ino, "f", 0o644);
    let page = run(e.fs.readdir(&root, d.ino, 0, [0; 8], 10, true)).expect("readdir");
    let names: Vec<_> = page.entries.iter().map(|x| x.name.clone()).collect();
    assert_eq!(names, vec![b".".to_vec(), b"..".to_vec(), b"f".to_vec()]);
    assert_eq!(
        page.entries.iter().map(|x| x.ino).collect::<Vec<_>>(),
        vec![d.ino, e.root, f.ino]
    );
    assert_eq!(page.entries[0].cookie, 1);
    assert_eq!(page.entries[1].cookie, 2);
    assert!(page
        .entries
        .iter()
        .all(|x| x.attr.as_ref().map(|a| a.ino) == Some(x.ino)));
    assert!(page.eof);
    assert_eq!(page.dir_attr.ino, d.ino);
    // One entry at a time through the dots.
    let p1 = run(e.fs.readdir(&root, d.ino, 0, [0; 8], 1, false)).expect("p1");
    assert_eq!((p1.entries.len(), p1.eof), (1, false));
    assert!(p1.entries[0].attr.is_none());
    let p2 = run(e.fs.readdir(&root, d.ino, 1, p1.verifier, 1, false)).expect("p2");
    assert_eq!(p2.entries[0].name, b"..");
    assert!(!p2.eof);
    let p3 = run(e.fs.readdir(&root, d.ino, 2, p2.verifier, 1, false)).expect("p3");
    assert_eq!(p3.entries[0].name, b"f");
    assert!(p3.eof);
    // The root's `..` is the root.
    let r = run(e.fs.readdir(&root, e.root, 0, [0; 8], 2, false)).expect("root");
    assert_eq!(r.entries[1].ino, e.root);
    let empty = e.mkdir(&root, e.root, "empty", 0o755);
    let p = run(e.fs.readdir(&root, empty.ino, 0, [0; 8], 2, false)).expect("empty");
    assert!(p.eof && p.entries.len() == 2);
}

#[test]
fn errors() {
    let e = env();
    let root = Cred::root();
    let d = e.mkdir(&root, e.root, "d", 0o311);
    let f = e.fifo(&root, e.root, "f", 0o644);
    assert_eq!(
        run(e.fs.readdir(&root, f.ino, 0, [0; 8], 10, false)).map(|_| ()),
        Err(FsError::NotDirectory)
    );
    assert_eq!(
        run(e.fs.readdir(&user(5, 5, &[]), d.ino, 0, [0; 8], 10, false)).map(|_| ()),
        Err(FsError::AccessDenied)
    );
    assert_eq!(
        run(e.fs.readdir(&root, d.ino, 0, [0; 8], 0, false)).map(|_| ()),
        Err(FsError::TooSmall)
    );
    let page = run(e.fs.readdir(&root, d.ino, 0, [0; 8], 10, false)).expect("ok");
    let mut bad = page.verifier;
    bad[0] ^= 0xff;
    assert_eq!(
        run(e.fs.readdir(&root, d.ino, 2, bad, 10, false)).map(|_| ()),
        Err(FsError::BadCookie)
    );
    run(e.fs.readdir(&root, d.ino, 2, [0; 8], 10, false)).expect("zero verifier accepted");
    run(e.fs.readdir(&root, d.ino, 0, bad, 10, false)).expect("cookie 0 ignores it");
    assert_eq!(
        run(e.fs.readdir(&root, 424_242, 0, [0; 8], 10, false)).map(|_| ()),
        Err(FsError::Stale)
    );
}

#[test]
fn stable_cookies_while_changing() {
    let e = env();
    let root = Cred::root();
    let d = e.mkdir(&root, e.root, "d", 0o755);
    let n = 2_000;
    for i in 0..n {
        e.fifo(&root, d.ino, &format!("e{i}"), 0o644);
    }
    let mut seen = BTreeSet::new();
    let (mut cookie, mut verifier, mut round) = (0, [0; 8], 0);
    loop {
        let page = run(e
            .fs
            .readdir(&root, d.ino, cookie, verifier, 64, round % 2 == 1))
        .expect("page");
        for x in &page.entries {
            assert!(seen.insert(x.name.clone()), "duplicate {:?}", x.name);
        }
        // Churn between pages: drop the last entry returned and an unseen one, add one.
        let last = page.entries.last().expect("non-empty page");
        if last.name != b"." && last.name != b".." {
            run(e.fs.remove(&root, d.ino, &last.name)).expect("remove last");
        }
        let victim = format!("e{}", n - 1 - round);
        if run(e.fs.remove(&root, d.ino, victim.as_bytes())).is_ok() {
            seen.insert(victim.into_bytes());
        }
        e.fifo(&root, d.ino, &format!("late{round}"), 0o644);
        cookie = last.cookie;
        verifier = page.verifier;
        round += 1;
        if page.eof {
            break;
        }
    }
    for i in 0..n {
        assert!(seen.contains(format!("e{i}").as_bytes()), "e{i} missing");
    }
    assert!(seen.contains(b".".as_slice()) && seen.contains(b"..".as_slice()));
}
