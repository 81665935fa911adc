//! CREATE (dispositions, directory options, delete-on-close) and CLOSE.

use dittofs_smb_wire::create::*;
use dittofs_smb_wire::create_ctx::CreateContext;
use dittofs_smb_wire::fscc::attr as attrs;
use dittofs_smb_wire::security::FILE_ALL_ACCESS;
use dittofs_smb_wire::status::*;

use super::dispatch::Call;
use super::state::{ConnState, Open};
use super::tree::disk_share;
use super::{dos_to_store, fs_err, ok, times_of, Reply, SmbContext, DOS_STORED};
use crate::fs::leases::Op;
use crate::fs::{Attr, CreateMode, Cred, FileType, Fs, FsError, InodeId, SetAttr};

/// STATUS_BAD_IMPERSONATION_LEVEL.
const STATUS_BAD_IMPERSONATION_LEVEL: u32 = 0xC000_00A5;

/// DELETE access right.
const DELETE: u32 = 0x0001_0000;

/// The specific rights a DesiredAccess mask grants: MAXIMUM_ALLOWED is
/// everything, the GENERIC_* bits map to their file rights (MS-SMB2 3.3.5.9,
/// MS-DTYP 2.4.3); access is not checked against the file's mode here.
pub(crate) fn granted_access(desired: u32) -> u32 {
    use dittofs_smb_wire::security::{FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, FILE_GENERIC_WRITE};
    const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    const GENERIC_ALL: u32 = 0x1000_0000;
    const GENERIC_EXECUTE: u32 = 0x2000_0000;
    const GENERIC_WRITE: u32 = 0x4000_0000;
    const GENERIC_READ: u32 = 0x8000_0000;
    if desired & (MAXIMUM_ALLOWED | GENERIC_ALL) != 0 {
        return FILE_ALL_ACCESS;
    }
    let mut g = desired & 0x00FF_FFFF;
    for (bit, rights) in [
        (GENERIC_READ, FILE_GENERIC_READ),
        (GENERIC_WRITE, FILE_GENERIC_WRITE),
        (GENERIC_EXECUTE, FILE_GENERIC_EXECUTE),
    ] {
        if desired & bit != 0 {
            g |= rights;
        }
    }
    g
}

/// STATUS_OBJECT_PATH_SYNTAX_BAD: a path whose `..` would climb above the
/// share root (what Samba's check_path_syntax answers).
const STATUS_OBJECT_PATH_SYNTAX_BAD: u32 = 0xC000_003B;

/// Splits a share-relative SMB path into components (empty for the root). `/`
/// separates like `\\`, as Samba takes it (smbtorture
/// smb2.timestamps.test_close_not_attrib opens `dir/file`). `.` and `..` are
/// resolved lexically, as Samba and Windows do (smbtorture smb2.notify.tree
/// opens `dir\sub\..`); a `..` above the share root is refused, so a path
/// can never leave the share.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, u32> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split(['\\', '/']).filter(|c| !c.is_empty()) {
        match c {
            "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(STATUS_OBJECT_PATH_SYNTAX_BAD);
                }
            }
            c if c.contains(':') => return Err(STATUS_OBJECT_NAME_INVALID),
            c => parts.push(c),
        }
    }
    Ok(parts)
}

/// Resolves all but the last component: the parent directory and the last name.
pub(crate) async fn resolve_parent<'p>(
    fs: &Fs,
    cred: &Cred,
    parts: &[&'p str],
) -> Result<(InodeId, Option<&'p str>), u32> {
    let mut dir = fs.root();
    let Some((last, walk)) = parts.split_last() else {
        return Ok((dir, None));
    };
    for c in walk {
        let a = fs
            .lookup(cred, dir, c.as_bytes())
            .await
            .map_err(|e| match e {
                FsError::NotFound => STATUS_OBJECT_PATH_NOT_FOUND,
                e => fs_err(e),
            })?;
        if a.ftype != FileType::Directory {
            return Err(STATUS_OBJECT_PATH_NOT_FOUND);
        }
        dir = a.ino;
    }
    Ok((dir, Some(last)))
}

pub(crate) fn session_cred(st: &ConnState, call: &Call) -> Result<Cred, u32> {
    st.sessions
        .get(&call.session_id)
        .map(|s| s.cred.clone())
        .ok_or(STATUS_USER_SESSION_DELETED)
}

