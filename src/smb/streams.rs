//! SMB named streams: `file:name[:$DATA]` in CREATE, FileStreamInformation,
//! delete-on-close and rename (`:newname`) of a stream.
//!
//! A named stream is opened like a file whose inode is the stream's hidden
//! inode (`crate::fs::streams`), so READ/WRITE/FLUSH/SET_INFO EOF, byte-range
//! locks, share modes and oplocks/leases all work on it unchanged and are the
//! stream's own (a separate inode). What differs lives here: parsing the name,
//! the CREATE dispositions (a missing base file is created), and the
//! [`StreamOpen`] an open carries so that delete and rename act on the
//! stream table instead of a directory entry. `name::$DATA` is the unnamed
//! stream, i.e. the file itself: CREATE just strips the suffix.

use dittofs_smb_wire::buf::{len32, put_utf16, Put};
use dittofs_smb_wire::create::*;
use dittofs_smb_wire::create_ctx::CreateContext;
use dittofs_smb_wire::status::*;

use super::create::{components, granted_access, resolve_parent, session_cred};
use super::dispatch::Call;
use super::state::{ConnState, Open};
use super::tree::disk_share;
use super::{fs_err, ok, times_of, Reply, SmbContext};
use crate::fs::leases::Op;
use crate::fs::{Attr, CreateMode, Cred, FileType, Fs, FsError, InodeId, SetAttr};

/// DELETE access right.
const DELETE: u32 = 0x0001_0000;

/// What makes an open a named-stream open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOpen {
    /// The file or directory the stream belongs to.
    pub base: InodeId,
    /// The stream's name (no `:`, no `:$DATA`).
    pub name: String,
}

/// A CREATE path split at its stream part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// No stream: the file or directory at this path.
    File(&'a str),
    /// `path::$DATA`: the file's unnamed data stream (a directory has none).
    Data(&'a str),
    /// `path:name[:$DATA]`.
    Stream { base: &'a str, name: &'a str },
}

/// Splits `path` as Samba does: only the last component may carry a stream;
/// the type, when given, must be `$DATA` (any case); an empty stream name is
/// only allowed as `::$DATA`.
pub fn parse(path: &str) -> Result<Target<'_>, u32> {
    let last_start = path.rfind(['\\', '/']).map_or(0, |i| i + 1);
    let Some(colon) = path[last_start..].find(':').map(|i| last_start + i) else {
        // A ':' before the last separator is a bad name (`a:b\c`).
        if path.contains(':') {
            return Err(STATUS_OBJECT_NAME_INVALID);
        }
        return Ok(Target::File(path));
    };
    if path[..last_start].contains(':') {
        return Err(STATUS_OBJECT_NAME_INVALID);
    }
    let base = &path[..colon];
    let rest = &path[colon + 1..];
    let (name, kind) = match rest.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (rest, None),
    };
    if let Some(k) = kind {
        if !k.eq_ignore_ascii_case("$DATA") {
            return Err(STATUS_OBJECT_NAME_INVALID);
        }
    }
    if name.is_empty() {
        return match kind {
            Some(_) => Ok(Target::Data(base)),
            None => Err(STATUS_OBJECT_NAME_INVALID),
        };
    }
    if name.chars().any(|c| matches!(c, '\0' | '/' | '\\' | ':')) {
        return Err(STATUS_OBJECT_NAME_INVALID);
    }
    Ok(Target::Stream { base, name })
}

