//! The WAL's segment I/O behind a small trait, so that tests can inject disk
//! faults (torn writes, fdatasync errors, ENOSPC, stalls) under the real log.
//!
//! Why a trait object and boxed futures: the WAL does one write per record and
//! one fdatasync per group commit, each costing 100+ µs of device time, so a
//! heap-allocated future per call is noise; in exchange [`super::Wal`] stays a
//! plain type (no generic parameter leaking into the shard and the runtime).
//!
//! [`DmaStorage`] is the production implementation: segments preallocated and
//! zero-filled with ordinary blocking I/O once, then opened O_DIRECT through
//! glommio's `DmaFile`. [`super::faulty::FaultyStorage`] wraps it.
//!
//! Which storage a WAL uses: [`super::Wal::open_with`] takes one explicitly;
//! [`super::Wal::open`] uses the executor thread's default, which is
//! [`DmaStorage`] unless [`set_thread_default`] replaced it (the runtime's
//! test-only fault knob does that; see ARCHITECTURE.md "Fault handling").

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile, OpenOptions};

/// A boxed, thread-local I/O future.
pub type IoFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + 'a>>;

/// One open, preallocated segment file.
pub trait SegmentFile {
    /// An aligned buffer of `len` bytes for [`SegmentFile::write_at`].
    fn alloc(&self, len: usize) -> DmaBuffer;
    /// Writes `buf` at `pos` (both aligned); returns the bytes written.
    fn write_at(&self, buf: DmaBuffer, pos: u64) -> IoFuture<'_, usize>;
    /// Makes every completed write durable (fdatasync).
    fn fdatasync(&self) -> IoFuture<'_, ()>;
    /// Reads `len` bytes at `pos` (aligned), for recovery.
    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'_, Vec<u8>>;
}

/// Opens segment files.
pub trait SegmentStorage {
    /// Opens the segment at `path`, first creating it zero-filled to `bytes`
    /// when it is missing or has another size. Returns the file and whether it
    /// was (re)created (the caller then syncs the directory).
    fn open<'a>(&'a self, path: &'a Path, bytes: u64)
        -> IoFuture<'a, (Box<dyn SegmentFile>, bool)>;
}

thread_local! {
    static DEFAULT: RefCell<Option<Rc<dyn SegmentStorage>>> = const { RefCell::new(None) };
}

/// Makes `storage` the storage of every WAL later opened with
/// [`super::Wal::open`] on this thread (`None`: back to [`DmaStorage`]).
pub fn set_thread_default(storage: Option<Rc<dyn SegmentStorage>>) {
    DEFAULT.with(|d| *d.borrow_mut() = storage);
}

/// This thread's default storage.
pub(super) fn thread_default() -> Rc<dyn SegmentStorage> {
    DEFAULT
        .with(|d| d.borrow().clone())
        .unwrap_or_else(|| Rc::new(DmaStorage))
}

fn glommio_err(e: glommio::GlommioError<()>) -> io::Error {
    e.into()
}

/// Segments as O_DIRECT glommio DMA files.
#[derive(Debug, Default, Clone, Copy)]
pub struct DmaStorage;

impl SegmentStorage for DmaStorage {
    fn open<'a>(
        &'a self,
        path: &'a Path,
        bytes: u64,
    ) -> IoFuture<'a, (Box<dyn SegmentFile>, bool)> {
        Box::pin(async move {
            // Prepared with blocking I/O (once, at start) so the file is never
            // empty when glommio opens it: glommio probes io_uring polling
            // support with a read at offset 0, and an empty file answers that
            // probe with a false "supported".
            let existing = std::fs::metadata(path).ok().map(|m| m.len());
            let created = existing != Some(bytes);
            if created {
                zero_fill(path, bytes).map_err(|e| {
                    io::Error::new(e.kind(), format!("zero-fill {}: {e}", path.display()))
                })?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .dma_open(path)
                .await
                .map_err(glommio_err)?;
            let file: Box<dyn SegmentFile> = Box::new(DmaSegment(file));
            Ok((file, created))
        })
    }
}

/// Largest single recovery read: below the usual `max_sectors_kb` (1280 KiB on
/// virtio-blk, 128 KiB and up on NVMe) and within 128 4 KiB segments.
const READ_CHUNK_BYTES: usize = 512 << 10;

struct DmaSegment(DmaFile);

impl SegmentFile for DmaSegment {
    fn alloc(&self, len: usize) -> DmaBuffer {
        self.0.alloc_dma_buffer(len)
    }

    fn write_at(&self, buf: DmaBuffer, pos: u64) -> IoFuture<'_, usize> {
        Box::pin(async move { self.0.write_at(buf, pos).await.map_err(glommio_err) })
    }

    fn fdatasync(&self) -> IoFuture<'_, ()> {
        Box::pin(async move { self.0.fdatasync().await.map_err(glommio_err) })
    }

    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            // In pieces: one request larger than the device's max_sectors is split by
            // the block layer, and a split polled (IOPOLL) read never completes on some
            // kernels (Debian 6.1 virtio-blk with poll queues; see ARCHITECTURE.md).
            let mut out = Vec::with_capacity(len);
            while out.len() < len {
                let n = (len - out.len()).min(READ_CHUNK_BYTES);
                let data = self
                    .0
                    .read_at_aligned(pos + out.len() as u64, n)
                    .await
                    .map_err(glommio_err)?;
                if data.is_empty() {
                    break;
                }
                out.extend_from_slice(&data);
            }
            Ok(out)
        })
    }
}

fn zero_fill(path: &Path, bytes: u64) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}
