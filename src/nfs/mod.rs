//! NFSv3 (RFC 1813), MOUNT v3 and portmap v2 on the one NFS port.
//!
//! The runtime hands every complete RPC record to [`handle_record`], which
//! decodes the call header, picks the program (NFS, MOUNT or portmap, all on
//! one port so no system portmapper is needed), and answers with a reply body.
//! Codecs ([`args`], [`results`], [`wire`], [`handle`]) are pure; handlers in
//! [`handlers`] are thin: decode → one `fs` call → encode.

pub mod args;
mod dispatch;
pub mod export;
pub mod handle;
mod handlers;
pub mod mount;
pub mod portmap;
pub mod results;
pub mod results_decode;
pub mod status;
pub mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_results;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;

use crate::config::ShareConfig;
use crate::fs::Fs;
use crate::rpc::message::{encode_accepted, encode_auth_error, encode_rpc_mismatch};
use crate::rpc::{AcceptStat, CallError, CallHeader, RpcError, XdrReader, XdrWriter};

pub use handle::FileHandle;
pub use status::{nfs3_status, Nfsstat3};

/// RPC program number of NFS.
pub const NFS_PROGRAM: u32 = 100003;
/// The NFS version served.
pub const NFS_VERSION: u32 = 3;
/// RPC program number of MOUNT.
pub const MOUNT_PROGRAM: u32 = 100005;
/// The MOUNT version served.
pub const MOUNT_VERSION: u32 = 3;
/// RPC program number of the portmapper.
pub const PORTMAP_PROGRAM: u32 = 100000;
/// The portmap version served.
pub const PORTMAP_VERSION: u32 = 2;

/// One exported share on this core.
pub struct Export {
    pub fs: Rc<Fs>,
    pub config: ShareConfig,
}

/// A MOUNT table entry (what MOUNT DUMP lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub host: String,
    pub dir: String,
}

/// Everything the NFS side of one core needs to answer calls.
pub struct NfsContext {
    /// Exported shares; the index is the share id carried in file handles.
    pub exports: Vec<Export>,
    /// The port NFS, MOUNT and portmap answer on (what GETPORT reports).
    pub port: u16,
    /// WRITE/COMMIT verifier; new at every server start.
    pub write_verifier: [u8; 8],
    /// Parsed `allowed_clients` of each export, same index as `exports`.
    allowed: Vec<Vec<crate::config::Cidr>>,
    /// Clients that mounted through this core (per core, like everything else).
    mounts: RefCell<Vec<MountEntry>>,
    /// Share permissions of AUTH_SYS uids that map to users; `None` (unit
    /// tests): every caller gets the share's `default_permission`.
    identity: Option<crate::identity::PermissionCache>,
    /// `default_permission` and `allowed_clients` now in force (replaced on
    /// reload); `None` (unit tests): the export configs as built.
    live: Option<std::sync::Arc<crate::identity::LiveAccess>>,
}

impl NfsContext {
    pub fn new(exports: Vec<Export>, port: u16, write_verifier: [u8; 8]) -> Self {
        let allowed = exports
            .iter()
            .map(|e| export::parse_allowed(&e.config))
            .collect();
        NfsContext {
            exports,
            port,
            write_verifier,
            allowed,
            mounts: RefCell::new(Vec::new()),
            identity: None,
            live: None,
        }
    }

    /// Resolves share permissions through `cache` (users and groups).
    pub fn with_identity(mut self, cache: crate::identity::PermissionCache) -> Self {
        self.identity = Some(cache);
        self
    }

    /// Follows `live` for `default_permission` and `allowed_clients`.
    pub fn with_live_access(mut self, live: std::sync::Arc<crate::identity::LiveAccess>) -> Self {
        self.live = Some(live);
        self
    }

