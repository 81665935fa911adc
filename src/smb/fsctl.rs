//! File-system FSCTLs on an open: sparse files (FSCTL_SET_SPARSE,
//! FSCTL_SET_ZERO_DATA, FSCTL_QUERY_ALLOCATED_RANGES) and compression, which
//! this server does not do (FSCTL_GET/SET_COMPRESSION answer as Samba does
//! without it).
//!
//! Why: Windows copies (robocopy, Explorer) and `fsutil sparse` use them, and
//! smbtorture's smb2.ioctl.sparse_* only run against a server that advertises
//! FILE_SUPPORTS_SPARSE_FILES. The sparse flag is the SPARSE_FILE DOS attribute
//! bit stored per inode; zeroing goes through the fs core's durable write path
//! ([`crate::fs::Fs::zero_range`]); allocated ranges of a sparse file are the
//! 4 KiB granules that do not read as zeros ([`crate::fs::Fs::data_ranges`]), of
//! a non-sparse file the whole queried range up to the end of file (MS-FSA
//! 2.1.5.9.20). Status codes and their order follow Samba's `fsctl_*`.

use dittofs_smb_wire::fscc::attr as attrs;
use dittofs_smb_wire::fsctl::*;
use dittofs_smb_wire::ioctl::IoctlRequest;
use dittofs_smb_wire::status::*;

use super::create::{open_mut, session_cred};
use super::dispatch::Call;
use super::misc::ioctl_body;
use super::state::ConnState;
use super::{fs_err, times_of, with_sparse, Reply, SmbContext};

/// STATUS_INVALID_USER_BUFFER: no room for FSCTL_GET_COMPRESSION's output.
const STATUS_INVALID_USER_BUFFER: u32 = 0xC000_00E8;
const FILE_READ_DATA: u32 = 0x0001;
const FILE_WRITE_DATA: u32 = 0x0002;
const FILE_APPEND_DATA: u32 = 0x0004;
const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
/// Allocation granule of sparse files: a 4 KiB block that reads as zeros is a
/// hole (what Samba reports on ext4/xfs).
const GRANULE_BYTES: u64 = 4096;

/// What the handlers need of the open.
struct Target {
    share: usize,
    ino: crate::fs::InodeId,
    access: u32,
    is_dir: bool,
}

fn target(st: &mut ConnState, call: &Call, req: &IoctlRequest<'_>) -> Result<Target, u32> {
    let o = open_mut(st, call, req.file_id)?;
    Ok(Target {
        share: o.share,
        ino: o.ino,
        access: o.granted_access,
        is_dir: o.is_dir,
    })
}

/// FSCTL_SET_SPARSE: sets or clears the sparse flag of a file.
pub async fn set_sparse(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let cred = session_cred(st, call)?;
    let t = target(st, call, req)?;
    if t.is_dir {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // Windows allows it with any of these (Samba's reading).
    if t.access & (FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_APPEND_DATA) == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    let sparse = decode_set_sparse(req.input);
    let fs = &ctx.shares[t.share].fs;
    let stored = fs.dos_attributes(t.ino).await.map_err(fs_err)?;
    if (stored & attrs::SPARSE_FILE != 0) != sparse {
        let attr = fs.getattr(t.ino, None).await.map_err(fs_err)?;
        let derived = super::file_times(&attr).file_attributes;
        fs.set_dos_attributes(&cred, t.ino, with_sparse(stored, derived, sparse))
            .await
            .map_err(fs_err)?;
    }
    Ok((STATUS_SUCCESS, ioctl_body(req, &[])))
}

/// FSCTL_SET_ZERO_DATA: zeroes a range (never past the end of file).
pub async fn set_zero_data(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let cred = session_cred(st, call)?;
    let t = target(st, call, req)?;
    let z = ZeroDataInfo::decode(req.input).map_err(|_| STATUS_INVALID_PARAMETER)?;
    if t.access & FILE_WRITE_DATA == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    if t.is_dir || z.file_offset < 0 || z.beyond_final_zero < z.file_offset {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let (offset, end) = (z.file_offset as u64, z.beyond_final_zero as u64);
    if offset == end {
        return Ok((STATUS_SUCCESS, ioctl_body(req, &[])));
    }
    super::lock::check_io(ctx, st, call, req.file_id, offset, end - offset, true)?;
    ctx.shares[t.share]
        .fs
        .zero_range(&cred, t.ino, offset, end)
        .await
        .map_err(fs_err)?;
    Ok((STATUS_SUCCESS, ioctl_body(req, &[])))
}

/// FSCTL_QUERY_ALLOCATED_RANGES: which parts of a range hold data.
pub async fn query_allocated_ranges(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let t = target(st, call, req)?;
    if t.access & FILE_READ_DATA == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    let q = AllocatedRange::decode(req.input).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let (offset, len) = (q.file_offset as u64, q.length as u64);
    if offset.checked_add(len).is_none() || q.file_offset < 0 || q.length < 0 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    if t.is_dir {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let fs = &ctx.shares[t.share].fs;
    let attr = fs.getattr(t.ino, None).await.map_err(fs_err)?;
    let end = (offset + len).min(attr.size);
    let ranges = if len == 0 || offset >= end {
        Vec::new()
    } else if times_of(fs, &attr).await.file_attributes & attrs::SPARSE_FILE == 0 {
        vec![(offset, end - offset)]
    } else {
        // One more than fits says whether the reply would overflow.
        let fit = req.max_output_response as usize / AllocatedRange::LEN;
        fs.data_ranges(t.ino, offset, end - offset, GRANULE_BYTES, fit + 1)
            .await
            .map_err(fs_err)?
    };
    let mut out = Vec::with_capacity(ranges.len() * AllocatedRange::LEN);
    for (file_offset, length) in ranges {
        AllocatedRange {
            file_offset: file_offset as i64,
            length: length as i64,
        }
        .encode(&mut out);
    }
    if out.len() > req.max_output_response as usize {
        return Err(STATUS_BUFFER_TOO_SMALL);
    }
    Ok((STATUS_SUCCESS, ioctl_body(req, &out)))
}

/// FSCTL_GET_COMPRESSION: never compressed.
pub fn get_compression(
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    target(st, call, req)?;
    if (req.max_output_response as usize) < 2 {
        return Err(STATUS_INVALID_USER_BUFFER);
    }
    Ok((
        STATUS_SUCCESS,
        ioctl_body(req, &encode_compression(COMPRESSION_FORMAT_NONE)),
    ))
}

/// FSCTL_SET_COMPRESSION: turning it off is a no-op, turning it on is not
/// supported.
pub fn set_compression(
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let t = target(st, call, req)?;
    if t.access & FILE_WRITE_DATA == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    match decode_compression(req.input).map_err(|_| STATUS_INVALID_PARAMETER)? {
        COMPRESSION_FORMAT_NONE => Ok((STATUS_SUCCESS, ioctl_body(req, &[]))),
        _ => Err(STATUS_NOT_SUPPORTED),
    }
}
