//! Metrics of SMB requests: per command counts, errors by NTSTATUS, latency,
//! and file bytes read and written (the NFS families with `protocol="smb"`),
//! plus the access-log line when `[logging] access_log` is on.
//!
//! Why here and not in each handler: one call per request from the dispatch
//! loop covers every command, and the byte counts are read from the wire
//! (a READ response's DataLength, a successful WRITE request's Length), so
//! the handlers stay free of bookkeeping.

use std::net::SocketAddr;
use std::time::Instant;

use dittofs_smb_wire::header::{Command, Header};
use dittofs_smb_wire::status::STATUS_SUCCESS;

use crate::metrics::{self, ops::smb_status_index, Protocol};

/// SMB2 header bytes (the request message starts with one).
const HEADER_BYTES: usize = 64;

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 4)?;
    Some(u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])))
}

/// Records one answered request: `msg` is the request (header included),
/// `body` the response body, `status` its NTSTATUS.
pub(crate) fn request(
    hdr: &Header,
    msg: &[u8],
    status: u32,
    body: &[u8],
    started: Instant,
    peer: Option<SocketAddr>,
) {
    if !metrics::enabled() {
        return;
    }
    let cmd = u32::from(hdr.command);
    let index = smb_status_index(status);
    match peer {
        Some(peer) => metrics::observe_request(Protocol::Smb, cmd, index, started, peer),
        None => metrics::request(Protocol::Smb, cmd, index, started.elapsed()),
    }
    if status != STATUS_SUCCESS {
        return;
    }
    match hdr.cmd() {
        // READ response: StructureSize(2) DataOffset(1) Reserved(1) DataLength(4).
        Some(Command::Read) => {
            if let Some(n) = u32_at(body, 4) {
                metrics::read_bytes(Protocol::Smb, n);
            }
        }
        // WRITE request: StructureSize(2) DataOffset(2) Length(4).
        Some(Command::Write) => {
            if let Some(n) = u32_at(msg, HEADER_BYTES + 4) {
                metrics::written_bytes(Protocol::Smb, n);
            }
        }
        _ => {}
    }
}