    /// The share permission of the caller with (mapped) `uid` on export
    /// `share_id`: its user's grants when the uid maps to a user, else the
    /// share's `default_permission`. A failing identity store answers IO.
    pub async fn share_permission(
        &self,
        share_id: usize,
        uid: u32,
    ) -> Result<crate::config::SharePermission, Nfsstat3> {
        let Some(export) = self.exports.get(share_id) else {
            return Err(Nfsstat3::Stale);
        };
        let default = self
            .live
            .as_ref()
            .and_then(|l| l.snapshot().get(share_id).map(|a| a.default_permission))
            .unwrap_or(export.config.default_permission);
        let Some(cache) = &self.identity else {
            return Ok(default);
        };
        cache
            .permission(uid, &export.config.name, default)
            .await
            .map_err(|e| {
                log::warn!("share {}: resolving uid {uid}: {e}", export.config.name);
                Nfsstat3::Io
            })
    }

    /// Whether `peer` may use export `share_id` (`false` for an unknown share).
    pub fn is_allowed(&self, share_id: usize, peer: std::net::IpAddr) -> bool {
        if let Some(live) = &self.live {
            return live
                .snapshot()
                .get(share_id)
                .is_some_and(|a| a.is_allowed(peer));
        }
        match (self.exports.get(share_id), self.allowed.get(share_id)) {
            (Some(e), Some(allowed)) => {
                export::is_allowed(allowed, e.config.allowed_clients.len(), peer)
            }
            _ => false,
        }
    }

    /// A copy of the MOUNT table.
    pub fn mounts(&self) -> Vec<MountEntry> {
        self.mounts.borrow().clone()
    }
}

/// Handles one complete RPC record (without record mark); `Ok(Some(reply body))` to send,
/// `Ok(None)` for no reply, `Err` when the record is not an RPC call at all (xid
/// unreadable / not a CALL): the connection gets closed.
pub async fn handle_record(
    ctx: &NfsContext,
    peer: SocketAddr,
    record: Bytes,
) -> Result<Option<Bytes>, RpcError> {
    let mut r = XdrReader::new(record);
    let mut w = XdrWriter::with_capacity(512);
    let hdr = match CallHeader::decode(&mut r) {
        Ok(h) => h,
        Err(CallError::NotACall) => {
            log::warn!("{peer}: record is not an RPC call; closing");
            return Err(RpcError::NotACall);
        }
        Err(CallError::RpcMismatch { xid, vers }) => {
            log::warn!("{peer}: xid {xid:#x}: RPC version {vers}");
            encode_rpc_mismatch(&mut w, xid);
            return Ok(Some(w.into_bytes()));
        }
        Err(CallError::Auth { xid, stat }) => {
            log::warn!("{peer}: xid {xid:#x}: credential refused ({stat:?})");
            encode_auth_error(&mut w, xid, stat);
            return Ok(Some(w.into_bytes()));
        }
        Err(CallError::Garbage { xid }) => {
            log::warn!("{peer}: xid {xid:#x}: truncated call header");
            encode_accepted(&mut w, xid, AcceptStat::GarbageArgs);
            return Ok(Some(w.into_bytes()));
        }
    };
    let mismatch = |w: &mut XdrWriter, v: u32| {
        log::debug!(
            "{peer}: xid {:#x}: program {} version {} not served",
            hdr.xid,
            hdr.prog,
            hdr.vers
        );
        encode_accepted(w, hdr.xid, AcceptStat::ProgMismatch { low: v, high: v });
    };
    match (hdr.prog, hdr.vers) {
        (NFS_PROGRAM, NFS_VERSION) => dispatch::nfs_call(ctx, peer, &hdr, r, &mut w).await,
        (NFS_PROGRAM, _) => mismatch(&mut w, NFS_VERSION),
        (MOUNT_PROGRAM, MOUNT_VERSION) => mount::call(ctx, peer, &hdr, r, &mut w).await,
        (MOUNT_PROGRAM, _) => mismatch(&mut w, MOUNT_VERSION),
        (PORTMAP_PROGRAM, PORTMAP_VERSION) => portmap::call(ctx, peer, &hdr, r, &mut w),
        (PORTMAP_PROGRAM, _) => mismatch(&mut w, PORTMAP_VERSION),
        (prog, _) => {
            log::debug!("{peer}: xid {:#x}: program {prog} unavailable", hdr.xid);
            encode_accepted(&mut w, hdr.xid, AcceptStat::ProgUnavail);
        }
    }
    Ok(Some(w.into_bytes()))
}
