//! One core's write-ahead log: preallocated, reused segment files written
//! with O_DIRECT, with group commit.
//!
//! Why this shape: an acknowledged stable write must survive a crash, and the
//! cheapest durable write on Linux is an aligned O_DIRECT write into an
//! already-allocated, already-written file followed by `fdatasync` — the sync
//! then carries no size or extent metadata. So every core owns
//! `segments` files of `segment_bytes`, zero-filled once and then reused.
//!
//! Sequence numbers are assigned synchronously at reservation ([`Wal::reserve`]),
//! so the order of records equals the order in which the shard applied the
//! operations to its cache. Writes run concurrently; `sync_to(seq)` returns
//! once an `fdatasync` that *started after* every record up to `seq` was
//! written has completed. Concurrent callers share one `fdatasync` (the first
//! becomes the leader, the others wait for its result), which is group commit.
//!
//! Space: a segment is reused only after a Checkpoint record saying "every
//! record below `lwm` is in the block store" is durable and the segment's last
//! record is below `lwm`. Recovery starts at the segment holding the highest
//! checkpoint and follows segments whose `first_seq` continues the previous
//! segment's last record; it stops at the first torn, stale or missing record.
//! See ARCHITECTURE.md, "Content shards".

pub mod faulty;
mod recover;
pub mod storage;

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;

pub use dittofs_wal_format as fmt;
pub use fmt::{RecordHeader, RecordKind};
pub use recover::{OwnedRecord, Recovered};
pub use storage::{DmaStorage, SegmentFile, SegmentStorage};

/// Error of the WAL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O error: {0}")]
    Io(String),
    #[error("WAL disk is full")]
    NoSpace,
    #[error("record of {0} bytes does not fit a WAL segment")]
    TooLarge(usize),
    #[error("bad WAL configuration: {0}")]
    Config(String),
}

impl WalError {
    fn io(what: &str, io: std::io::Error) -> WalError {
        if io.raw_os_error() == Some(libc::ENOSPC) || io.kind() == std::io::ErrorKind::StorageFull {
            WalError::NoSpace
        } else {
            WalError::Io(format!("{what}: {io}"))
        }
    }
}

/// Where and how big one core's WAL is.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Directory of this core's segments (`<data_dir>/wal/core-<N>`).
    pub dir: PathBuf,
    /// Shard (core) number written into every header.
    pub shard: u32,
    /// Size of one segment file (multiple of 4096).
    pub segment_bytes: u64,
    /// Number of segment files.
    pub segments: u32,
    /// Longest a sync leader waits for more records to share its fdatasync.
    pub group_commit_window_us: u64,
}

/// A reserved place for one record.
#[derive(Debug, Clone)]
pub struct Slot {
    pub seq: u64,
    segment: usize,
    /// Epoch of the segment use this record belongs to.
    epoch: u64,
    /// Byte position of the record in its segment.
    pos: u64,
    /// Set when this record opens a (reused) segment: the header goes first.
    header: Option<fmt::SegmentHeader>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Sequence number of the last record reserved in this segment.
    last_seq: Option<u64>,
}

struct State {
    /// Epoch of the next segment use: every use of a segment gets a new,
    /// higher one, so records of an earlier use are recognised as stale.
    next_epoch: u64,
    /// Epoch of the current segment use.
    epoch: u64,
    next_seq: u64,
    segments: Vec<Segment>,
    current: usize,
    pos: u64,
    /// Segments that may be overwritten, oldest first.
    free: VecDeque<usize>,
    /// Segments written but not yet free, oldest first (excludes `current`).
    sealed: VecDeque<usize>,
    /// Records reserved whose write has not completed.
    in_flight: BTreeSet<u64>,
    /// Every record below this is durable.
    durable_below: u64,
    syncing: bool,
    /// Segments written to since the last fdatasync started.
    dirty: BTreeSet<usize>,
    /// The first write or sync error; the log refuses to promise anything after it.
    failed: Option<WalError>,
    waiters: Vec<oneshot::Sender<()>>,
    /// Highest durable checkpoint.
    checkpoint: u64,
}

impl State {
    fn written_below(&self) -> u64 {
        self.in_flight.first().copied().unwrap_or(self.next_seq)
    }