/// CREATE of `base:name`.
pub(crate) async fn create(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &CreateRequest,
    base_path: &str,
    name: &str,
) -> Result<Reply, u32> {
    let share = disk_share(st, call)?;
    let cred = session_cred(st, call)?;
    let fs = &ctx.shares[share].fs;
    let opts = req.create_options;
    // A stream is never a directory (what Samba answers).
    if opts & options::DIRECTORY_FILE != 0 {
        return Err(STATUS_NOT_A_DIRECTORY);
    }
    // Wildcards are no part of a file name (Samba: OBJECT_NAME_INVALID).
    if base_path.contains(['*', '?', '<', '>', '"', '|']) {
        return Err(STATUS_OBJECT_NAME_INVALID);
    }
    let parts = components(base_path)?;
    let (dir, last) = resolve_parent(fs, &cred, &parts).await?;
    let disp = req.create_disposition;
    let base = base_file(fs, &cred, dir, last, disp).await?;
    let access = granted_access(req.desired_access);
    let delete_on_close = opts & options::DELETE_ON_CLOSE != 0;
    if delete_on_close && (req.desired_access & (DELETE | 0x1000_0000 | 0x0200_0000) == 0) {
        return Err(STATUS_ACCESS_DENIED);
    }
    let existing = fs
        .lookup_stream(base.ino, name.as_bytes())
        .await
        .map_err(fs_err)?;
    let origin = super::oplock::origin_for(st, req);
    // Share modes, then breaks, then the overwrite (the order of create.rs).
    // Another open of an existing stream breaks the oplocks and leases held on
    // it as an open of a file does (smb2.oplock.stream1: an exclusive oplock
    // on the stream breaks to level II); an open of the base never breaks a
    // stream's oplock, nor the reverse: they are different inodes.
    let mut share_mode = None;
    if let Some(s) = existing.as_ref() {
        share_mode = Some(
            super::sharemode::acquire(fs, s.attr.ino, origin, access, req.share_access).await?,
        );
        let op = match disp {
            FILE_OPEN | FILE_OPEN_IF if super::oplock::is_oplock_stat_create(req) => None,
            FILE_OPEN | FILE_OPEN_IF if super::oplock::is_stat_create(req) => Some(Op::OplockOpen),
            FILE_OPEN | FILE_OPEN_IF => Some(Op::Open),
            FILE_OVERWRITE | FILE_OVERWRITE_IF | FILE_SUPERSEDE => Some(Op::Write),
            _ => None,
        };
        if let Some(op) = op {
            super::defer::break_or_defer(st, call, fs, s.attr.ino, origin, op).await?;
        }
    }
    let (attr, action) = match existing {
        Some(s) => match disp {
            FILE_CREATE => return Err(STATUS_OBJECT_NAME_COLLISION),
            FILE_OPEN | FILE_OPEN_IF => (s.attr, FILE_OPENED),
            FILE_OVERWRITE | FILE_OVERWRITE_IF | FILE_SUPERSEDE => {
                let set = SetAttr {
                    size: Some(0),
                    ..SetAttr::default()
                };
                let w = fs
                    .setattr(&cred, s.attr.ino, &set, None)
                    .await
                    .map_err(fs_err)?;
                let action = if disp == FILE_SUPERSEDE {
                    FILE_SUPERSEDED
                } else {
                    FILE_OVERWRITTEN
                };
                (w.after.unwrap_or(s.attr), action)
            }
            _ => return Err(STATUS_INVALID_PARAMETER),
        },
        None => {
            if matches!(disp, FILE_OPEN | FILE_OVERWRITE) {
                return Err(STATUS_OBJECT_NAME_NOT_FOUND);
            }
            let (s, _) = fs
                .create_stream(&cred, base.ino, name.as_bytes())
                .await
                .map_err(fs_err)?;
            (s.attr, FILE_CREATED)
        }
    };
    let share_mode = match share_mode {
        Some(t) => t,
        None => super::sharemode::acquire(fs, attr.ino, origin, access, req.share_access).await?,
    };
    let vid = st.new_file_id();
    let persistent = crate::fs::leases::new_id();
    let file_id = FileId {
        persistent,
        volatile: vid,
    };
    let (caching, oplock_level, lease_ctx) = super::oplock::grant(
        st,
        call,
        fs,
        attr.ino,
        origin,
        file_id,
        req,
        action == FILE_CREATED,
    )?;
    let open = Open {
        session_id: call.session_id,
        tree_id: call.tree_id,
        share,
        ino: attr.ino,
        parent: None,
        path: format!("\\{}:{name}", parts.join("\\")),
        is_dir: false,
        delete_pending: delete_on_close,
        write_through: opts & options::WRITE_THROUGH != 0,
        granted_access: access,
        position: 0,
        scan: None,
        caching: Some(caching),
        share_mode,
        persistent,
        durable: None,
        // The file stays (unlinked) while one of its streams is open.
        hold: (base.ftype == FileType::Regular).then(|| fs.hold_open(base.ino)),
        write_time: Default::default(),
        replay: Default::default(),
        stream: Some(StreamOpen {
            base: base.ino,
            name: name.to_owned(),
        }),
    };
    st.opens.insert(vid, open);
    call.last_file_id = Some(file_id);
    let contexts: Vec<CreateContext> = lease_ctx.into_iter().collect();
    let times = times_of(fs, &with_stream_size(base, &attr)).await;
    let mut body = Vec::new();
    CreateResponse {
        oplock_level,
        flags: 0,
        create_action: action,
        times,
        file_id,
        contexts,
    }
    .encode(&mut body);
    ok(body)
}

