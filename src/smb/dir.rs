//! QUERY_DIRECTORY: the whole directory is read once per scan (first call,
//! RESTART_SCANS or REOPEN), filtered by the pattern, and handed out in pieces
//! that fit OutputBufferLength; entries removed since the listing was read are
//! skipped (one lookup per entry handed out after the first call).

use dittofs_smb_wire::dir::{
    encode_output_response, QueryDirectoryRequest, QD_REOPEN, QD_RESTART_SCANS,
    QD_RETURN_SINGLE_ENTRY,
};
use dittofs_smb_wire::fscc::dir::{is_dir_class, DirEntry as WireDirEntry, DirWriter};
use dittofs_smb_wire::status::*;

use super::create::{open_mut, session_cred};
use super::dispatch::Call;
use super::state::{ConnState, DirScan};
use super::{fs_err, ok, times_of, Reply, SmbContext};
use crate::fs::{Cred, Fs, InodeId};

/// Entries read from the core per READDIR call.
const PAGE_ENTRIES: usize = 1024;
/// Bound on one directory scan (entries).
const SCAN_ENTRIES_MAX: usize = 10_000_000;

/// Case-insensitive match of `name` against a pattern with `*` and `?` (and the
/// DOS forms `<`, `>`, `"` treated as `*`, `?`, `.`).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern
        .chars()
        .map(|c| match c {
            '<' => '*',
            '>' => '?',
            '"' => '.',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

async fn scan(fs: &Fs, cred: &Cred, dir: InodeId, pattern: &str) -> Result<Vec<WireDirEntry>, u32> {
    let mut out = Vec::new();
    let mut cookie = 0u64;
    let mut verifier = [0u8; 8];
    loop {
        let page = fs
            .readdir(cred, dir, cookie, verifier, PAGE_ENTRIES, true)
            .await
            .map_err(fs_err)?;
        verifier = page.verifier;
        for e in &page.entries {
            cookie = e.cookie;
            let name = String::from_utf8_lossy(&e.name).into_owned();
            if !wildcard_match(pattern, &name) {
                continue;
            }
            let attr = match &e.attr {
                Some(a) => a.clone(),
                None => match fs.getattr(e.ino, None).await {
                    Ok(a) => a,
                    Err(_) => continue,
                },
            };
            out.push(WireDirEntry {
                file_index: 0,
                times: times_of(fs, &attr).await,
                ea_size: 0,
                short_name: String::new(),
                file_id: attr.ino,
                name,
            });
        }
        if page.eof || page.entries.is_empty() || out.len() >= SCAN_ENTRIES_MAX {
            return Ok(out);
        }
    }
}

pub async fn query_directory(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &QueryDirectoryRequest,
) -> Result<Reply, u32> {
    let posix_class = st.posix && req.info_class == dittofs_smb_wire::posix::POSIX_INFO_CLASS;
    if !is_dir_class(req.info_class) && !posix_class {
        return Err(STATUS_INVALID_INFO_CLASS);
    }
    let cred = session_cred(st, call)?;
    let open = open_mut(st, call, req.file_id)?;
    if !open.is_dir {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let fs = &ctx.shares[open.share].fs;
    let fresh = open.scan.is_none() || req.flags & (QD_RESTART_SCANS | QD_REOPEN) != 0;
    if fresh {
        let pattern = if req.pattern.is_empty() {
            "*"
        } else {
            req.pattern.as_str()
        };
        let entries = scan(fs, &cred, open.ino, pattern).await?;
        if entries.is_empty() {
            open.scan = Some(DirScan { entries, pos: 0 });
            return Err(STATUS_NO_SUCH_FILE);
        }
        open.scan = Some(DirScan { entries, pos: 0 });
    }
    let dir_ino = open.ino;
    let Some(scan) = open.scan.as_mut() else {
        return Err(STATUS_NO_MORE_FILES);
    };
    if scan.pos >= scan.entries.len() {
        return Err(STATUS_NO_MORE_FILES);
    }
    if posix_class {
        let single = req.flags & QD_RETURN_SINGLE_ENTRY != 0;
        let max = req.output_buffer_length as usize;
        let out = super::posix::pack_dir(fs, &scan.entries, &mut scan.pos, max, single).await;
        if out.is_empty() {
            return Err(STATUS_INFO_LENGTH_MISMATCH);
        }
        let mut body = Vec::with_capacity(8 + out.len());
        encode_output_response(&out, &mut body);
        return ok(body);
    }
    let Some(mut w) = DirWriter::new(req.info_class, req.output_buffer_length as usize) else {
        return Err(STATUS_INVALID_INFO_CLASS);
    };
    while scan.pos < scan.entries.len() {
        let e = &scan.entries[scan.pos];
        // A continued scan skips what was removed (or replaced) since the
        // listing was read, as Windows does (smbtorture smb2.dir.fixed).
        if !fresh && e.name != "." && e.name != ".." {
            match fs.lookup(&cred, dir_ino, e.name.as_bytes()).await {
                Ok(a) if a.ino == e.file_id => {}
                _ => {
                    scan.pos += 1;
                    continue;
                }
            }
        }
        if !w.push(e) {
            break;
        }
        scan.pos += 1;
        if req.flags & QD_RETURN_SINGLE_ENTRY != 0 {
            break;
        }
    }
    if w.is_empty() {
        if scan.pos >= scan.entries.len() {
            return Err(STATUS_NO_MORE_FILES);
        }
        return Err(STATUS_INFO_LENGTH_MISMATCH);
    }
    let out = w.finish();
    let mut body = Vec::with_capacity(8 + out.len());
    encode_output_response(&out, &mut body);
    ok(body)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("*", "."));
        assert!(wildcard_match("a?c", "ABC"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(wildcard_match("*.TXT", "notes.txt"));
        assert!(!wildcard_match("*.txt", "notes.txt.bak"));
        assert!(wildcard_match("f*o*", "foo"));
        assert!(wildcard_match("exact", "Exact"));
        assert!(!wildcard_match("exact", "exactly"));
        assert!(wildcard_match("<.txt", "a.txt"));
    }
}