    fn wake_all(&mut self) {
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn waiter(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        rx
    }
}

/// One core's write-ahead log.
pub struct Wal {
    opts: WalOptions,
    files: Vec<Box<dyn SegmentFile>>,
    state: RefCell<State>,
}

impl Wal {
    /// Opens (creating and zero-filling when needed) the segments in
    /// `opts.dir`, reads back every record that recovery must replay, and
    /// returns them with the log. The caller replays them, makes their effect
    /// durable in the block store, and then calls [`Wal::restart`].
    ///
    /// The segments go through this executor thread's default storage
    /// ([`storage::set_thread_default`], normally [`DmaStorage`]).
    pub async fn open(opts: WalOptions) -> Result<(Rc<Wal>, Recovered), WalError> {
        Wal::open_with(opts, storage::thread_default()).await
    }

    /// Like [`Wal::open`], with the segments going through `storage`.
    pub async fn open_with(
        opts: WalOptions,
        storage: Rc<dyn SegmentStorage>,
    ) -> Result<(Rc<Wal>, Recovered), WalError> {
        let header = fmt::SEGMENT_HEADER_BYTES as u64;
        if opts.segments == 0
            || opts.segment_bytes % fmt::ALIGN_BYTES as u64 != 0
            || opts.segment_bytes < header + 2 * fmt::ALIGN_BYTES as u64
        {
            return Err(WalError::Config(format!(
                "{} segments of {} bytes",
                opts.segments, opts.segment_bytes
            )));
        }
        std::fs::create_dir_all(&opts.dir)
            .map_err(|e| WalError::Io(format!("create {}: {e}", opts.dir.display())))?;
        let mut files = Vec::with_capacity(opts.segments as usize);
        let mut created = false;
        for i in 0..opts.segments {
            let path = opts.dir.join(format!("segment-{i:04}"));
            let (file, new) = storage
                .open(&path, opts.segment_bytes)
                .await
                .map_err(|e| WalError::io(&format!("open {}", path.display()), e))?;
            created |= new;
            files.push(file);
        }
        if created {
            std::fs::File::open(&opts.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| WalError::Io(format!("fsync {}: {e}", opts.dir.display())))?;
        }
        let recovered = recover::scan(&files, opts.segment_bytes).await?;
        let segments = vec![Segment { last_seq: None }; files.len()];
        let state = State {
            next_epoch: recovered.epoch,
            epoch: 0,
            next_seq: recovered.next_seq,
            segments,
            current: 0,
            pos: opts.segment_bytes, // forces a fresh segment on first use
            free: (0..files.len()).collect(),
            sealed: VecDeque::new(),
            in_flight: BTreeSet::new(),
            durable_below: recovered.next_seq,
            syncing: false,
            dirty: BTreeSet::new(),
            failed: None,
            waiters: Vec::new(),
            checkpoint: recovered.next_seq,
        };
        let wal = Rc::new(Wal {
            opts,
            files,
            state: RefCell::new(state),
        });
        Ok((wal, recovered))
    }

    /// Forgets every old record: called once the recovered records are durable
    /// elsewhere. Zeroes the segment headers oldest first, each synced, so a
    /// crash in the middle leaves a suffix of the old log (replaying a suffix
    /// over newer state is harmless), never a prefix.
    pub async fn restart(&self, recovered: &Recovered) -> Result<(), WalError> {
        for &i in &recovered.segments_oldest_first {
            let file = &self.files[i];
            let mut buf = file.alloc(fmt::SEGMENT_HEADER_BYTES);
            buf.as_bytes_mut().fill(0);
            file.write_at(buf, 0)
                .await
                .map_err(|e| WalError::io("zero segment header", e))?;
            file.fdatasync()
                .await
                .map_err(|e| WalError::io("fdatasync", e))?;
        }
        Ok(())
    }

    /// Next sequence number to be assigned.
    pub fn next_seq(&self) -> u64 {
        self.state.borrow().next_seq
    }

    /// Largest payload one record may carry in this log (a segment holds its
    /// header, the record and one spare slot for a checkpoint).
    pub fn payload_bytes_max(&self) -> usize {
        let align = fmt::ALIGN_BYTES as u64;
        let room = self.opts.segment_bytes - fmt::SEGMENT_HEADER_BYTES as u64 - align;
        // record_len rounds header + payload up to the alignment.
        let payload = (room / align * align).saturating_sub(fmt::RECORD_HEADER_BYTES as u64);
        (payload as usize).min(fmt::MAX_PAYLOAD_BYTES)
    }

    /// Reserves a slot for a record with `payload_len` bytes of payload, or
    /// `Ok(None)` when every segment is in use (the caller makes space and retries).
    pub fn try_reserve(&self, payload_len: usize) -> Result<Option<Slot>, WalError> {
        self.reserve_inner(payload_len, fmt::ALIGN_BYTES as u64)
    }

