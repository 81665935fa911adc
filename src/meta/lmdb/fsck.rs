//! A full consistency check of an LMDB store (`fsck`): the crash test runs it
//! after every SIGKILL, and an operator can run it on a stopped server's data.
//!
//! It loads every inode and walks both entry indexes once, so it is O(store)
//! in time and in memory (the inodes): a tool, not something the server runs.

use std::collections::{HashMap, HashSet};

use heed::RoTxn;

use super::codec::{self, InodeRec};
use super::txn::OpResult;
use super::Shared;
use crate::fs::{FileType, InodeId};

/// What [`super::LmdbStore::fsck`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Inodes in the store.
    pub inodes: u64,
    /// Directory entries in the store.
    pub entries: u64,
    /// Every inconsistency, one line each; empty when the store is consistent.
    pub problems: Vec<String>,
}

impl Shared {
    pub fn fsck(&self, txn: &RoTxn<'_>) -> OpResult<FsckReport> {
        let d = &self.dbs;
        let mut problems = Vec::new();
        let mut entries = 0u64;
        let mut problem = |p: String| problems.push(p);

        let mut nodes: HashMap<InodeId, InodeRec> = HashMap::new();
        for item in d.inodes.iter(txn)? {
            let (key, value) = item?;
            let ino = codec::decode_u64(key)?;
            match codec::decode_inode(ino, value) {
                Ok(rec) => {
                    nodes.insert(ino, rec);
                }
                Err(e) => problem(format!("inode {ino}: {e}")),
            }
        }
        let next_ino = d.meta_u64(txn, codec::META_NEXT_INO)?.unwrap_or(1);
        if let Some(&max) = nodes.keys().max() {
            if max >= next_ino {
                problem(format!("inode {max} is not below next_ino {next_ino}"));
            }
        }

        let mut roots = HashSet::new();
        for item in d.shares.iter(txn)? {
            let (name, value) = item?;
            let ino = codec::decode_u64(value)?;
            let name = String::from_utf8_lossy(name);
            match nodes.get(&ino) {
                None => problem(format!("share {name}: root inode {ino} missing")),
                Some(r) if !r.is_dir() || r.parent != ino => problem(format!(
                    "share {name}: root {ino} is not a self-parented directory"
                )),
                Some(_) => {}
            }
            roots.insert(ino);
        }

        let mut refs: HashMap<InodeId, u64> = HashMap::new();
        let mut subdirs: HashMap<InodeId, u64> = HashMap::new();
        for item in d.dirents.iter(txn)? {
            let (key, value) = item?;
            entries += 1;
            let Some((dir_bytes, name)) = key.split_first_chunk::<8>() else {
                problem("short dirent key".into());
                continue;
            };
            let dir = u64::from_be_bytes(*dir_bytes);
            let (ino, cookie) = codec::decode_dirent_value(value)?;
            let shown = String::from_utf8_lossy(name);
            match nodes.get(&dir) {
                Some(r) if r.is_dir() => {
                    if cookie >= r.next_cookie {
                        problem(format!("{dir}/{shown}: cookie {cookie} not yet handed out"));
                    }
                }
                _ => problem(format!("{dir}/{shown}: parent is not a directory")),
            }
            match d.cookies.get(txn, &codec::pair(dir, cookie))? {
                Some(n) if n == name => {}
                _ => problem(format!("{dir}/{shown}: cookie {cookie} index mismatch")),
            }
            *refs.entry(ino).or_default() += 1;
            match nodes.get(&ino) {
                None => problem(format!("{dir}/{shown}: inode {ino} missing")),
                Some(child) if child.is_dir() => {
                    *subdirs.entry(dir).or_default() += 1;
                    if child.parent != dir {
                        problem(format!(
                            "{dir}/{shown}: directory {ino} has parent {}",
                            child.parent
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        // A stream row is its hidden inode's one link (see `meta::streams`).
        for item in d.streams.iter(txn)? {
            let (_, value) = item?;
            let (ino, _) = super::streams::decode_stream_value(value)?;
            *refs.entry(ino).or_default() += 1;
            if !nodes.contains_key(&ino) {
                problem(format!("stream inode {ino} missing"));
            }
        }
        for item in d.orphans.iter(txn)? {
            let (key, _) = item?;
            let ino = codec::decode_u64(key)?;
            if !nodes.contains_key(&ino) {
                problem(format!("orphan set names missing inode {ino}"));
            }
        }
        let cookie_count = d.cookies.len(txn)?;
        if cookie_count != entries {
            problem(format!(
                "{cookie_count} cookie index entries for {entries} directory entries"
            ));
        }

        let mut used_bytes = 0u64;
        for (ino, rec) in &nodes {
            let links = refs.get(ino).copied().unwrap_or(0);
            let nlink = u64::from(rec.attr.nlink);
            if rec.attr.ftype == FileType::Regular {
                used_bytes = used_bytes.saturating_add(rec.attr.size);
            }
            if rec.is_dir() {
                let want_refs = u64::from(!roots.contains(ino));
                if links != want_refs {
                    problem(format!("directory {ino} has {links} entries naming it"));
                }
                let want = 2 + subdirs.get(ino).copied().unwrap_or(0);
                if nlink != want {
                    problem(format!("directory {ino}: nlink {nlink}, expected {want}"));
                }
            } else if links == 0 {
                // An inode kept at nlink 0 for opens is on the orphan set and
                // start-up reaps it; anything else unnamed is a leak.
                let listed = d.orphans.get(txn, &ino.to_be_bytes())?.is_some();
                if nlink != 0 || !listed {
                    problem(format!("orphan inode {ino} ({:?})", rec.attr.ftype));
                }
            } else if nlink != links {
                problem(format!("inode {ino}: nlink {nlink}, {links} entries"));
            }
        }
        let recorded = d.meta_u64(txn, codec::META_USED_BYTES)?.unwrap_or(0);
        if recorded != used_bytes {
            problem(format!(
                "used_bytes is {recorded}, regular files total {used_bytes}"
            ));
        }
        Ok(FsckReport {
            inodes: nodes.len() as u64,
            entries,
            problems,
        })
    }
}
