//! The MOUNT v3 program (RFC 1813 appendix I): how a client gets the root handle.
//!
//! Codec (both directions, for the test client) and handler in one place: the
//! program is small. MNT checks the share's `allowed_clients` and records the
//! mount for DUMP; EXPORT lists each share with its client networks as groups.

use std::net::SocketAddr;

use crate::config::SharePermission;
use crate::metrics::{self, ops, Protocol};
use crate::rpc::message::{encode_accepted, flavor};
use crate::rpc::xdr::{XdrError, XdrReader, XdrWriter};
use crate::rpc::{AcceptStat, Auth, CallHeader};

use super::export::map_cred;

use super::handle::{FileHandle, FH_LEN_MAX};
use super::{MountEntry, NfsContext};

/// Longest MOUNT path (`MNTPATHLEN`).
pub const MOUNT_PATH_LEN_MAX: usize = 1024;
/// Longest host or group name (`MNTNAMLEN`).
pub const MOUNT_NAME_LEN_MAX: usize = 255;
/// Most entries decoded from a DUMP/EXPORT list (client side).
const LIST_LEN_MAX: usize = 65536;

/// `mountstat3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Mountstat3 {
    Ok = 0,
    Perm = 1,
    NoEnt = 2,
    Io = 5,
    Acces = 13,
    NotDir = 20,
    Inval = 22,
    NameTooLong = 63,
    NotSupp = 10004,
    ServerFault = 10006,
}

/// MOUNT procedure arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountArgs {
    Null,
    Mnt(String),
    Dump,
    Umnt(String),
    Umntall,
    Export,
}

impl MountArgs {
    /// `Ok(None)` for an unknown procedure.
    pub fn decode(proc_: u32, r: &mut XdrReader) -> Result<Option<MountArgs>, XdrError> {
        Ok(Some(match proc_ {
            0 => MountArgs::Null,
            1 => MountArgs::Mnt(r.read_string(MOUNT_PATH_LEN_MAX)?),
            2 => MountArgs::Dump,
            3 => MountArgs::Umnt(r.read_string(MOUNT_PATH_LEN_MAX)?),
            4 => MountArgs::Umntall,
            5 => MountArgs::Export,
            _ => return Ok(None),
        }))
    }

    pub fn proc_(&self) -> u32 {
        match self {
            MountArgs::Null => 0,
            MountArgs::Mnt(_) => 1,
            MountArgs::Dump => 2,
            MountArgs::Umnt(_) => 3,
            MountArgs::Umntall => 4,
            MountArgs::Export => 5,
        }
    }

    pub fn encode(&self, w: &mut XdrWriter) {
        match self {
            MountArgs::Mnt(p) | MountArgs::Umnt(p) => w.write_opaque(p.as_bytes()),
            MountArgs::Null | MountArgs::Dump | MountArgs::Umntall | MountArgs::Export => {}
        }
    }
}

/// `mountres3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MntRes {
    Ok {
        fhandle: Vec<u8>,
        auth_flavors: Vec<u32>,
    },
    Err(u32),
}

impl MntRes {
    pub fn encode(&self, w: &mut XdrWriter) {
        match self {
            MntRes::Ok {
                fhandle,
                auth_flavors,
            } => {
                w.write_u32(Mountstat3::Ok as u32);
                w.write_opaque(fhandle);
                w.write_u32(auth_flavors.len() as u32);
                for f in auth_flavors {
                    w.write_u32(*f);
                }
            }
            MntRes::Err(s) => w.write_u32(*s),
        }
    }

    pub fn decode(r: &mut XdrReader) -> Result<MntRes, XdrError> {
        match r.read_u32()? {
            0 => {
                let fhandle = r.read_opaque_vec(FH_LEN_MAX)?;
                let n = r.read_u32()? as usize;
                if n > 16 {
                    return Err(XdrError::TooLong { len: n, max: 16 });
                }
                let auth_flavors = (0..n).map(|_| r.read_u32()).collect::<Result<_, _>>()?;
                Ok(MntRes::Ok {
                    fhandle,
                    auth_flavors,
                })
            }
            s => Ok(MntRes::Err(s)),
        }
    }
}

/// Encodes `mountlist` (DUMP).
pub fn encode_mount_list(w: &mut XdrWriter, entries: &[MountEntry]) {
    for e in entries {
        w.write_bool(true);
        w.write_opaque(e.host.as_bytes());
        w.write_opaque(e.dir.as_bytes());
    }
    w.write_bool(false);
}

pub fn decode_mount_list(r: &mut XdrReader) -> Result<Vec<MountEntry>, XdrError> {
    let mut out = Vec::new();
    while r.read_bool()? {
        if out.len() >= LIST_LEN_MAX {
            return Err(XdrError::TooLong {
                len: out.len(),
                max: LIST_LEN_MAX,
            });
        }
        out.push(MountEntry {
            host: r.read_string(MOUNT_NAME_LEN_MAX)?,
            dir: r.read_string(MOUNT_PATH_LEN_MAX)?,
        });
    }
    Ok(out)
}

/// One `exportnode`: a path and the groups (client networks) allowed to mount it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportNode {
    pub dir: String,
    pub groups: Vec<String>,
}

/// Encodes `exports` (EXPORT).
pub fn encode_exports(w: &mut XdrWriter, exports: &[ExportNode]) {
    for e in exports {
        w.write_bool(true);
        w.write_opaque(e.dir.as_bytes());
        for g in &e.groups {
            w.write_bool(true);
            w.write_opaque(g.as_bytes());
        }
        w.write_bool(false);
    }
    w.write_bool(false);
}

