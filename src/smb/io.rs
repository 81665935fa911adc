//! READ, WRITE and FLUSH. Large (multi-credit) requests are cut into the fs
//! core's I/O size; FLUSH makes the file durable the way NFS COMMIT does.
//!
//! READ and WRITE are split in two: [`prepare_read`]/[`prepare_write`] check
//! the request against the connection state (open, access, byte-range locks)
//! and capture what the I/O needs into an [`IoJob`]; [`IoJob::execute`] does
//! the fs I/O without the state, so the pipeline (`pipeline.rs`) can run it as
//! a detached task while the connection handles its next frame. A CLOSE of
//! a file is split the same way ([`prepare_close`]), and so is a FLUSH
//! ([`prepare_flush`]): its task waits for the WAL records of the file's
//! writes to be fsynced (`Fs::commit`) before the reply is built.
//!
//! WRITE leaves mtime to the delayed write-time rules (`writetime.rs`) and
//! stamps ctime coarsely (`Fs::write_keep_mtime`): an overwrite within 10 ms
//! of the last stamp does not wait for a metadata-store commit, which
//! otherwise bounded 4 KiB random writes at a commit per request.

use std::rc::Rc;

use bytes::Bytes;
use dittofs_smb_wire::create::CloseRequest;
use dittofs_smb_wire::io::{
    FlushRequest, ReadRequest, ReadResponse, WriteRequest, WriteResponse, WRITEFLAG_WRITE_THROUGH,
};
use dittofs_smb_wire::session::encode_empty;
use dittofs_smb_wire::status::*;

use super::create::{open_mut, session_cred};
use super::dispatch::Call;
use super::state::{ConnState, Open};
use super::{fs_err, ok, Reply, SmbContext, IO_BYTES_MAX};
use crate::fs::{Cred, Fs, InodeId, Stability, IO_SIZE_MAX};

/// FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_EXECUTE.
const FILE_READ_DATA: u32 = 0x0001;
const FILE_WRITE_DATA: u32 = 0x0002;
const FILE_APPEND_DATA: u32 = 0x0004;
const FILE_EXECUTE: u32 = 0x0020;
/// Largest file offset + length a WRITE may reach: NTFS's maximum file size
/// (16 TiB - 64 KiB), what Windows and Samba enforce (smbtorture smb2.rw.invalid).
const WRITE_END_MAX: u64 = 0xfff_ffff_0000;
/// Offsets are signed 64-bit on the wire's consumers.
const OFFSET_MAX: u64 = i64::MAX as u64;

/// The fs half of a checked READ or WRITE: owns everything it needs, borrows
/// nothing from the connection.
pub(crate) struct IoJob {
    fs: Rc<Fs>,
    cred: Cred,
    ino: InodeId,
    offset: u64,
    kind: IoKind,
}

enum IoKind {
    Read {
        length: u32,
        minimum_count: u32,
    },
    Write {
        data: Bytes,
        stable: Stability,
    },
    /// A FLUSH: everything written to the file becomes durable, and the
    /// handle's pending write-time update is applied.
    Flush {
        write_time: super::writetime::WriteTime,
    },
    /// A CLOSE: the open already left the connection (`create::take_open`).
    Close {
        open: Box<Open>,
        flags: u16,
        /// Windows delete-pending semantics (no POSIX extensions).
        windows: bool,
    },
}

impl IoJob {
    /// Bytes this job holds in memory while in flight (the WRITE payload).
    pub(crate) fn held_bytes(&self) -> usize {
        match &self.kind {
            IoKind::Read { length, .. } => *length as usize,
            IoKind::Write { data, .. } => data.len(),
            IoKind::Flush { .. } | IoKind::Close { .. } => 0,
        }
    }

    /// Runs the I/O: the reply and, on success, the open's new position.
    pub(crate) async fn execute(self) -> (Result<Reply, u32>, Option<u64>) {
        let r = match self.kind {
            IoKind::Read {
                length,
                minimum_count,
            } => {
                read_data(
                    &self.fs,
                    &self.cred,
                    self.ino,
                    self.offset,
                    length,
                    minimum_count,
                )
                .await
            }
            IoKind::Write { data, stable } => {
                write_data(&self.fs, &self.cred, self.ino, self.offset, data, stable).await
            }
            IoKind::Flush { write_time } => {
                return (
                    flush_file(&self.fs, &self.cred, self.ino, &write_time).await,
                    None,
                );
            }
            IoKind::Close {
                open,
                flags,
                windows,
            } => {
                let r =
                    super::create::close_open(&self.fs, &self.cred, *open, flags, windows).await;
                return (r, None);
            }
        };
        match r {
            Ok((reply, pos)) => (Ok(reply), Some(pos)),
            Err(status) => (Err(status), None),
        }
    }
}