    fn reserve_inner(&self, payload_len: usize, keep_tail: u64) -> Result<Option<Slot>, WalError> {
        let len = fmt::record_len(payload_len) as u64;
        let header = fmt::SEGMENT_HEADER_BYTES as u64;
        if header + len + fmt::ALIGN_BYTES as u64 > self.opts.segment_bytes {
            return Err(WalError::TooLarge(len as usize));
        }
        let mut st = self.state.borrow_mut();
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        let seq = st.next_seq;
        let slot = if st.pos + len + keep_tail <= self.opts.segment_bytes {
            Slot {
                seq,
                segment: st.current,
                epoch: st.epoch,
                pos: st.pos,
                header: None,
            }
        } else {
            let Some(next) = st.free.pop_front() else {
                return Ok(None);
            };
            let old = st.current;
            if st.segments[old].last_seq.is_some() {
                st.sealed.push_back(old);
            }
            st.current = next;
            st.segments[next] = Segment { last_seq: None };
            let epoch = st.next_epoch;
            st.next_epoch += 1;
            st.epoch = epoch;
            st.pos = header;
            Slot {
                seq,
                segment: next,
                epoch,
                pos: header,
                header: Some(fmt::SegmentHeader {
                    shard: self.opts.shard,
                    segment_id: next as u64,
                    epoch,
                    first_seq: seq,
                }),
            }
        };
        st.pos += len;
        st.next_seq += 1;
        let cur = slot.segment;
        st.segments[cur].last_seq = Some(seq);
        st.in_flight.insert(seq);
        Ok(Some(slot))
    }

    /// Writes the record of `slot`. Errors are also remembered: no later sync succeeds.
    pub async fn write(
        &self,
        slot: Slot,
        kind: RecordKind,
        share: u32,
        ino: u64,
        offset: u64,
        payload: &[u8],
    ) -> Result<(), WalError> {
        let (seq, segment) = (slot.seq, slot.segment);
        let result = self
            .write_inner(slot, kind, share, ino, offset, payload)
            .await;
        let mut st = self.state.borrow_mut();
        st.in_flight.remove(&seq);
        match &result {
            Ok(()) => {
                st.dirty.insert(segment);
                let stats = crate::stats::local();
                crate::stats::add(&stats.wal_appends, 1);
                crate::stats::add(&stats.wal_append_bytes, payload.len() as u64);
            }
            Err(e) => {
                log::error!("WAL write of record {seq} failed: {e}");
                st.failed.get_or_insert_with(|| e.clone());
            }
        }
        st.wake_all();
        result
    }

    async fn write_inner(
        &self,
        slot: Slot,
        kind: RecordKind,
        share: u32,
        ino: u64,
        offset: u64,
        payload: &[u8],
    ) -> Result<(), WalError> {
        let epoch = slot.epoch;
        let payload_len =
            u32::try_from(payload.len()).map_err(|_| WalError::TooLarge(payload.len()))?;
        let record = RecordHeader {
            seq: slot.seq,
            epoch,
            shard: self.opts.shard,
            kind,
            share,
            ino,
            offset,
            payload_len,
        };
        let len = fmt::record_len(payload.len());
        let file = &self.files[slot.segment];
        let (start, skip) = match slot.header {
            Some(_) => (0u64, fmt::SEGMENT_HEADER_BYTES),
            None => (slot.pos, 0),
        };
        let mut buf = file.alloc(skip + len);
        let bytes = buf.as_bytes_mut();
        if let Some(h) = &slot.header {
            fmt::encode_segment_header(h, &mut bytes[..skip])
                .map_err(|e| WalError::Io(e.to_string()))?;
        }
        fmt::encode_record(&record, payload, &mut bytes[skip..])
            .map_err(|e| WalError::Io(e.to_string()))?;
        let written = file
            .write_at(buf, start)
            .await
            .map_err(|e| WalError::io("write", e))?;
        if written != skip + len {
            return Err(WalError::Io(format!(
                "short write: {written} of {} bytes",
                skip + len
            )));
        }
        Ok(())
    }

    /// Returns once every record up to and including `seq` is durable.
    pub async fn sync_to(&self, seq: u64) -> Result<(), WalError> {
        loop {
            let wait = {
                let mut st = self.state.borrow_mut();
                if let Some(e) = &st.failed {
                    return Err(e.clone());
                }
                if st.durable_below > seq {
                    return Ok(());
                }
                if st.written_below() <= seq || st.syncing {
                    Some(st.waiter())
                } else {
                    st.syncing = true;
                    None
                }
            };
            match wait {
                Some(rx) => {
                    let _ = rx.await;
                }
                None => self.lead_sync().await,
            }
        }
    }

