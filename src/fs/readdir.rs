//! READDIR and READDIRPLUS.
//!
//! `.` and `..` come first with the fixed cookies 1 and 2 (they count against
//! `max_entries`); real entries carry the store's stable per-entry cookies
//! (from [`FIRST_COOKIE`]), so a listing continues correctly from any cookie
//! even while entries are added or removed between pages. The verifier is the
//! directory's, constant for its life because cookies never become invalid; a
//! client that sends a zero verifier with a cookie is accepted.

use super::perm::{self, R};
use super::{Cred, DirEntry, DirPage, FileType, Fs, FsError, FsResult, InodeId};
use crate::meta::FIRST_COOKIE;

/// Cookie of the `.` entry.
pub const DOT_COOKIE: u64 = 1;
/// Cookie of the `..` entry.
pub const DOTDOT_COOKIE: u64 = 2;

impl Fs {
    /// Lists `dir` from after `cookie` (0 = start). `verifier` is the one handed out with
    /// `cookie` (ignored when `cookie` is 0); a stale verifier fails with `BadCookie`.
    /// Returns at most `max_entries` entries, with attributes when `plus`.
    pub async fn readdir(
        &self,
        cred: &Cred,
        dir: InodeId,
        cookie: u64,
        verifier: [u8; 8],
        max_entries: usize,
        plus: bool,
    ) -> FsResult<DirPage> {
        if max_entries == 0 {
            return Err(FsError::TooSmall);
        }
        let attr = self.attr(dir).await?;
        if attr.ftype != FileType::Directory {
            return Err(FsError::NotDirectory);
        }
        if !perm::allowed(cred, &attr, R) {
            return Err(FsError::AccessDenied);
        }
        let dots = match cookie {
            0 => 2,
            DOT_COOKIE => 1,
            _ => 0,
        }
        .min(max_entries);
        let listing = self
            .meta
            .readdir(dir, cookie.max(FIRST_COOKIE - 1), max_entries - dots, plus)
            .await?;
        let current = listing.verifier.to_be_bytes();
        if cookie != 0 && verifier != [0; 8] && verifier != current {
            return Err(FsError::BadCookie);
        }
        let mut entries = Vec::with_capacity(dots + listing.entries.len());
        let parent = if dir == self.root {
            dir
        } else {
            listing.parent
        };
        for (name, ino, c) in [(&b"."[..], dir, DOT_COOKIE), (b"..", parent, DOTDOT_COOKIE)] {
            if c > cookie && entries.len() < dots {
                let attr = if !plus {
                    None
                } else if ino == dir {
                    Some(listing.dir.clone())
                } else {
                    self.meta.get(ino).await.ok()
                };
                entries.push(DirEntry {
                    name: name.to_vec(),
                    ino,
                    cookie: c,
                    attr,
                });
            }
        }
        let dots_cut = dots < 2 && cookie == 0;
        entries.extend(listing.entries.into_iter().map(|e| DirEntry {
            name: e.name,
            ino: e.ino,
            cookie: e.cookie,
            attr: e.attr,
        }));
        Ok(DirPage {
            entries,
            eof: listing.eof && !dots_cut,
            verifier: current,
            dir_attr: listing.dir,
        })
    }
}