/// Takes the open a CLOSE names out of the connection and captures the rest
/// of the CLOSE (post-query, delete on close, release) as a job.
pub(crate) fn prepare_close(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &CloseRequest,
) -> Result<IoJob, u32> {
    let (cred, open) = super::create::take_open(st, call, req.file_id)?;
    Ok(IoJob {
        fs: ctx.shares[open.share].fs.clone(),
        cred,
        ino: open.ino,
        offset: 0,
        kind: IoKind::Close {
            open: Box::new(open),
            flags: req.flags,
            windows: !st.posix,
        },
    })
}

/// Checks a READ of an open file (not a pipe) and captures its I/O.
pub(crate) fn prepare_read(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &ReadRequest,
) -> Result<IoJob, u32> {
    if req.length > IO_BYTES_MAX {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let cred = session_cred(st, call)?;
    if !open_mut(st, call, req.file_id)?.is_dir {
        let len = u64::from(req.length);
        super::lock::check_io(ctx, st, call, req.file_id, req.offset, len, false)?;
    }
    let open = open_mut(st, call, req.file_id)?;
    if open.is_dir {
        return Err(STATUS_INVALID_DEVICE_REQUEST);
    }
    // Reading needs FILE_READ_DATA, or FILE_EXECUTE (smb2.read.access).
    if open.granted_access & (FILE_READ_DATA | FILE_EXECUTE) == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    // Offsets past i64::MAX are invalid (smb2.rw.invalid).
    if req.offset > OFFSET_MAX || req.offset + u64::from(req.length) > OFFSET_MAX {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(IoJob {
        fs: ctx.shares[open.share].fs.clone(),
        cred,
        ino: open.ino,
        offset: req.offset,
        kind: IoKind::Read {
            length: req.length,
            minimum_count: req.minimum_count,
        },
    })
}

async fn read_data(
    fs: &Fs,
    cred: &Cred,
    ino: InodeId,
    start: u64,
    length: u32,
    minimum_count: u32,
) -> Result<(Reply, u64), u32> {
    let mut data: Vec<u8> = Vec::new();
    let mut offset = start;
    let end = start.saturating_add(u64::from(length));
    while offset < end {
        let want = u32::try_from((end - offset).min(u64::from(IO_SIZE_MAX))).unwrap_or(IO_SIZE_MAX);
        let r = fs.read(cred, ino, offset, want).await.map_err(fs_err)?;
        if data.is_empty() && r.data.len() as u64 == end - offset {
            // One chunk satisfies the whole read: no concatenation needed.
            data = r.data.to_vec();
            break;
        }
        data.extend_from_slice(&r.data);
        offset += r.data.len() as u64;
        if r.eof || r.data.is_empty() {
            break;
        }
    }
    if (data.is_empty() && length > 0) || (data.len() as u64) < u64::from(minimum_count) {
        return Err(STATUS_END_OF_FILE);
    }
    let mut body = Vec::with_capacity(16 + data.len());
    ReadResponse {
        data_remaining: 0,
        data: &data,
    }
    .encode(&mut body);
    Ok((ok(body)?, start + data.len() as u64))
}

/// Sets the position of the open `call`'s request named, if it is still open.
fn set_position(st: &mut ConnState, call: &Call, id: dittofs_smb_wire::create::FileId, at: u64) {
    if let Ok(open) = open_mut(st, call, id) {
        open.position = at;
    }
}

pub async fn read(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &ReadRequest,
) -> Result<Reply, u32> {
    if req.length > IO_BYTES_MAX {
        return Err(STATUS_INVALID_PARAMETER);
    }
    if let Some(r) = super::ipc::read(st, call, req) {
        return r;
    }
    let job = prepare_read(ctx, st, call, req)?;
    let (reply, pos) = job.execute().await;
    if let Some(at) = pos {
        set_position(st, call, req.file_id, at);
    }
    reply
}

/// Checks a WRITE to an open file (not a pipe) and captures its I/O (the
/// payload is copied out of the frame).
pub(crate) fn prepare_write(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &WriteRequest<'_>,
) -> Result<IoJob, u32> {
    if req.data.len() > IO_BYTES_MAX as usize {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let cred = session_cred(st, call)?;
    if !open_mut(st, call, req.file_id)?.is_dir {
        let len = req.data.len() as u64;
        super::lock::check_io(ctx, st, call, req.file_id, req.offset, len, true)?;
    }
    let open = open_mut(st, call, req.file_id)?;
    if open.is_dir {
        return Err(STATUS_INVALID_DEVICE_REQUEST);
    }
    // Writing needs FILE_WRITE_DATA or FILE_APPEND_DATA (smb2.compound.related6).
    if open.granted_access & (FILE_WRITE_DATA | FILE_APPEND_DATA) == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    let len = req.data.len() as u64;
    if req.offset > OFFSET_MAX || (len > 0 && req.offset + len > WRITE_END_MAX) {
        return Err(STATUS_INVALID_PARAMETER);
    }
    if let Some(c) = open.caching.as_mut() {
        // Its CLOSE breaks the parent directory's lease (`fs/dirleases.rs`).
        c.written = true;
    }
    let fs = &ctx.shares[open.share].fs;
    if !req.data.is_empty() {
        open.write_time.on_write(fs, open.ino);
    }
    if let Some((parent, name)) = &open.parent {
        // Lets a change-notify watcher see this write (one load when none).
        fs.hint_location(open.ino, *parent, name);
    }
    let stable = if open.write_through || req.flags & WRITEFLAG_WRITE_THROUGH != 0 {
        Stability::FileSync
    } else {
        Stability::Unstable
    };
    Ok(IoJob {
        fs: ctx.shares[open.share].fs.clone(),
        cred,
        ino: open.ino,
        offset: req.offset,
        kind: IoKind::Write {
            data: Bytes::copy_from_slice(req.data),
            stable,
        },
    })
}

async fn write_data(
    fs: &Fs,
    cred: &Cred,
    ino: InodeId,
    offset: u64,
    data: Bytes,
    stable: Stability,
) -> Result<(Reply, u64), u32> {
    let mut written = 0usize;
    let mut from = 0usize;
    while from < data.len() {
        let to = (from + IO_SIZE_MAX as usize).min(data.len());
        let at = offset + written as u64;
        let w = fs
            .write_keep_mtime(cred, ino, at, data.slice(from..to), stable)
            .await
            .map_err(fs_err)?;
        written += w.count as usize;
        from = to;
    }
    if data.is_empty() && offset <= WRITE_END_MAX {
        // A zero-length write still checks the handle and permissions.
        fs.write_keep_mtime(cred, ino, offset, Bytes::new(), stable)
            .await
            .map_err(fs_err)?;
    }
    let mut body = Vec::new();
    WriteResponse {
        count: u32::try_from(written).unwrap_or(u32::MAX),
        remaining: 0,
    }
    .encode(&mut body);
    Ok((ok(body)?, offset + written as u64))
}

pub async fn write(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &WriteRequest<'_>,
) -> Result<Reply, u32> {
    if req.data.len() > IO_BYTES_MAX as usize {
        return Err(STATUS_INVALID_PARAMETER);
    }
    if let Some(r) = super::ipc::write(ctx, st, call, req).await {
        return r;
    }
    let job = prepare_write(ctx, st, call, req)?;
    let (reply, pos) = job.execute().await;
    if let Some(at) = pos {
        set_position(st, call, req.file_id, at);
    }
    reply
}

/// Checks a FLUSH of an open and captures the commit. Run as a pipeline
/// task it starts only once no request on its file is in flight
/// (`pipeline::start`), so the WRITEs of its handle sent before it have
/// reserved their WAL records and the commit covers them.
pub(crate) fn prepare_flush(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &FlushRequest,
) -> Result<IoJob, u32> {
    let cred = session_cred(st, call)?;
    let open = open_mut(st, call, req.file_id)?;
    Ok(IoJob {
        fs: ctx.shares[open.share].fs.clone(),
        cred,
        ino: open.ino,
        offset: 0,
        kind: IoKind::Flush {
            write_time: open.write_time.clone(),
        },
    })
}

/// Makes everything written to `ino` durable and applies the handle's
/// pending write-time update (`writetime.rs`); the FLUSH reply.
async fn flush_file(
    fs: &Fs,
    cred: &Cred,
    ino: InodeId,
    write_time: &super::writetime::WriteTime,
) -> Result<Reply, u32> {
    fs.commit(cred, ino).await.map_err(fs_err)?;
    write_time.flush_pending(fs, ino).await;
    let mut body = Vec::new();
    encode_empty(&mut body);
    ok(body)
}

pub async fn flush(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &FlushRequest,
) -> Result<Reply, u32> {
    prepare_flush(ctx, st, call, req)?.execute().await.0
}