/// The base of a stream CREATE: found, or created as an empty file when the
/// disposition may create (Samba creates the file along with the stream).
async fn base_file(
    fs: &Fs,
    cred: &Cred,
    dir: InodeId,
    last: Option<&str>,
    disp: u32,
) -> Result<Attr, u32> {
    let Some(last) = last else {
        // The share root itself.
        return fs.getattr(dir, None).await.map_err(fs_err);
    };
    match fs.lookup(cred, dir, last.as_bytes()).await {
        Ok(a) => Ok(a),
        Err(FsError::NotFound) if matches!(disp, FILE_OPEN | FILE_OVERWRITE) => {
            Err(STATUS_OBJECT_NAME_NOT_FOUND)
        }
        Err(FsError::NotFound) => {
            let set = SetAttr {
                mode: Some(0o644),
                ..SetAttr::default()
            };
            match fs
                .create(cred, dir, last.as_bytes(), CreateMode::Guarded, &set)
                .await
            {
                Ok(c) => Ok(c.attr),
                Err(FsError::Exists) => fs.lookup(cred, dir, last.as_bytes()).await.map_err(fs_err),
                Err(e) => Err(fs_err(e)),
            }
        }
        Err(e) => Err(fs_err(e)),
    }
}

/// Delete-on-close of a stream open: removes the stream, not the base.
pub async fn delete_now(fs: &Fs, s: &StreamOpen) -> Result<(), u32> {
    match fs.remove_stream(s.base, s.name.as_bytes()).await {
        Ok(()) | Err(FsError::NotFound) => Ok(()),
        Err(e) => Err(fs_err(e)),
    }
}

/// FileRenameInformation on a stream open: the new name must be `:name` or
/// `:name:$DATA` (a stream cannot become a file).
pub(crate) async fn rename(open: &mut Open, fs: &Fs, to: &str, replace: bool) -> Result<(), u32> {
    let Some(s) = open.stream.as_mut() else {
        return Err(STATUS_INVALID_PARAMETER);
    };
    let to_name = match parse(to)? {
        Target::Stream { base: "", name } => name,
        // `base:stream`: the base is open through this very handle (Samba).
        Target::Stream { .. } => return Err(STATUS_SHARING_VIOLATION),
        _ => return Err(STATUS_INVALID_PARAMETER),
    };
    // An existing target is replaced only when asked and only when empty
    // (MS-FSA 2.1.5.15.11.1).
    if let Some(target) = fs
        .lookup_stream(s.base, to_name.as_bytes())
        .await
        .map_err(fs_err)?
        .filter(|t| t.attr.ino != open.ino)
    {
        if !replace {
            return Err(STATUS_OBJECT_NAME_COLLISION);
        }
        if target.attr.size != 0 {
            return Err(STATUS_INVALID_PARAMETER);
        }
    }
    fs.rename_stream(s.base, s.name.as_bytes(), to_name.as_bytes(), replace)
        .await
        .map_err(|e| match e {
            FsError::Exists => STATUS_OBJECT_NAME_COLLISION,
            e => fs_err(e),
        })?;
    if let Some(i) = open.path.rfind(':') {
        open.path.truncate(i + 1);
        open.path.push_str(to_name);
    }
    s.name = to_name.to_owned();
    Ok(())
}

/// The base's attributes with the stream's size: what a stream open reports
/// (times and DOS attributes are the file's; Samba and Windows do the same).
fn with_stream_size(base: Attr, stream: &Attr) -> Attr {
    Attr {
        size: stream.size,
        used: stream.used,
        ..base
    }
}

/// The attributes QUERY_INFO reports for `open`.
pub async fn info_attr(fs: &Fs, open: &Open) -> Result<Attr, u32> {
    let attr = fs.getattr(open.ino, None).await.map_err(fs_err)?;
    match &open.stream {
        Some(s) => {
            let base = fs.getattr(s.base, None).await.map_err(fs_err)?;
            Ok(with_stream_size(base, &attr))
        }
        None => Ok(attr),
    }
}

/// The inode whose times and DOS attributes FileBasicInformation sets: the
/// base for a stream open.
pub fn basic_ino(open: &Open) -> InodeId {
    open.stream.as_ref().map_or(open.ino, |s| s.base)
}

