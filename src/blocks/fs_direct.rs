//! `O_DIRECT` object writes for the filesystem block store.
//!
//! `O_DIRECT` needs the buffer, the file offset and the length aligned to the
//! device's logical block size; `ALIGN_BYTES` (4 KiB) covers every common
//! device. The object is copied into a per-thread aligned buffer (reused, so
//! its pages are faulted in once per uploader thread, not once per object),
//! written rounded up to `ALIGN_BYTES`, and cut back to its length with
//! `set_len`; the caller fsyncs, which also makes that length durable.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Alignment of buffer, offset and length of an `O_DIRECT` write.
const ALIGN_BYTES: usize = 4096;

/// Largest buffer an uploader thread keeps between objects (bigger objects get
/// a buffer of their own that is freed after the write).
const KEEP_BYTES_MAX: usize = 16 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The filesystem does not do `O_DIRECT` (tmpfs: EINVAL at open or write).
pub(super) fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

/// Creates `path` (it must not exist) holding exactly `data`, written with
/// `O_DIRECT`; not yet fsynced.
pub(super) fn write_new(path: &Path, data: &[u8]) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let padded = data.len().div_ceil(ALIGN_BYTES) * ALIGN_BYTES;
    BUFFER.with(|cell| -> io::Result<()> {
        let mut own = Vec::new();
        let mut kept = cell.borrow_mut();
        let raw: &mut Vec<u8> = if padded <= KEEP_BYTES_MAX {
            &mut kept
        } else {
            &mut own
        };
        if raw.len() < padded + ALIGN_BYTES {
            raw.resize(padded + ALIGN_BYTES, 0);
        }
        let skip = raw.as_ptr().align_offset(ALIGN_BYTES);
        if skip >= ALIGN_BYTES {
            return Err(io::Error::other("cannot align the O_DIRECT buffer"));
        }
        let aligned = &mut raw[skip..skip + padded];
        aligned[..data.len()].copy_from_slice(data);
        aligned[data.len()..].fill(0);
        file.write_all(aligned)
    })?;
    if padded != data.len() {
        file.set_len(data.len() as u64)?;
    }
    Ok(file)
}
