//! READDIR cookies and file handles across a server restart: [`remember`]
//! fills a directory and lists it with small READDIR pages, keeping every
//! (name, cookie, fileid) and every file's handle; after the restart,
//! [`check_same`] lists again, resumes from remembered cookies with the old
//! verifier, and checks that handles answer for the same files. Used by
//! `tests/persist.rs` (LMDB) and `tests/postgres.rs`.

use super::nfs_client::NfsClient;
use dittofs::nfs::handle::WireHandle;

/// Files in the listed directory.
const FILES: usize = 300;
/// READDIR reply size: about 20 entries a page, so the listing takes many pages.
const PAGE_BYTES: u32 = 600;

/// (name, cookie, fileid) of one listed entry.
pub type Listed = (Vec<u8>, u64, u64);

/// What was seen before the restart.
pub struct Remembered {
    pub dir: WireHandle,
    pub verifier: [u8; 8],
    /// (name, cookie, fileid) in listing order, without `.` and `..`.
    pub entries: Vec<Listed>,
    /// (name, handle) of every file.
    pub handles: Vec<(Vec<u8>, WireHandle)>,
}

/// Every entry of `dir` by READDIR pages of [`PAGE_BYTES`]; also the verifier.
fn list(c: &mut NfsClient, dir: WireHandle) -> (Vec<Listed>, [u8; 8], usize) {
    let (mut cookie, mut verf, mut out, mut pages) = (0, [0u8; 8], Vec::new(), 0);
    loop {
        let page = c
            .readdir(dir, cookie, verf, PAGE_BYTES)
            .expect("readdir io")
            .unwrap_or_else(|s| panic!("READDIR from cookie {cookie}: {s:?}"));
        pages += 1;
        assert!(pages < 10 * FILES, "READDIR does not reach eof");
        verf = page.cookieverf;
        if let Some(last) = page.entries.last() {
            cookie = last.cookie;
        }
        out.extend(
            page.entries
                .into_iter()
                .filter(|e| e.name != b"." && e.name != b"..")
                .map(|e| (e.name, e.cookie, e.fileid)),
        );
        if page.eof {
            return (out, verf, pages);
        }
    }
}

/// Creates `cookies/` with [`FILES`] files (and removes every seventh, so
/// cookies have gaps) and lists it.
pub fn remember(c: &mut NfsClient) -> Remembered {
    let root = c.root;
    let dir = c.mkdir(root, "cookies").unwrap().expect("mkdir cookies");
    let mut handles = Vec::new();
    for i in 0..FILES {
        let name = format!("entry-{i:04}");
        let fh = c.create(dir, &name).unwrap().expect("create");
        if i % 7 == 3 {
            c.remove(dir, &name).unwrap().expect("remove");
        } else {
            handles.push((name.into_bytes(), fh));
        }
    }
    let (entries, verifier, pages) = list(c, dir);
    assert!(pages > 5, "listing should take many pages, took {pages}");
    assert_eq!(entries.len(), handles.len(), "listed vs created");
    Remembered {
        dir,
        verifier,
        entries,
        handles,
    }
}

/// After the restart: same pairs, resumption at the right entry, same handles.
pub fn check_same(c: &mut NfsClient, before: &Remembered) {
    let root = c.root;
    let dir = c
        .lookup(root, "cookies")
        .unwrap()
        .expect("lookup cookies")
        .object;
    assert_eq!(dir, before.dir, "directory handle changed across restart");
    let (entries, verifier, _) = list(c, dir);
    assert_eq!(verifier, before.verifier, "cookie verifier changed");
    assert_eq!(
        entries, before.entries,
        "(name, cookie, fileid) differ after restart"
    );
    // Resume from remembered cookies with the verifier of before the restart.
    for k in [0, 1, before.entries.len() / 3, before.entries.len() - 2] {
        let (name, cookie, _) = &before.entries[k];
        let page = c
            .readdir(dir, *cookie, before.verifier, PAGE_BYTES)
            .expect("readdir io")
            .unwrap_or_else(|s| panic!("READDIR from remembered cookie {cookie}: {s:?}"));
        let first = page
            .entries
            .first()
            .expect("entries after a remembered cookie");
        assert_eq!(
            (&first.name, first.cookie),
            (&before.entries[k + 1].0, before.entries[k + 1].1),
            "READDIR after {:?} (cookie {cookie}) resumed at the wrong entry",
            String::from_utf8_lossy(name)
        );
    }
    let fileids: std::collections::HashMap<&[u8], u64> = before
        .entries
        .iter()
        .map(|(n, _, id)| (n.as_slice(), *id))
        .collect();
    for (name, fh) in &before.handles {
        let attr = c
            .getattr(*fh)
            .unwrap()
            .unwrap_or_else(|s| panic!("old handle of {name:?}: {s:?}"));
        assert_eq!(
            attr.fileid,
            fileids[name.as_slice()],
            "handle names another file"
        );
        assert_eq!(
            c.lookup(dir, std::str::from_utf8(name).unwrap())
                .unwrap()
                .expect("lookup")
                .object,
            *fh,
            "lookup gives another handle"
        );
    }
}