/// `path::$DATA` names a file's data: a directory answers
/// NOT_A_DIRECTORY when a directory was asked for, FILE_IS_A_DIRECTORY else.
pub async fn check_data_target(
    fs: &Fs,
    cred: &Cred,
    path: &str,
    want_dir: bool,
) -> Result<(), u32> {
    let parts = components(path)?;
    let (dir, last) = resolve_parent(fs, cred, &parts).await?;
    let is_dir = match last {
        None => true,
        Some(n) => matches!(
            fs.lookup(cred, dir, n.as_bytes()).await,
            Ok(a) if a.ftype == FileType::Directory
        ),
    };
    if is_dir {
        return Err(if want_dir {
            STATUS_NOT_A_DIRECTORY
        } else {
            STATUS_FILE_IS_A_DIRECTORY
        });
    }
    Ok(())
}

/// An open of a file with DELETE access must be compatible with every open
/// stream of it (a stream open without FILE_SHARE_DELETE keeps the file from
/// being deleted; smbtorture smb2.streams.delete).
pub async fn check_base_delete(fs: &Fs, base: InodeId, access: u32) -> Result<(), u32> {
    const SHARE_ALL: u32 = 0x7;
    if access & DELETE == 0 {
        return Ok(());
    }
    for s in fs.list_streams(base).await.map_err(fs_err)? {
        let key = (fs.share().id, s.attr.ino);
        match crate::fs::sharemode::global().open(key, DELETE, SHARE_ALL) {
            Ok(token) => drop(token),
            Err(_) => return Err(STATUS_SHARING_VIOLATION),
        }
    }
    Ok(())
}

/// Whether a rename target names a stream (`:name`), for the rename hook.
pub fn is_stream_target(to: &str) -> bool {
    to.starts_with(':')
}

/// FileStreamInformation (MS-FSCC 2.4.44): `::$DATA` for a file, then every
/// named stream as `:name:$DATA` with its size; entries 8-byte aligned.
pub async fn stream_info(fs: &Fs, open: &Open, out: &mut Vec<u8>) -> Result<(), u32> {
    let base = open.stream.as_ref().map_or(open.ino, |s| s.base);
    let base_attr = fs.getattr(base, None).await.map_err(fs_err)?;
    let mut entries: Vec<(String, u64)> = Vec::new();
    if base_attr.ftype != FileType::Directory {
        entries.push(("::$DATA".to_owned(), base_attr.size));
    }
    for s in fs.list_streams(base).await.map_err(fs_err)? {
        let name = String::from_utf8_lossy(&s.name);
        entries.push((format!(":{name}:$DATA"), s.attr.size));
    }
    let count = entries.len();
    for (i, (name, size)) in entries.into_iter().enumerate() {
        let start = out.len();
        out.put_u32(0);
        let len_at = out.len();
        out.put_u32(0);
        out.put_u64(size);
        out.put_u64(size.div_ceil(4096) * 4096);
        let n = put_utf16(out, &name);
        out.set_u32(len_at, len32(n));
        if i + 1 < count {
            while (out.len() - start) % 8 != 0 {
                out.push(0);
            }
            let next = len32(out.len() - start);
            out.set_u32(start, next);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_parse_like_samba() {
        assert_eq!(parse("a\\b"), Ok(Target::File("a\\b")));
        assert_eq!(parse("f::$DATA"), Ok(Target::Data("f")));
        assert_eq!(parse("f::$data"), Ok(Target::Data("f")));
        assert_eq!(
            parse("d\\f:s"),
            Ok(Target::Stream {
                base: "d\\f",
                name: "s"
            })
        );
        assert_eq!(
            parse("f:s:$DATA"),
            Ok(Target::Stream {
                base: "f",
                name: "s"
            })
        );
        assert_eq!(parse("f:s:$BOGUS"), Err(STATUS_OBJECT_NAME_INVALID));
        assert_eq!(parse("f:"), Err(STATUS_OBJECT_NAME_INVALID));
        assert_eq!(parse("f:a:b:c"), Err(STATUS_OBJECT_NAME_INVALID));
        assert_eq!(parse("a:b\\c"), Err(STATUS_OBJECT_NAME_INVALID));
        assert_eq!(
            parse(":s"),
            Ok(Target::Stream {
                base: "",
                name: "s"
            })
        );
    }
}
