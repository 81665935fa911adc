//! A conformance check too big for [`super::conformance::run_all`]: a
//! directory of 100,000 entries listed page by page while entries are removed
//! and added between the pages. Each store's test module runs it once
//! (`block_on(readdir_100k::check(&store, in_flight))`).
//!
//! What must hold: every entry that existed for the whole listing is listed
//! exactly once; no name is listed twice; an entry removed before the listing
//! reached it is not listed; cookies only grow; the verifier stays the same.
//! Entries added during the listing may or may not appear.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use super::{MetaError, MetadataStore, NewInode, OnExists, RemoveKind, FIRST_COOKIE};
use crate::fs::{DeviceId, FileType, InodeId, Timespec};

/// Entries created before the listing.
pub const ENTRIES: usize = 100_000;
/// Entries per READDIR page.
pub const PAGE_ENTRIES: usize = 1000;

fn new_file() -> NewInode {
    NewInode {
        ftype: FileType::Regular,
        mode: 0o644,
        uid: 1000,
        gid: 100,
        rdev: DeviceId::default(),
        target: Vec::new(),
        verifier: None,
        on_exists: OnExists::Fail,
    }
}

fn t(sec: i64) -> Timespec {
    Timespec { sec, nsec: 0 }
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<(), MetaError>> + 'a>>;

/// Awaits all of `futures` concurrently (stores with a thread pool overlap them).
async fn join_all(mut futures: Vec<Pending<'_>>) -> Result<(), MetaError> {
    std::future::poll_fn(|cx| {
        let mut i = 0;
        while i < futures.len() {
            match futures[i].as_mut().poll(cx) {
                Poll::Ready(r) => {
                    r?;
                    drop(futures.swap_remove(i));
                }
                Poll::Pending => i += 1,
            }
        }
        if futures.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Creates `f0..f{ENTRIES}` in `dir` through the trait, `in_flight` at a time.
async fn fill(s: &dyn MetadataStore, dir: InodeId, in_flight: usize) {
    let new = new_file();
    let names: Vec<Vec<u8>> = (0..ENTRIES).map(|i| format!("f{i}").into_bytes()).collect();
    for chunk in names.chunks(in_flight.max(1)) {
        let batch: Vec<Pending<'_>> = chunk
            .iter()
            .map(|name| {
                let new = &new;
                Box::pin(async move { s.create(dir, name, new, t(1)).await.map(|_| ()) })
                    as Pending<'_>
            })
            .collect();
        join_all(batch).await.expect("create");
    }
}

/// The check; `in_flight` creates are issued at once while filling.
pub async fn check(s: &dyn MetadataStore, in_flight: usize) {
    let r = s.share_root("/export", 0o755).await.expect("share_root");
    let d = s
        .create(
            r,
            b"huge",
            &NewInode {
                ftype: FileType::Directory,
                ..new_file()
            },
            t(1),
        )
        .await
        .expect("mkdir")
        .attr
        .ino;
    fill(s, d, in_flight).await;
    let new = new_file();
    let mut listed: HashSet<Vec<u8>> = HashSet::new();
    // Original entries removed during the listing (before or after being listed).
    let mut removed: BTreeSet<usize> = BTreeSet::new();
    let (mut cookie, mut last_cookie, mut page, mut verifier) = (0, 0, 0usize, None);
    loop {
        let l = s
            .readdir(d, cookie, PAGE_ENTRIES, false)
            .await
            .expect("readdir");
        assert_eq!(*verifier.get_or_insert(l.verifier), l.verifier, "verifier");
        assert!(l.entries.len() <= PAGE_ENTRIES);
        for e in &l.entries {
            assert!(
                e.cookie > last_cookie && e.cookie >= FIRST_COOKIE,
                "cookie order"
            );
            last_cookie = e.cookie;
            let name = String::from_utf8_lossy(&e.name).into_owned();
            assert!(listed.insert(e.name.clone()), "{name} listed twice");
            if let Some(k) = name.strip_prefix('f').and_then(|k| k.parse::<usize>().ok()) {
                assert!(!removed.contains(&k), "{name} listed after its removal");
            }
        }
        // Between pages: remove 5 original entries not listed yet (from the
        // end), 5 listed ones, and the one we continue from; add 10 new ones.
        let mut victims: Vec<usize> = (0..5).map(|j| ENTRIES - 1 - page * 5 - j).collect();
        victims.extend((0..5).map(|j| page * 5 + j));
        for k in victims {
            if k < ENTRIES && removed.insert(k) {
                s.remove(
                    d,
                    format!("f{k}").as_bytes(),
                    RemoveKind::NonDirectory,
                    None,
                    t(2),
                )
                .await
                .expect("remove");
            }
        }
        if let Some(last) = l.entries.last() {
            cookie = last.cookie;
            let name = String::from_utf8_lossy(&last.name).into_owned();
            if let Some(k) = name.strip_prefix('f').and_then(|k| k.parse::<usize>().ok()) {
                if removed.insert(k) {
                    s.remove(d, &last.name, RemoveKind::NonDirectory, None, t(2))
                        .await
                        .expect("remove continuation entry");
                }
            }
        }
        for j in 0..10 {
            s.create(d, format!("new{page}_{j}").as_bytes(), &new, t(3))
                .await
                .expect("add");
        }
        page += 1;
        if l.eof {
            break;
        }
        assert!(
            page <= 2 * ENTRIES / PAGE_ENTRIES + 10,
            "listing does not end"
        );
    }
    let missed: Vec<usize> = (0..ENTRIES)
        .filter(|k| !removed.contains(k) && !listed.contains(format!("f{k}").as_bytes()))
        .take(10)
        .collect();
    assert!(missed.is_empty(), "entries never listed: f{missed:?}");
    assert!(removed.len() > 10 * (page - 1), "removals happened");
}