/// The open a request names, checked to belong to the caller's session.
pub(crate) fn open_mut<'a>(
    st: &'a mut ConnState,
    call: &Call,
    id: FileId,
) -> Result<&'a mut Open, u32> {
    if super::ipc::is_pipe(st, call, id) {
        return Err(STATUS_NOT_SUPPORTED);
    }
    let vid = call.file_id(id)?;
    match st.opens.get_mut(&vid) {
        Some(o) if o.session_id == call.session_id => Ok(o),
        _ => Err(STATUS_FILE_CLOSED),
    }
}

pub async fn create(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &CreateRequest,
) -> Result<Reply, u32> {
    if super::ipc::is_ipc(st, call) {
        return super::ipc::create(st, call, req);
    }
    // A durable reconnect ignores every other field (MS-SMB2 3.3.5.9.7).
    if let Some(r) = super::durable::reconnect(ctx, st, call, req).await {
        return r;
    }
    if req.create_disposition > FILE_OVERWRITE_IF {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // MS-SMB2 3.3.5.9: ImpersonationLevel above Delegate (3) is refused
    // (smbtorture smb2.create.impersonation) and so is a name starting with
    // a separator (smb2.create.leading-slash).
    if req.impersonation_level > 3 {
        return Err(STATUS_BAD_IMPERSONATION_LEVEL);
    }
    if req.name.starts_with('\\') {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // `file:stream[:$DATA]` opens a named stream; `file::$DATA` is the file.
    let mut path = req.name.as_str();
    if !st.posix {
        match super::streams::parse(path)? {
            super::streams::Target::File(p) => path = p,
            super::streams::Target::Data(p) => {
                let want_dir = req.create_options & options::DIRECTORY_FILE != 0;
                let cred = session_cred(st, call)?;
                let fs = &ctx.shares[disk_share(st, call)?].fs;
                super::streams::check_data_target(fs, &cred, p, want_dir).await?;
                path = p;
            }
            super::streams::Target::Stream { base, name } => {
                return super::streams::create(ctx, st, call, req, base, name).await;
            }
        }
    }
    let durable_asked = super::durable::requested(req)?;
    let share = disk_share(st, call)?;
    let cred = session_cred(st, call)?;
    let fs = &ctx.shares[share].fs;
    let posix_mode = super::posix::create_mode(st, &req.contexts);
    let parts = if st.posix {
        super::posix::components(&req.name)?
    } else {
        components(path)?
    };
    let (dir, last) = resolve_parent(fs, &cred, &parts).await?;
    let opts = req.create_options;
    let want_dir = opts & options::DIRECTORY_FILE != 0;
    let want_file = opts & options::NON_DIRECTORY_FILE != 0;
    if want_dir && want_file {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // Names of delete-pending files whose last open went without a CLOSE
    // (disconnect) go before this CREATE looks (one relaxed load when none).
    fs.reap_released().await;
    let existing: Option<Attr> = match last {
        None => Some(fs.getattr(dir, None).await.map_err(fs_err)?),
        Some(name) => match fs.lookup(&cred, dir, name.as_bytes()).await {
            Ok(a) => Some(a),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(fs_err(e)),
        },
    };
    super::oplock::check_key(st, req, existing.as_ref().map(|a| (fs.share().id, a.ino)))?;
    // A delete-pending file refuses new opens before any share-mode check or
    // break (MS-FSA 2.1.5.1.2; smbtorture smb2.oplock.doc).
    if existing.as_ref().is_some_and(|a| fs.delete_pending(a.ino)) {
        return Err(STATUS_DELETE_PENDING);
    }
    let disp = req.create_disposition;
    let origin = super::oplock::origin_for(st, req);
    let access = granted_access(req.desired_access);
    let stat = super::oplock::is_stat_create(req);
    let checked = existing.is_some();
    let mut share_mode = None;
    // Share modes first: a refused open breaks only handle caching (MS-SMB2
    // 3.3.5.9), a granted one then breaks write caching.
    // Each break that needs an acknowledgment may defer this CREATE (async,
    // `defer.rs`); it then runs again from the top once the breaks are done.
    if let Some(a) = existing.as_ref() {
        super::streams::check_base_delete(fs, a.ino, access).await?;
        let key = (fs.share().id, a.ino);
        share_mode = match crate::fs::sharemode::global().open(key, access, req.share_access) {
            Ok(t) => t,
            Err(_) => {
                super::defer::break_or_defer(st, call, fs, a.ino, origin, Op::Sharing).await?;
                super::sharemode::acquire(fs, a.ino, origin, access, req.share_access).await?
            }
        };
    }
    if let Some(a) = existing.as_ref().filter(|a| a.ftype == FileType::Regular) {
        let op = match disp {
            FILE_OPEN | FILE_OPEN_IF if super::oplock::is_oplock_stat_create(req) => None,
            FILE_OPEN | FILE_OPEN_IF if stat => Some(Op::OplockOpen),
            FILE_OPEN | FILE_OPEN_IF => Some(Op::Open),
            FILE_OVERWRITE | FILE_OVERWRITE_IF | FILE_SUPERSEDE => Some(Op::Write),
            _ => None,
        };
        if let Some(op) = op {
            super::defer::break_or_defer(st, call, fs, a.ino, origin, op).await?;
        }
    }
    let (attr, action) = match existing {
        Some(a) => {
            let is_dir = a.ftype == FileType::Directory;
            // An existing name fails FILE_CREATE whatever its type (open(O_CREAT |
            // O_EXCL) of a directory is EEXIST, pjdfstest open::eexist_file_exists).
            if disp == FILE_CREATE {
                return Err(STATUS_OBJECT_NAME_COLLISION);
            }
            if want_dir && !is_dir {
                return Err(STATUS_NOT_A_DIRECTORY);
            }
            if want_file && is_dir {
                return Err(STATUS_FILE_IS_A_DIRECTORY);
            }
            match disp {
                FILE_CREATE => return Err(STATUS_OBJECT_NAME_COLLISION),
                FILE_OPEN | FILE_OPEN_IF => (a, FILE_OPENED),
                FILE_OVERWRITE | FILE_OVERWRITE_IF | FILE_SUPERSEDE => {
                    if is_dir {
                        return Err(STATUS_INVALID_PARAMETER);
                    }
                    let set = SetAttr {
                        size: Some(0),
                        ..SetAttr::default()
                    };
                    let truncate = fs.setattr(&cred, a.ino, &set, None);
                    let w = super::oplock::as_open(Some(origin), truncate)
                        .await
                        .map_err(fs_err)?;
                    // Overwriting a file drops its named streams (Samba, NTFS).
                    fs.remove_all_streams(a.ino).await.map_err(fs_err)?;
                    let action = if disp == FILE_SUPERSEDE {
                        FILE_SUPERSEDED
                    } else {
                        FILE_OVERWRITTEN
                    };
                    (w.after.unwrap_or(a), action)
                }
                _ => return Err(STATUS_INVALID_PARAMETER),
            }
        }
        None => {
            let Some(name) = last else {
                return Err(STATUS_OBJECT_NAME_NOT_FOUND);
            };
            match disp {
                FILE_OPEN | FILE_OVERWRITE => return Err(STATUS_OBJECT_NAME_NOT_FOUND),
                FILE_CREATE | FILE_OPEN_IF | FILE_OVERWRITE_IF | FILE_SUPERSEDE => {}
                _ => return Err(STATUS_INVALID_PARAMETER),
            }
            let created = if want_dir {
                if disp != FILE_CREATE && disp != FILE_OPEN_IF {
                    return Err(STATUS_INVALID_PARAMETER);
                }
                let set = SetAttr {
                    mode: posix_mode,
                    ..SetAttr::default()
                };
                super::oplock::as_open(Some(origin), fs.mkdir(&cred, dir, name.as_bytes(), &set))
                    .await
            } else {
                let set = SetAttr {
                    // READONLY follows the mode (`file_times`): asked for at
                    // creation, the file is made without write bits (smbtorture
                    // durable-open.read-only); this open may still write.
                    mode: Some(posix_mode.unwrap_or(
                        if req.file_attributes & attrs::READONLY != 0 {
                            0o444
                        } else {
                            0o644
                        },
                    )),
                    ..SetAttr::default()
                };
                let create = fs.create(&cred, dir, name.as_bytes(), CreateMode::Guarded, &set);
                super::oplock::as_open(Some(origin), create).await
            };
            match created {
                Ok(c) => {
                    let a = if st.posix {
                        super::posix::apply_create_sd(fs, &cred, c.attr, &req.contexts).await?
                    } else {
                        c.attr
                    };
                    // HIDDEN/SYSTEM asked for at creation (cifs `sfu` marks its FIFOs,
                    // sockets and device nodes SYSTEM this way).
                    let asked = req.file_attributes & DOS_STORED & !attrs::ARCHIVE;
                    if asked != 0 {
                        fs.set_dos_attributes(&cred, a.ino, dos_to_store(req.file_attributes))
                            .await
                            .map_err(fs_err)?;
                    }
                    (a, FILE_CREATED)
                }
                Err(FsError::Exists) if disp == FILE_OPEN_IF => {
                    // Another client created it between the lookup and here:
                    // open what it made (smbtorture smb2.create.mkdir-dup).
                    let a = fs
                        .lookup(&cred, dir, name.as_bytes())
                        .await
                        .map_err(fs_err)?;
                    let is_dir = a.ftype == FileType::Directory;
                    if want_dir && !is_dir {
                        return Err(STATUS_NOT_A_DIRECTORY);
                    }
                    if want_file && is_dir {
                        return Err(STATUS_FILE_IS_A_DIRECTORY);
                    }
                    (a, FILE_OPENED)
                }
                Err(e) => return Err(fs_err(e)),
            }
        }
    };
    if !checked {
        // Created here, or by another client just before (FILE_OPEN_IF race).
        share_mode =
            super::sharemode::acquire(fs, attr.ino, origin, access, req.share_access).await?;
    }
    let is_dir = attr.ftype == FileType::Directory;
    let delete_on_close = opts & options::DELETE_ON_CLOSE != 0;
    if delete_on_close && (req.desired_access & (DELETE | 0x1000_0000 | 0x0200_0000) == 0) {
        return Err(STATUS_ACCESS_DENIED);
    }
    let vid = st.new_file_id();
    let persistent = crate::fs::leases::new_id();
    let file_id = FileId {
        persistent,
        volatile: vid,
    };
    let (caching, oplock_level, lease_ctx) = if is_dir {
        super::oplock::grant_dir(st, call, fs, attr.ino, origin, file_id, req)?
    } else {
        let (c, l, x) = super::oplock::grant(
            st,
            call,
            fs,
            attr.ino,
            origin,
            file_id,
            req,
            action == FILE_CREATED,
        )?;
        (Some(c), l, x)
    };
    let path = format!("\\{}", parts.join("\\"));
    let mut open = Open {
        session_id: call.session_id,
        tree_id: call.tree_id,
        share,
        ino: attr.ino,
        parent: last.map(|n| (dir, n.as_bytes().to_vec())),
        path,
        is_dir,
        delete_pending: delete_on_close,
        write_through: opts & options::WRITE_THROUGH != 0,
        granted_access: access,
        position: 0,
        scan: None,
        caching,
        share_mode,
        persistent,
        durable: None,
        hold: (!is_dir).then(|| fs.hold_open(attr.ino)),
        stream: None,
        write_time: Default::default(),
        replay: Default::default(),
    };
    let lease_granted = match &lease_ctx {
        Some(CreateContext::Lease(l)) => Some(*l),
        _ => None,
    };
    let durable_ctx = super::durable::grant(&mut open, durable_asked, lease_granted.as_ref());
    st.opens.insert(vid, open);
    call.last_file_id = Some(file_id);
    let mut contexts: Vec<CreateContext> = lease_ctx.into_iter().collect();
    contexts.extend(durable_ctx);
    for c in &req.contexts {
        match c {
            CreateContext::MaximalAccessRequest { .. } => {
                contexts.push(CreateContext::MaximalAccessResponse {
                    query_status: STATUS_SUCCESS,
                    maximal_access: FILE_ALL_ACCESS,
                })
            }
            CreateContext::QueryOnDiskIdRequest => {
                contexts.push(CreateContext::QueryOnDiskIdResponse {
                    disk_file_id: attr.ino,
                    volume_id: u64::from(fs.share().id),
                })
            }
            CreateContext::PosixRequest { .. } if posix_mode.is_some() => {
                contexts.push(super::posix::create_response(fs, &attr));
            }
            _ => {}
        }
    }
    let mut body = Vec::new();
    CreateResponse {
        oplock_level,
        flags: 0,
        create_action: action,
        times: times_of(fs, &attr).await,
        file_id,
        contexts,
    }
    .encode(&mut body);
    ok(body)
}

/// Removes what a delete-pending open names.
/// The delete of an open with delete-on-close, at its close. `windows`
/// (clients without the POSIX extensions): a file other opens hold keeps its
/// name, delete pending, until the last of them closes; else (POSIX) the name
/// goes now and the file lives on, unlinked, through the other opens.
pub(crate) async fn delete_now(
    fs: &Fs,
    cred: &Cred,
    open: &Open,
    windows: bool,
) -> Result<(), u32> {
    if let Some(s) = &open.stream {
        return super::streams::delete_now(fs, s).await;
    }
    let Some((dir, name)) = &open.parent else {
        return Err(STATUS_CANNOT_DELETE);
    };
    // Windows delete-pending: a held file keeps its name until its last open
    // closes (`crate::fs::unlinked`); the caller drops `open`, then reaps.
    if windows
        && !open.is_dir
        && open.hold.is_some()
        && fs.set_delete_pending(open.ino, Some((*dir, name.clone(), cred.clone())))
    {
        return Ok(());
    }
    // The open being closed does not keep the file; the others do.
    let r = if open.is_dir {
        fs.rmdir(cred, *dir, name).await
    } else {
        fs.remove_held(cred, *dir, name, u32::from(open.hold.is_some()))
            .await
    };
    r.map(|_| ()).map_err(fs_err)
}

pub async fn close(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &CloseRequest,
) -> Result<Reply, u32> {
    if let Some(r) = super::ipc::close(st, call, req.file_id) {
        return r;
    }
    let (cred, open) = take_open(st, call, req.file_id)?;
    let fs = ctx.shares[open.share].fs.clone();
    close_open(&fs, &cred, open, req.flags, !st.posix).await
}

/// The synchronous half of a CLOSE: checks the open and takes it out of the
/// connection (no request can name it from here on).
pub(crate) fn take_open(st: &mut ConnState, call: &Call, id: FileId) -> Result<(Cred, Open), u32> {
    let cred = session_cred(st, call)?;
    open_mut(st, call, id)?;
    let key = call.file_id(id)?;
    let open = st.opens.remove(&key).ok_or(STATUS_FILE_CLOSED)?;
    Ok((cred, open))
}

/// The fs half of a CLOSE of a taken open: the post-query, delete on close,
/// the parent's lease break, then the open is released (share mode, lease,
/// hold) and unlinked files it was the last to hold are reaped. `windows`:
/// see [`delete_now`].
pub(crate) async fn close_open(
    fs: &Fs,
    cred: &Cred,
    open: Open,
    req_flags: u16,
    windows: bool,
) -> Result<Reply, u32> {
    open.write_time.on_close(fs, open.ino).await;
    let mut times = FileTimes::default();
    let mut flags = 0;
    if req_flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0 {
        if let Ok(a) = fs.getattr(open.ino, None).await {
            times = times_of(fs, &a).await;
            flags = CLOSE_FLAG_POSTQUERY_ATTRIB;
        }
    }
    if open.delete_pending {
        if let Err(s) = delete_now(fs, cred, &open, windows).await {
            log::debug!("delete on close of {} failed: {s:#x}", open.path);
        }
    } else if let (Some(c), Some((dir, _))) = (open.caching.as_ref(), open.parent.as_ref()) {
        if c.written {
            // The write time changed on close (smbtorture smb2.lease.v2_request).
            crate::fs::dirleases::break_dir(fs.share().id, *dir, Some(c.origin));
        }
    }
    drop(open);
    fs.reap_released().await;
    let mut body = Vec::new();
    CloseResponse { flags, times }.encode(&mut body);
    ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_resolve_lexically_within_the_share() {
        assert_eq!(components("").unwrap(), Vec::<&str>::new());
        assert_eq!(components("a\\b").unwrap(), ["a", "b"]);
        assert_eq!(components("a/b\\c").unwrap(), ["a", "b", "c"]);
        assert_eq!(components("test_notify\\zqy\\..").unwrap(), ["test_notify"]);
        assert_eq!(components(".\\a\\.\\b\\.").unwrap(), ["a", "b"]);
        assert_eq!(components("a\\..").unwrap(), Vec::<&str>::new());
        assert_eq!(components("a/b/../../c").unwrap(), ["c"]);
        assert_eq!(components("a\\b/..\\c").unwrap(), ["a", "c"]);
    }

    #[test]
    fn hostile_paths_never_escape_the_root() {
        for p in [
            "..",
            "..\\..\\etc",
            "a\\..\\..",
            "a/../../etc/passwd",
            "\\..\\x",
            "a\\.\\..\\..\\b",
            "./../a",
            "a/b\\..\\../..",
        ] {
            assert_eq!(components(p), Err(STATUS_OBJECT_PATH_SYNTAX_BAD), "{p}");
        }
        assert_eq!(components("a\\b:stream"), Err(STATUS_OBJECT_NAME_INVALID));
    }
}
