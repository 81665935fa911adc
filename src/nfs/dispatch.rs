//! The NFS program: decode the arguments, route to the handler of the
//! procedure's family, encode its result. Also the per-call context handlers
//! share: handle → export resolution, access control and credential mapping.

use std::net::SocketAddr;

use crate::config::SharePermission;
use crate::fs::{Attr, Cred, Fs, InodeId, Wcc};
use crate::metrics::{self, ops, Protocol};
use crate::rpc::message::encode_accepted;
use crate::rpc::{AcceptStat, Auth, CallHeader, XdrReader, XdrWriter};

use super::args::NfsArgs;
use super::export::map_cred;
use super::handle::{FileHandle, WireHandle};
use super::handlers::{attr, create, fsinfo, io, lookup, readdir, remove, rename_link};
use super::results::{Encode, Reply};
use super::status::{nfs3_status, Nfsstat3};
use super::wire::{Fattr3, PostOpAttr, WccData};
use super::{Export, NfsContext};

/// Who is calling, before a handle names the export.
pub(crate) struct Caller<'a> {
    pub ctx: &'a NfsContext,
    pub peer: SocketAddr,
    pub auth: &'a Auth,
}

/// A resolved file handle: the export, the inode and the caller's credential there.
pub(crate) struct Target<'a> {
    pub export: &'a Export,
    pub share_id: u32,
    pub ino: InodeId,
    pub generation: u64,
    pub cred: Cred,
    /// The caller's share permission (identity resolution), at least `Read`.
    pub permission: SharePermission,
}

/// What a procedure does to the share: only reads (LOOKUP, READ, ACCESS,
/// COMMIT...) or changes it (SETATTR, WRITE, CREATE..., RENAME, LINK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
}

impl<'a> Caller<'a> {
    /// Resolves a handle for a reading procedure: malformed → BADHANDLE,
    /// unknown share → STALE, peer not in the share's `allowed_clients` or a
    /// share permission of `none` → ACCES.
    pub async fn resolve(&self, h: &WireHandle) -> Result<Target<'a>, Nfsstat3> {
        self.resolve_for(h, Need::Read).await
    }

    /// Resolves a handle for a procedure that changes the share: as
    /// [`Caller::resolve`], and a share permission of `read` → ACCES (not
    /// ROFS: the share is writable, this caller may not write it).
    pub async fn resolve_write(&self, h: &WireHandle) -> Result<Target<'a>, Nfsstat3> {
        self.resolve_for(h, Need::Write).await
    }

    async fn resolve_for(&self, h: &WireHandle, need: Need) -> Result<Target<'a>, Nfsstat3> {
        let fh = h.get().map_err(|_| Nfsstat3::BadHandle)?;
        let idx = fh.share_id as usize;
        let export = self.ctx.exports.get(idx).ok_or(Nfsstat3::Stale)?;
        if !self.ctx.is_allowed(idx, self.peer.ip()) {
            log::debug!("{}: not allowed on {}", self.peer, export.config.name);
            return Err(Nfsstat3::Acces);
        }
        let cred = map_cred(&export.config, self.auth);
        let permission = self.ctx.share_permission(idx, cred.uid).await?;
        let refused = match permission {
            SharePermission::None => true,
            SharePermission::Read => need == Need::Write,
            SharePermission::ReadWrite | SharePermission::Admin => false,
        };
        if refused {
            log::debug!(
                "{}: uid {} has {permission:?} on {}: {need:?} refused",
                self.peer,
                cred.uid,
                export.config.name
            );
            return Err(Nfsstat3::Acces);
        }
        Ok(Target {
            export,
            share_id: fh.share_id,
            ino: fh.ino,
            generation: fh.generation,
            cred,
            permission,
        })
    }

    /// Resolves two handles that must be on the same export (RENAME, LINK:
    /// both change the share).
    pub async fn resolve_pair(
        &self,
        a: &WireHandle,
        b: &WireHandle,
    ) -> Result<(Target<'a>, Target<'a>), Nfsstat3> {
        let (ta, tb) = (self.resolve_write(a).await?, self.resolve_write(b).await?);
        if ta.share_id != tb.share_id {
            return Err(Nfsstat3::XDev);
        }
        Ok((ta, tb))
    }

    pub fn write_verifier(&self) -> [u8; 8] {
        self.ctx.write_verifier
    }
}

impl Target<'_> {
    pub fn fs(&self) -> &Fs {
        &self.export.fs
    }

    /// The fsid reported in `fattr3`: the share id, so each export is its own file system.
    pub fn fsid(&self) -> u64 {
        u64::from(self.share_id)
    }

    /// Checks the handle's generation and returns the object's attributes
    /// (`Stale` when the inode is gone or was reused).
    pub async fn check(&self) -> Result<Attr, Nfsstat3> {
        self.fs()
            .getattr(self.ino, Some(self.generation))
            .await
            .map_err(|e| nfs3_status(&e))
    }

    /// Current attributes of `ino` for a `post_op_attr`, `None` when they cannot be had.
    pub async fn post_op(&self, ino: InodeId) -> PostOpAttr {
        self.fs()
            .getattr(ino, None)
            .await
            .ok()
            .map(|a| self.fattr(&a))
    }

    /// `wcc_data` with only the after attributes of `ino` (for failures).
    pub async fn wcc_after(&self, ino: InodeId) -> WccData {
        WccData {
            before: None,
            after: self.post_op(ino).await,
        }
    }

    pub fn fattr(&self, a: &Attr) -> Fattr3 {
        Fattr3::new(a, self.fsid())
    }

    pub fn wcc(&self, w: &Wcc) -> WccData {
        WccData::new(w, self.fsid())
    }

    /// The handle of `a` on this export.
    pub fn handle_of(&self, a: &Attr) -> WireHandle {
        FileHandle {
            share_id: self.share_id,
            ino: a.ino,
            generation: a.generation,
        }
        .into()
    }
}

