//! Server-side copy: FSCTL_SRV_REQUEST_RESUME_KEY names a source open,
//! FSCTL_SRV_COPYCHUNK(_WRITE) copies ranges of it into the destination open
//! without the data crossing the wire (what `cp` on a CIFS mount and Explorer
//! use). Limits, errors and access rules follow MS-SMB2 3.3.5.15.6 as
//! smbtorture's smb2.ioctl.copy_chunk_* tests check them.

use bytes::Bytes;
use dittofs_smb_wire::copychunk::*;
use dittofs_smb_wire::ioctl::{IoctlRequest, FSCTL_SRV_COPYCHUNK};
use dittofs_smb_wire::status::*;

use super::create::{open_mut, session_cred};
use super::dispatch::Call;
use super::misc::ioctl_body;
use super::state::ConnState;
use super::{fs_err, Reply, SmbContext};
use crate::fs::{Stability, IO_SIZE_MAX};

/// STATUS_INVALID_VIEW_SIZE: a source range past the end of the file.
const STATUS_INVALID_VIEW_SIZE: u32 = 0xC000_001F;
const FILE_READ_DATA: u32 = 0x0001;
const FILE_WRITE_DATA: u32 = 0x0002;
const FILE_EXECUTE: u32 = 0x0020;

/// The key of an open: its volatile id and the server GUID (so a key from
/// another server or a guessed one does not name an open).
fn resume_key(ctx: &SmbContext, vid: u64) -> [u8; RESUME_KEY_LEN] {
    let mut key = [0u8; RESUME_KEY_LEN];
    key[..8].copy_from_slice(&vid.to_le_bytes());
    key[8..].copy_from_slice(&ctx.server_guid);
    key
}

pub fn request_resume_key(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    open_mut(st, call, req.file_id)?;
    let vid = call.file_id(req.file_id)?;
    let out = encode_resume_key_response(&resume_key(ctx, vid));
    if out.len() > req.max_output_response as usize {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok((STATUS_SUCCESS, ioctl_body(req, &out)))
}

pub async fn copychunk(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let cred = session_cred(st, call)?;
    let dest_vid = call.file_id(req.file_id)?;
    let dest = open_mut(st, call, req.file_id)?;
    let (dest_ino, dest_share, dest_access, dest_dir) =
        (dest.ino, dest.share, dest.granted_access, dest.is_dir);
    if (req.max_output_response as usize) < 12 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let (copy, count) = CopychunkCopy::decode(req.input).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let total: u64 = copy.chunks.iter().map(|c| u64::from(c.length)).sum();
    if count > CHUNKS_MAX
        || copy
            .chunks
            .iter()
            .any(|c| c.length == 0 || c.length > CHUNK_BYTES_MAX)
        || total > u64::from(TOTAL_BYTES_MAX)
    {
        let out = encode_copychunk_response(CHUNKS_MAX, CHUNK_BYTES_MAX, TOTAL_BYTES_MAX);
        return Ok((STATUS_INVALID_PARAMETER, ioctl_body(req, &out)));
    }
    let src_vid = u64::from_le_bytes(copy.source_key[..8].try_into().unwrap_or([0; 8]));
    if copy.source_key != resume_key(ctx, src_vid) {
        return Err(STATUS_OBJECT_NAME_NOT_FOUND);
    }
    let (src_ino, src_share, src_access) = match st.opens.get(&src_vid) {
        Some(o) if o.session_id == call.session_id && !o.is_dir => {
            (o.ino, o.share, o.granted_access)
        }
        _ => return Err(STATUS_OBJECT_NAME_NOT_FOUND),
    };
    if dest_dir {
        return Err(STATUS_INVALID_DEVICE_REQUEST);
    }
    // The source is read, the destination written; plain COPYCHUNK also
    // needs read access on the destination (MS-SMB2 3.3.5.15.6).
    if src_access & (FILE_READ_DATA | FILE_EXECUTE) == 0
        || dest_access & FILE_WRITE_DATA == 0
        || (req.ctl_code == FSCTL_SRV_COPYCHUNK && dest_access & FILE_READ_DATA == 0)
    {
        return Err(STATUS_ACCESS_DENIED);
    }
    let src_fs = &ctx.shares[src_share].fs;
    let dest_fs = &ctx.shares[dest_share].fs;
    let src_size = src_fs.getattr(src_ino, None).await.map_err(fs_err)?.size;
    let mut written: u32 = 0;
    for (i, c) in copy.chunks.iter().enumerate() {
        if c.source_offset.saturating_add(u64::from(c.length)) > src_size {
            // Chunks before this one stay copied; the response says how many
            // (smbtorture smb2.ioctl.copy_chunk_src_exceed_multi).
            let out = encode_copychunk_response(i as u32, 0, written);
            return Ok((STATUS_INVALID_VIEW_SIZE, ioctl_body(req, &out)));
        }
        // Byte-range locks of other opens stop the copy like READ and WRITE
        // (smbtorture smb2.ioctl.copy_chunk_src_lock / _dest_lock); the
        // response still says how much was copied.
        let len = u64::from(c.length);
        let src_ok = super::lock::check_io_open(
            ctx,
            st,
            src_vid,
            src_share,
            src_ino,
            c.source_offset,
            len,
            false,
        );
        let dest_ok = super::lock::check_io_open(
            ctx,
            st,
            dest_vid,
            dest_share,
            dest_ino,
            c.target_offset,
            len,
            true,
        );
        if let Err(status) = src_ok.and(dest_ok) {
            let out = encode_copychunk_response(i as u32, 0, written);
            return Ok((status, ioctl_body(req, &out)));
        }
        let mut done = 0u32;
        while done < c.length {
            let want = (c.length - done).min(IO_SIZE_MAX);
            let r = src_fs
                .read(&cred, src_ino, c.source_offset + u64::from(done), want)
                .await
                .map_err(fs_err)?;
            if r.data.is_empty() {
                return Err(STATUS_INVALID_VIEW_SIZE);
            }
            let n = r.data.len() as u32;
            dest_fs
                .write(
                    &cred,
                    dest_ino,
                    c.target_offset + u64::from(done),
                    Bytes::copy_from_slice(&r.data),
                    Stability::Unstable,
                )
                .await
                .map_err(fs_err)?;
            done += n;
        }
        written += c.length;
    }
    let out = encode_copychunk_response(copy.chunks.len() as u32, 0, written);
    Ok((STATUS_SUCCESS, ioctl_body(req, &out)))
}