    /// One group fdatasync covering every record written when it starts.
    async fn lead_sync(&self) {
        if self.opts.group_commit_window_us > 0 {
            let in_flight = !self.state.borrow().in_flight.is_empty();
            if in_flight {
                glommio::timer::sleep(Duration::from_micros(self.opts.group_commit_window_us))
                    .await;
            }
        }
        let (target, segments) = {
            let mut st = self.state.borrow_mut();
            (st.written_below(), std::mem::take(&mut st.dirty))
        };
        let (started, batch) = (
            std::time::Instant::now(),
            target.saturating_sub(self.durable_below()),
        );
        let mut result = Ok(());
        for i in segments {
            if let Err(e) = self.files[i].fdatasync().await {
                result = Err(WalError::io("fdatasync", e));
                break;
            }
        }
        let mut st = self.state.borrow_mut();
        match result {
            Ok(()) => {
                st.durable_below = st.durable_below.max(target);
                let stats = crate::stats::local();
                crate::stats::add(&stats.wal_fsyncs, 1);
                stats.wal_batch.observe(batch);
                stats.wal_fsync_latency.observe_duration(started.elapsed());
                let used = self.files.len().saturating_sub(st.free.len());
                stats
                    .wal_segments_used
                    .store(used as i64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                log::error!("WAL fdatasync failed: {e}");
                st.failed.get_or_insert(e);
            }
        }
        st.syncing = false;
        st.wake_all();
    }

    /// Makes every record reserved so far durable.
    pub async fn sync_all(&self) -> Result<(), WalError> {
        let last = self.state.borrow().next_seq;
        match last.checked_sub(1) {
            Some(seq) => self.sync_to(seq).await,
            None => Ok(()),
        }
    }

    /// Records that every record below `lwm` is in the block store and frees
    /// the segments that hold only such records. Writes a Checkpoint record
    /// only when it frees something.
    pub async fn checkpoint(&self, lwm: u64) -> Result<usize, WalError> {
        let freeable = {
            let st = self.state.borrow();
            st.sealed
                .iter()
                .take_while(|&&i| st.segments[i].last_seq.is_some_and(|s| s < lwm))
                .count()
        };
        if freeable == 0 || lwm <= self.state.borrow().checkpoint {
            return Ok(0);
        }
        let slot = match self.reserve_inner(0, 0)? {
            Some(slot) => slot,
            None => return Ok(0),
        };
        let seq = slot.seq;
        // The format's checkpoint covers every record with seq <= offset.
        self.write(slot, RecordKind::Checkpoint, 0, 0, lwm - 1, &[])
            .await?;
        self.sync_to(seq).await?;
        let mut st = self.state.borrow_mut();
        st.checkpoint = st.checkpoint.max(lwm);
        let mut freed = 0;
        while let Some(&i) = st.sealed.front() {
            if st.segments[i].last_seq.is_some_and(|s| s < lwm) {
                st.sealed.pop_front();
                st.free.push_back(i);
                freed += 1;
            } else {
                break;
            }
        }
        st.wake_all();
        Ok(freed)
    }

    /// Makes everything durable and writes a Checkpoint record for `lwm` even
    /// when it frees no segment: at a clean stop, after the shard sealed its
    /// dirty blocks, so the next start replays nothing below `lwm`. When the
    /// log is full the checkpoint is skipped (the next start replays instead).
    pub async fn checkpoint_at_stop(&self, lwm: u64) -> Result<(), WalError> {
        self.sync_all().await?;
        if lwm <= self.state.borrow().checkpoint {
            return Ok(());
        }
        let Some(slot) = self.reserve_inner(0, 0)? else {
            log::info!("WAL full at stop: no checkpoint, the next start replays it");
            return Ok(());
        };
        let seq = slot.seq;
        self.write(slot, RecordKind::Checkpoint, 0, 0, lwm - 1, &[])
            .await?;
        self.sync_to(seq).await?;
        let mut st = self.state.borrow_mut();
        st.checkpoint = st.checkpoint.max(lwm);
        Ok(())
    }

    /// Waits until something changes (a write, a sync or a checkpoint completes).
    pub async fn changed(&self) {
        let rx = self.state.borrow_mut().waiter();
        let _ = rx.await;
    }

    /// Every record below this sequence number is durable.
    pub fn durable_below(&self) -> u64 {
        self.state.borrow().durable_below
    }

    /// Free segments right now (for tests and metrics).
    pub fn free_segments(&self) -> usize {
        self.state.borrow().free.len()
    }
}
