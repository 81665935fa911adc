//! Lock sequence replay detection (MS-SMB2 3.3.5.14) and resilient handles
//! (FSCTL_LMR_REQUEST_RESILIENCY, 3.3.5.15.9).
//!
//! Why: a client that lost its connection resends a LOCK it cannot know the
//! outcome of. On a durable or resilient open the request's LockSequence
//! (index in the upper 28 bits, number in the low 4) names a bucket 1..=64 of
//! the open; a request whose number equals the one recorded for its bucket was
//! already applied and is answered with success, doing nothing. Any other
//! request with a valid bucket invalidates the bucket first and records its
//! number when it succeeds, so a failed request is retried for real.
//! Buckets 0 and above 64 are not checked. The state lives in the [`Open`],
//! so it moves with a parked durable open and survives the reconnect.
//!
//! Which opens are checked: durable or resilient ones (the spec's SHOULD, as
//! Samba does; smbtorture smb2.lock.replay_smb3_specification_durable) and
//! those of a session with bound channels (.._multi), not every SMB3 open, so
//! a plain open behaves as Windows' (smb2.lock.replay_broken_windows sets
//! resiliency first).
//!
//! Resiliency only marks the open for replay detection here: a resilient
//! open without a durable grant is not kept over a disconnect (not done).

use dittofs_smb_wire::create::FileId;
use dittofs_smb_wire::ioctl::IoctlRequest;
use dittofs_smb_wire::status::*;

use super::create::open_mut;
use super::dispatch::Call;
use super::state::{ConnState, Open};
use super::{ok, Reply};

/// FSCTL_LMR_REQUEST_RESILIENCY (MS-FSCC 2.3.62 / MS-SMB2 2.2.31.3).
pub const FSCTL_LMR_REQUEST_RESILIENCY: u32 = 0x0014_01D4;
/// Longest resiliency timeout accepted (MS-SMB2 3.3.5.15.9 MaxResiliencyTimeout,
/// Windows' 300 s).
const RESILIENCY_TIMEOUT_MS_MAX: u32 = 300_000;
/// Number of lock sequence buckets of an open.
const BUCKETS: usize = 64;
/// A bucket holding no valid sequence number (numbers are 4 bits).
const INVALID: u8 = 0xFF;

/// An open's replay state.
#[derive(Debug, Clone, Copy)]
pub struct LockReplay {
    buckets: [u8; BUCKETS],
    /// FSCTL_LMR_REQUEST_RESILIENCY's timeout once asked (Open.IsResilient).
    pub resilient_timeout_ms: Option<u32>,
}

impl Default for LockReplay {
    fn default() -> Self {
        LockReplay {
            buckets: [INVALID; BUCKETS],
            resilient_timeout_ms: None,
        }
    }
}

/// What [`begin`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// A replay of an applied request: answer success, do nothing.
    Replay,
    /// Process the request; on success record `Some((bucket, number))`.
    Proceed(Option<(usize, u8)>),
}

impl LockReplay {
    /// Checks a request's LockSequence on an open that is checked.
    pub fn begin(&mut self, lock_sequence: u32) -> Begin {
        let index = (lock_sequence >> 4) as usize;
        let number = (lock_sequence & 0xF) as u8;
        if !(1..=BUCKETS).contains(&index) {
            return Begin::Proceed(None);
        }
        let b = &mut self.buckets[index - 1];
        if *b == number {
            return Begin::Replay;
        }
        *b = INVALID;
        Begin::Proceed(Some((index - 1, number)))
    }

    /// Records a successful request's number.
    pub fn record(&mut self, slot: Option<(usize, u8)>) {
        if let Some((i, n)) = slot {
            self.buckets[i] = n;
        }
    }
}

/// Whether LOCKs on this open are replay-checked: durable or resilient
/// opens, and any open of a session with channels bound to it (MS-SMB2
/// 3.3.5.14: a client may resend a LOCK on another channel after one failed;
/// smbtorture smb2.lock.replay_smb3_specification_multi).
fn checked(open: &Open, session_id: u64) -> bool {
    open.durable.is_some()
        || open.replay.resilient_timeout_ms.is_some()
        || super::sessions::lookup(session_id)
            .is_some_and(|b| b.channels.load(std::sync::atomic::Ordering::Relaxed) > 0)
}

/// Before a LOCK: the replay verdict for the open it names (an unknown open
/// proceeds, and fails as such in the LOCK itself).
pub fn begin(st: &mut ConnState, call: &Call, id: FileId, lock_sequence: u32) -> Begin {
    match open_mut(st, call, id) {
        Ok(o) if checked(o, call.session_id) => o.replay.begin(lock_sequence),
        _ => Begin::Proceed(None),
    }
}

/// After a successful LOCK: records its sequence number.
pub fn record(st: &mut ConnState, call: &Call, id: FileId, slot: Option<(usize, u8)>) {
    if slot.is_none() {
        return;
    }
    if let Ok(o) = open_mut(st, call, id) {
        o.replay.record(slot);
    }
}

/// FSCTL_LMR_REQUEST_RESILIENCY: input NETWORK_RESILIENCY_REQUEST (Timeout
/// u32 ms, Reserved u32); no output.
pub fn request_resiliency(
    st: &mut ConnState,
    call: &Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    if st.dialect == 0x0202 {
        return Err(STATUS_INVALID_DEVICE_REQUEST);
    }
    let open = open_mut(st, call, req.file_id)?;
    let Some(t) = req.input.get(..4) else {
        return Err(STATUS_INVALID_PARAMETER);
    };
    if req.input.len() < 8 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let timeout_ms = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    if timeout_ms > RESILIENCY_TIMEOUT_MS_MAX {
        return Err(STATUS_INVALID_PARAMETER);
    }
    open.replay.resilient_timeout_ms = Some(timeout_ms);
    ok(super::misc::ioctl_body(req, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_replay_and_invalidate() {
        let mut r = LockReplay::default();
        assert_eq!(r.begin(0x01), Begin::Proceed(None), "bucket 0 unchecked");
        assert_eq!(r.begin(0x411), Begin::Proceed(None), "bucket 65 unchecked");
        let Begin::Proceed(slot) = r.begin(0x11) else {
            panic!("first use of a bucket is no replay");
        };
        assert_eq!(slot, Some((0, 1)));
        assert_eq!(r.begin(0x11), Begin::Proceed(Some((0, 1))), "not recorded");
        r.record(slot);
        assert_eq!(r.begin(0x11), Begin::Replay);
        assert_eq!(r.begin(0x11), Begin::Replay, "replays stay replays");
        // Another number invalidates the bucket even when it then fails.
        assert_eq!(r.begin(0x12), Begin::Proceed(Some((0, 2))));
        assert_eq!(r.begin(0x11), Begin::Proceed(Some((0, 1))));
        // Buckets are independent; 64 is the last valid one.
        let Begin::Proceed(s64) = r.begin(0x402) else {
            panic!()
        };
        r.record(s64);
        assert_eq!(r.begin(0x402), Begin::Replay);
        assert_eq!(r.begin(0x202), Begin::Proceed(Some((31, 2))));
    }
}