/// Encodes `reply`; returns its `nfsstat3` for the metrics.
fn emit<R: Encode, F: Encode>(w: &mut XdrWriter, name: &str, xid: u32, reply: Reply<R, F>) -> u32 {
    let status = reply.status();
    if status != Nfsstat3::Ok {
        log::debug!("nfs {name} xid {xid:#x}: {status:?}");
    }
    reply.encode(w);
    status as u32
}

/// Answers one NFSv3 call; `r` is positioned at the procedure arguments.
pub(crate) async fn nfs_call(
    ctx: &NfsContext,
    peer: SocketAddr,
    hdr: &CallHeader,
    mut r: XdrReader,
    w: &mut XdrWriter,
) {
    let xid = hdr.xid;
    let started = std::time::Instant::now();
    let finish = |status: usize| {
        metrics::observe_request(Protocol::Nfs, hdr.proc_, status, started, peer);
    };
    let args = match NfsArgs::decode(hdr.proc_, &mut r) {
        Ok(Some(a)) => a,
        Ok(None) => {
            log::debug!(
                "{peer}: nfs xid {xid:#x}: procedure {} unavailable",
                hdr.proc_
            );
            encode_accepted(w, xid, AcceptStat::ProcUnavail);
            finish(ops::STATUS_PROC_UNAVAIL);
            return;
        }
        Err(e) => {
            log::warn!(
                "{peer}: nfs xid {xid:#x} proc {}: garbage args: {e}",
                hdr.proc_
            );
            encode_accepted(w, xid, AcceptStat::GarbageArgs);
            finish(ops::STATUS_GARBAGE_ARGS);
            return;
        }
    };
    log::debug!("{peer}: nfs xid {xid:#x} proc {}", hdr.proc_);
    let c = Caller {
        ctx,
        peer,
        auth: &hdr.auth,
    };
    encode_accepted(w, xid, AcceptStat::Success);
    let status = match args {
        NfsArgs::Null => 0,
        NfsArgs::Getattr(a) => emit(w, "GETATTR", xid, attr::getattr(&c, a).await),
        NfsArgs::Setattr(a) => emit(w, "SETATTR", xid, attr::setattr(&c, a).await),
        NfsArgs::Lookup(a) => emit(w, "LOOKUP", xid, lookup::lookup(&c, a).await),
        NfsArgs::Access(a) => emit(w, "ACCESS", xid, attr::access(&c, a).await),
        NfsArgs::Readlink(a) => emit(w, "READLINK", xid, lookup::readlink(&c, a).await),
        NfsArgs::Read(a) => {
            let reply = io::read(&c, a).await;
            if let Reply::Ok(ok) = &reply {
                metrics::read_bytes(Protocol::Nfs, u64::from(ok.count));
            }
            emit(w, "READ", xid, reply)
        }
        NfsArgs::Write(a) => {
            let reply = io::write(&c, a).await;
            if let Reply::Ok(ok) = &reply {
                metrics::written_bytes(Protocol::Nfs, u64::from(ok.count));
            }
            emit(w, "WRITE", xid, reply)
        }
        NfsArgs::Create(a) => emit(w, "CREATE", xid, create::create(&c, a).await),
        NfsArgs::Mkdir(a) => emit(w, "MKDIR", xid, create::mkdir(&c, a).await),
        NfsArgs::Symlink(a) => emit(w, "SYMLINK", xid, create::symlink(&c, a).await),
        NfsArgs::Mknod(a) => emit(w, "MKNOD", xid, create::mknod(&c, a).await),
        NfsArgs::Remove(a) => emit(w, "REMOVE", xid, remove::remove(&c, a).await),
        NfsArgs::Rmdir(a) => emit(w, "RMDIR", xid, remove::rmdir(&c, a).await),
        NfsArgs::Rename(a) => emit(w, "RENAME", xid, rename_link::rename(&c, a).await),
        NfsArgs::Link(a) => emit(w, "LINK", xid, rename_link::link(&c, a).await),
        NfsArgs::Readdir(a) => emit(w, "READDIR", xid, readdir::readdir(&c, a).await),
        NfsArgs::Readdirplus(a) => emit(w, "READDIRPLUS", xid, readdir::readdirplus(&c, a).await),
        NfsArgs::Fsstat(a) => emit(w, "FSSTAT", xid, fsinfo::fsstat(&c, a).await),
        NfsArgs::Fsinfo(a) => emit(w, "FSINFO", xid, fsinfo::fsinfo(&c, a).await),
        NfsArgs::Pathconf(a) => emit(w, "PATHCONF", xid, fsinfo::pathconf(&c, a).await),
        NfsArgs::Commit(a) => emit(w, "COMMIT", xid, io::commit(&c, a).await),
    };
    finish(ops::nfs_status_index(status));
}
