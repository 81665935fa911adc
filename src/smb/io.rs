//! READ, WRITE and FLUSH. Large (multi-credit) requests are cut into the fs
//! core's I/O size; FLUSH makes the file durable the way NFS COMMIT does.

use bytes::Bytes;
use dittofs_smb_wire::io::{
    FlushRequest, ReadRequest, ReadResponse, WriteRequest, WriteResponse, WRITEFLAG_WRITE_THROUGH,
};
use dittofs_smb_wire::session::encode_empty;
use dittofs_smb_wire::status::*;

use super::create::{open_mut, session_cred};
use super::dispatch::Call;
use super::state::ConnState;
use super::{fs_err, ok, Reply, SmbContext, IO_BYTES_MAX};
use crate::fs::{Stability, IO_SIZE_MAX};

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
    let fs = &ctx.shares[open.share].fs;
    let mut data: Vec<u8> = Vec::new();
    let mut offset = req.offset;
    let end = req.offset.saturating_add(u64::from(req.length));
    while offset < end {
        let want = u32::try_from((end - offset).min(u64::from(IO_SIZE_MAX))).unwrap_or(IO_SIZE_MAX);
        let r = fs
            .read(&cred, open.ino, offset, want)
            .await
            .map_err(fs_err)?;
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
    if (data.is_empty() && req.length > 0) || (data.len() as u64) < u64::from(req.minimum_count) {
        return Err(STATUS_END_OF_FILE);
    }
    open.position = req.offset + data.len() as u64;
    let mut body = Vec::with_capacity(16 + data.len());
    ReadResponse {
        data_remaining: 0,
        data: &data,
    }
    .encode(&mut body);
    ok(body)
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
    let fs = &ctx.shares[open.share].fs;
    if let Some((parent, name)) = &open.parent {
        // Lets a change-notify watcher see this write (one load when none).
        fs.hint_location(open.ino, *parent, name);
    }
    let stable = if open.write_through || req.flags & WRITEFLAG_WRITE_THROUGH != 0 {
        Stability::FileSync
    } else {
        Stability::Unstable
    };
    let mut written = 0usize;
    for chunk in req.data.chunks(IO_SIZE_MAX as usize) {
        let at = req.offset + written as u64;
        let w = fs
            .write(&cred, open.ino, at, Bytes::copy_from_slice(chunk), stable)
            .await
            .map_err(fs_err)?;
        written += w.count as usize;
    }
    if req.data.is_empty() && req.offset <= WRITE_END_MAX {
        // A zero-length write still checks the handle and permissions.
        fs.write(&cred, open.ino, req.offset, Bytes::new(), stable)
            .await
            .map_err(fs_err)?;
    }
    open.position = req.offset + written as u64;
    let mut body = Vec::new();
    WriteResponse {
        count: u32::try_from(written).unwrap_or(u32::MAX),
        remaining: 0,
    }
    .encode(&mut body);
    ok(body)
}

pub async fn flush(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &FlushRequest,
) -> Result<Reply, u32> {
    let cred = session_cred(st, call)?;
    let open = open_mut(st, call, req.file_id)?;
    let fs = &ctx.shares[open.share].fs;
    fs.commit(&cred, open.ino).await.map_err(fs_err)?;
    let mut body = Vec::new();
    encode_empty(&mut body);
    ok(body)
}
