//! READDIR and READDIRPLUS, which must fit the client's byte limits exactly.
//!
//! The core is asked for an estimate of how many entries could fit; the
//! encoded size of each is then added up and the page is cut where the
//! client's `count` (READDIR) or `dircount`/`maxcount` (READDIRPLUS) would be
//! exceeded. A cut page is never `eof`. When not even one entry fits the reply
//! is NFS3ERR_TOOSMALL.

use crate::fs::DirPage;
use crate::nfs::args::{ReaddirArgs, ReaddirplusArgs};
use crate::nfs::dispatch::{Caller, Target};
use crate::nfs::results::{
    Entry3, EntryPlus3, ReaddirOk, ReaddirplusOk, Reply, READDIR_FIXED_SIZE,
};
use crate::nfs::status::{nfs3_status, Nfsstat3};
use crate::nfs::wire::PostOpAttr;

use super::try_or_fail;

/// Most entries asked of the core for one page.
const PAGE_ENTRIES_MAX: usize = 4096;
/// Smallest encoded `entry3` (one-byte name).
const ENTRY3_SIZE_MIN: usize = 28;
/// Smallest encoded `entryplus3` with attributes and handle.
const ENTRYPLUS3_SIZE_MIN: usize = 148;

fn estimate(limit_bytes: u32, entry_size_min: usize) -> usize {
    let room = (limit_bytes as usize).saturating_sub(READDIR_FIXED_SIZE);
    (room / entry_size_min).clamp(1, PAGE_ENTRIES_MAX)
}

/// Keeps the longest prefix of `entries` whose sizes fit; returns whether all fit.
/// `sizes(e)` gives (reply bytes, directory-info bytes) of an entry.
pub(crate) fn fit<E>(
    entries: &mut Vec<E>,
    maxcount: usize,
    dircount: Option<usize>,
    sizes: impl Fn(&E) -> (usize, usize),
) -> bool {
    let mut total = READDIR_FIXED_SIZE;
    let mut dir_total = 0usize;
    let mut keep = 0;
    for (i, e) in entries.iter().enumerate() {
        let (size, dir_size) = sizes(e);
        let over_dircount = dircount.is_some_and(|d| i > 0 && dir_total + dir_size > d);
        if total + size > maxcount || over_dircount {
            break;
        }
        total += size;
        dir_total += dir_size;
        keep += 1;
    }
    let all = keep == entries.len();
    entries.truncate(keep);
    all
}

async fn page(
    t: &Target<'_>,
    cookie: u64,
    verf: [u8; 8],
    entries_max: usize,
    plus: bool,
) -> Result<DirPage, (Nfsstat3, PostOpAttr)> {
    match t
        .fs()
        .readdir(&t.cred, t.ino, cookie, verf, entries_max, plus)
        .await
    {
        Ok(p) => Ok(p),
        Err(e) => Err((nfs3_status(&e), t.post_op(t.ino).await)),
    }
}

pub(crate) async fn readdir(c: &Caller<'_>, a: ReaddirArgs) -> Reply<ReaddirOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.dir).await, None);
    try_or_fail!(t.check().await, None);
    let entries_max = estimate(a.count, ENTRY3_SIZE_MIN);
    let p = match page(&t, a.cookie, a.cookieverf, entries_max, false).await {
        Ok(p) => p,
        Err((s, attr)) => return Reply::Fail(s, attr),
    };
    let dir_attributes = Some(t.fattr(&p.dir_attr));
    let mut entries: Vec<Entry3> = p
        .entries
        .into_iter()
        .map(|e| Entry3 {
            fileid: e.ino,
            name: e.name,
            cookie: e.cookie,
        })
        .collect();
    let had_entries = !entries.is_empty();
    let all = fit(&mut entries, a.count as usize, None, |e| {
        (e.encoded_size(), 0)
    });
    if had_entries && entries.is_empty() {
        return Reply::Fail(Nfsstat3::TooSmall, dir_attributes);
    }
    Reply::Ok(ReaddirOk {
        dir_attributes,
        cookieverf: p.verifier,
        entries,
        eof: p.eof && all,
    })
}

pub(crate) async fn readdirplus(
    c: &Caller<'_>,
    a: ReaddirplusArgs,
) -> Reply<ReaddirplusOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.dir).await, None);
    try_or_fail!(t.check().await, None);
    let mut entries_max = estimate(a.maxcount, ENTRYPLUS3_SIZE_MIN);
    if a.dircount > 0 {
        entries_max = entries_max.min(estimate(
            a.dircount.saturating_add(READDIR_FIXED_SIZE as u32),
            ENTRY3_SIZE_MIN - 4,
        ));
    }
    let p = match page(&t, a.cookie, a.cookieverf, entries_max, true).await {
        Ok(p) => p,
        Err((s, attr)) => return Reply::Fail(s, attr),
    };
    let dir_attributes = Some(t.fattr(&p.dir_attr));
    let mut entries: Vec<EntryPlus3> = p
        .entries
        .into_iter()
        .map(|e| EntryPlus3 {
            fileid: e.ino,
            cookie: e.cookie,
            name_attributes: e.attr.as_ref().map(|x| t.fattr(x)),
            name_handle: e.attr.as_ref().map(|x| t.handle_of(x)),
            name: e.name,
        })
        .collect();
    let had_entries = !entries.is_empty();
    let dircount = (a.dircount > 0).then_some(a.dircount as usize);
    let all = fit(&mut entries, a.maxcount as usize, dircount, |e| {
        (e.encoded_size(), e.dir_info_size())
    });
    if had_entries && entries.is_empty() {
        return Reply::Fail(Nfsstat3::TooSmall, dir_attributes);
    }
    Reply::Ok(ReaddirplusOk {
        dir_attributes,
        cookieverf: p.verifier,
        entries,
        eof: p.eof && all,
    })
}