pub fn decode_exports(r: &mut XdrReader) -> Result<Vec<ExportNode>, XdrError> {
    let mut out = Vec::new();
    while r.read_bool()? {
        let dir = r.read_string(MOUNT_PATH_LEN_MAX)?;
        let mut groups = Vec::new();
        while r.read_bool()? {
            if groups.len() >= LIST_LEN_MAX {
                return Err(XdrError::TooLong {
                    len: groups.len(),
                    max: LIST_LEN_MAX,
                });
            }
            groups.push(r.read_string(MOUNT_NAME_LEN_MAX)?);
        }
        if out.len() >= LIST_LEN_MAX {
            return Err(XdrError::TooLong {
                len: out.len(),
                max: LIST_LEN_MAX,
            });
        }
        out.push(ExportNode { dir, groups });
    }
    Ok(out)
}

/// Export path as clients write it: trailing slashes do not matter.
fn normalize(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

async fn mnt(ctx: &NfsContext, peer: SocketAddr, auth: &Auth, path: &str) -> MntRes {
    let Some(idx) = ctx
        .exports
        .iter()
        .position(|e| normalize(&e.config.name) == normalize(path))
    else {
        log::debug!("{peer}: MNT {path:?}: no such export");
        return MntRes::Err(Mountstat3::NoEnt as u32);
    };
    if !ctx.is_allowed(idx, peer.ip()) {
        log::info!("{peer}: MNT {path:?} refused: not in allowed_clients");
        return MntRes::Err(Mountstat3::Acces as u32);
    }
    let uid = map_cred(&ctx.exports[idx].config, auth).uid;
    match ctx.share_permission(idx, uid).await {
        Ok(SharePermission::None) => {
            log::info!("{peer}: MNT {path:?} refused: uid {uid} has no permission on the share");
            return MntRes::Err(Mountstat3::Acces as u32);
        }
        Ok(_) => {}
        Err(_) => return MntRes::Err(Mountstat3::Io as u32),
    }
    let fs = &ctx.exports[idx].fs;
    let root = match fs.getattr(fs.root(), None).await {
        Ok(a) => a,
        Err(e) => {
            log::warn!("{peer}: MNT {path:?}: root attributes: {e}");
            return MntRes::Err(Mountstat3::Io as u32);
        }
    };
    let fh = FileHandle {
        share_id: u32::try_from(idx).unwrap_or(u32::MAX),
        ino: root.ino,
        generation: root.generation,
    };
    let entry = MountEntry {
        host: peer.ip().to_string(),
        dir: path.to_owned(),
    };
    let mut mounts = ctx.mounts.borrow_mut();
    if !mounts.contains(&entry) {
        mounts.push(entry);
    }
    log::info!("{peer}: mounted {path}");
    MntRes::Ok {
        fhandle: fh.to_bytes().to_vec(),
        auth_flavors: vec![flavor::AUTH_SYS, flavor::AUTH_NONE],
    }
}

/// Answers one MOUNT v3 call; `r` is positioned at the procedure arguments.
pub(crate) async fn call(
    ctx: &NfsContext,
    peer: SocketAddr,
    hdr: &CallHeader,
    mut r: XdrReader,
    w: &mut XdrWriter,
) {
    let xid = hdr.xid;
    let started = std::time::Instant::now();
    let finish = |status: usize| {
        metrics::observe_request(Protocol::Mount, hdr.proc_, status, started, peer);
    };
    let args = match MountArgs::decode(hdr.proc_, &mut r) {
        Ok(Some(a)) => a,
        Ok(None) => {
            encode_accepted(w, xid, AcceptStat::ProcUnavail);
            finish(ops::STATUS_PROC_UNAVAIL);
            return;
        }
        Err(e) => {
            log::warn!(
                "{peer}: mount xid {xid:#x} proc {}: garbage args: {e}",
                hdr.proc_
            );
            encode_accepted(w, xid, AcceptStat::GarbageArgs);
            finish(ops::STATUS_GARBAGE_ARGS);
            return;
        }
    };
    log::debug!("{peer}: mount xid {xid:#x} {args:?}");
    let mut status = 0;
    encode_accepted(w, xid, AcceptStat::Success);
    match args {
        MountArgs::Null => {}
        MountArgs::Mnt(path) => {
            let res = mnt(ctx, peer, &hdr.auth, &path).await;
            if let MntRes::Err(code) = &res {
                status = ops::nfs_status_index(*code);
            }
            res.encode(w);
        }
        MountArgs::Dump => encode_mount_list(w, &ctx.mounts.borrow()),
        MountArgs::Umnt(path) => {
            let host = peer.ip().to_string();
            ctx.mounts
                .borrow_mut()
                .retain(|m| !(m.host == host && m.dir == path));
        }
        MountArgs::Umntall => {
            let host = peer.ip().to_string();
            ctx.mounts.borrow_mut().retain(|m| m.host != host);
        }
        MountArgs::Export => {
            let nodes: Vec<ExportNode> = ctx
                .exports
                .iter()
                .map(|e| ExportNode {
                    dir: e.config.name.clone(),
                    groups: e.config.allowed_clients.clone(),
                })
                .collect();
            encode_exports(w, &nodes);
        }
    }
    finish(status);
}
