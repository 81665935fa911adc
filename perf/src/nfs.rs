//! Typed NFSv3 and MOUNT v3 calls over an [`RpcConn`], using the server crate's codecs.
//!
//! Handles are opaque [`WireHandle`]s (≤ 64 bytes), so this works against any NFSv3
//! server (dittofs, NFS-Ganesha, knfsd), not only ours.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use dittofs::fs::{SetAttr, Stability};
use dittofs::nfs::args::{
    CommitArgs, CreateArgs, CreateHow, HandleArgs, MkdirArgs, NfsArgs, ReadArgs, ReaddirplusArgs,
    RenameArgs, WriteArgs,
};
use dittofs::nfs::handle::WireHandle;
use dittofs::nfs::mount::{MntRes, MountArgs};
use dittofs::nfs::results::{CreateOk3, LookupOk, ReadOk3, ReaddirplusOk, WriteOk3};
use dittofs::nfs::results::{FsinfoOk, Reply};
use dittofs::nfs::results_decode::Decode;
use dittofs::nfs::wire::{DirOpArgs, Fattr3};
use dittofs::nfs::{Nfsstat3, MOUNT_PROGRAM, MOUNT_VERSION, NFS_PROGRAM, NFS_VERSION};
use dittofs::rpc::Auth;

use crate::client::{ClientError, RpcConn};

/// Why an NFS operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("NFS status {0:?}")]
    Nfs(Nfsstat3),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("MOUNT refused with status {0}")]
    Mount(u32),
    #[error("server returned no file handle")]
    NoHandle,
    #[error("data read back differs from what was written")]
    DataMismatch,
    #[error("short read: asked {asked} bytes, got {got}")]
    ShortRead { asked: u32, got: u32 },
    #[error("SMB: {0}")]
    Smb(#[from] crate::smb::SmbError),
    #[error("workload {0} is not available over SMB")]
    Unsupported(&'static str),
}

impl OpError {
    /// The key errors are counted under (`NFS3ERR_NOENT`, `RPC_GARBAGEARGS`, …).
    pub fn key(&self) -> String {
        match self {
            OpError::Nfs(s) => format!("NFS3ERR_{s:?}").to_uppercase(),
            OpError::Client(c) => c.key(),
            OpError::Mount(s) => format!("MNT3ERR_{s}"),
            OpError::NoHandle => "NO_FILE_HANDLE".into(),
            OpError::DataMismatch => "DATA_MISMATCH".into(),
            OpError::ShortRead { .. } => "SHORT_READ".into(),
            OpError::Smb(e) => e.key(),
            OpError::Unsupported(_) => "UNSUPPORTED".into(),
        }
    }
}

/// An AUTH_SYS credential for `uid`/`gid`.
pub fn auth_sys(uid: u32, gid: u32) -> Auth {
    Auth::Sys(dittofs::rpc::AuthSys {
        stamp: 0,
        machine_name: "dittofs-perf".into(),
        uid,
        gid,
        gids: vec![gid],
    })
}

/// Asks the MOUNT server at `addr` for the root handle of `export`.
pub async fn mount(addr: SocketAddr, export: &str, cred: Auth) -> Result<WireHandle, OpError> {
    let conn = RpcConn::connect(addr, cred).await?;
    let args = MountArgs::Mnt(export.to_string());
    let mut r = conn
        .call(MOUNT_PROGRAM, MOUNT_VERSION, args.proc_(), |w| {
            args.encode(w)
        })
        .await?;
    match MntRes::decode(&mut r).map_err(ClientError::from)? {
        MntRes::Ok { fhandle, .. } => WireHandle::from_bytes(&fhandle).ok_or(OpError::NoHandle),
        MntRes::Err(s) => Err(OpError::Mount(s)),
    }
}

/// An NFSv3 client on one connection.
#[derive(Clone)]
pub struct Nfs {
    pub conn: Rc<RpcConn>,
}

fn dirop(dir: WireHandle, name: &str) -> DirOpArgs {
    DirOpArgs {
        dir,
        name: name.as_bytes().to_vec(),
    }
}

impl Nfs {
    pub async fn connect(addr: SocketAddr, cred: Auth) -> Result<Nfs, OpError> {
        Ok(Nfs {
            conn: RpcConn::connect(addr, cred).await?,
        })
    }

    async fn call<T: Decode, F: Decode>(&self, args: &NfsArgs) -> Result<T, OpError> {
        let mut r = self
            .conn
            .call(NFS_PROGRAM, NFS_VERSION, args.proc_(), |w| args.encode(w))
            .await?;
        match Reply::<T, F>::decode(&mut r).map_err(ClientError::from)? {
            Reply::Ok(v) => Ok(v),
            Reply::Fail(s, _) => Err(OpError::Nfs(s)),
        }
    }

    pub async fn getattr(&self, object: WireHandle) -> Result<Fattr3, OpError> {
        self.call::<Fattr3, ()>(&NfsArgs::Getattr(HandleArgs { object }))
            .await
    }

    pub async fn fsinfo(&self, object: WireHandle) -> Result<FsinfoOk, OpError> {
        self.call::<FsinfoOk, dittofs::nfs::wire::PostOpAttr>(&NfsArgs::Fsinfo(HandleArgs {
            object,
        }))
        .await
    }

    pub async fn lookup(&self, dir: WireHandle, name: &str) -> Result<WireHandle, OpError> {
        let ok: LookupOk = self
            .call::<_, dittofs::nfs::wire::PostOpAttr>(&NfsArgs::Lookup(dirop(dir, name)))
            .await?;
        Ok(ok.object)
    }

    async fn created(
        &self,
        dir: WireHandle,
        name: &str,
        ok: CreateOk3,
    ) -> Result<WireHandle, OpError> {
        match ok.obj {
            Some(h) => Ok(h),
            None => self.lookup(dir, name).await,
        }
    }

    /// CREATE (UNCHECKED, mode 0644): an existing file is reused.
    pub async fn create(&self, dir: WireHandle, name: &str) -> Result<WireHandle, OpError> {
        let attrs = SetAttr {
            mode: Some(0o644),
            ..SetAttr::default()
        };
        let ok: CreateOk3 = self
            .call::<_, dittofs::nfs::wire::WccData>(&NfsArgs::Create(CreateArgs {
                where_: dirop(dir, name),
                how: CreateHow::Unchecked(attrs),
            }))
            .await?;
        self.created(dir, name, ok).await
    }

    pub async fn mkdir(&self, dir: WireHandle, name: &str) -> Result<WireHandle, OpError> {
        let attributes = SetAttr {
            mode: Some(0o755),
            ..SetAttr::default()
        };
        let ok: CreateOk3 = self
            .call::<_, dittofs::nfs::wire::WccData>(&NfsArgs::Mkdir(MkdirArgs {
                where_: dirop(dir, name),
                attributes,
            }))
            .await?;
        self.created(dir, name, ok).await
    }

    /// MKDIR, or LOOKUP when the name exists already (another thread made it).
    pub async fn mkdir_or_lookup(
        &self,
        dir: WireHandle,
        name: &str,
    ) -> Result<WireHandle, OpError> {
        match self.mkdir(dir, name).await {
            Err(OpError::Nfs(Nfsstat3::Exist)) => self.lookup(dir, name).await,
            other => other,
        }
    }

    pub async fn write(
        &self,
        file: WireHandle,
        offset: u64,
        data: Bytes,
        stable: Stability,
    ) -> Result<WriteOk3, OpError> {
        self.call::<_, dittofs::nfs::wire::WccData>(&NfsArgs::Write(WriteArgs {
            file,
            offset,
            count: data.len() as u32,
            stable,
            data,
        }))
        .await
    }

    pub async fn read(
        &self,
        file: WireHandle,
        offset: u64,
        count: u32,
    ) -> Result<ReadOk3, OpError> {
        self.call::<_, dittofs::nfs::wire::PostOpAttr>(&NfsArgs::Read(ReadArgs {
            file,
            offset,
            count,
        }))
        .await
    }

    pub async fn commit(&self, file: WireHandle) -> Result<(), OpError> {
        self.call::<dittofs::nfs::results::CommitOk, dittofs::nfs::wire::WccData>(&NfsArgs::Commit(
            CommitArgs {
                file,
                offset: 0,
                count: 0,
            },
        ))
        .await
        .map(|_| ())
    }

    pub async fn remove(&self, dir: WireHandle, name: &str) -> Result<(), OpError> {
        self.call::<dittofs::nfs::wire::WccData, dittofs::nfs::wire::WccData>(&NfsArgs::Remove(
            dirop(dir, name),
        ))
        .await
        .map(|_| ())
    }

    pub async fn rmdir(&self, dir: WireHandle, name: &str) -> Result<(), OpError> {
        self.call::<dittofs::nfs::wire::WccData, dittofs::nfs::wire::WccData>(&NfsArgs::Rmdir(
            dirop(dir, name),
        ))
        .await
        .map(|_| ())
    }

    pub async fn rename(
        &self,
        from_dir: WireHandle,
        from: &str,
        to_dir: WireHandle,
        to: &str,
    ) -> Result<(), OpError> {
        self.call::<dittofs::nfs::results::RenameWcc, dittofs::nfs::results::RenameWcc>(
            &NfsArgs::Rename(RenameArgs {
                from: dirop(from_dir, from),
                to: dirop(to_dir, to),
            }),
        )
        .await
        .map(|_| ())
    }

    /// One READDIRPLUS call from `cookie`.
    pub async fn readdirplus(
        &self,
        dir: WireHandle,
        cookie: u64,
        cookieverf: [u8; 8],
    ) -> Result<ReaddirplusOk, OpError> {
        self.call::<_, dittofs::nfs::wire::PostOpAttr>(&NfsArgs::Readdirplus(ReaddirplusArgs {
            dir,
            cookie,
            cookieverf,
            dircount: 64 << 10,
            maxcount: 256 << 10,
        }))
        .await
    }

    /// Every entry name of `dir` (without `.` and `..`), by READDIRPLUS; also the call count.
    pub async fn list_dir(&self, dir: WireHandle) -> Result<(Vec<String>, u64), OpError> {
        let mut names = Vec::new();
        let (mut cookie, mut verf, mut calls) = (0u64, [0u8; 8], 0u64);
        loop {
            let ok = self.readdirplus(dir, cookie, verf).await?;
            calls += 1;
            verf = ok.cookieverf;
            for e in &ok.entries {
                cookie = e.cookie;
                if e.name != b"." && e.name != b".." {
                    names.push(String::from_utf8_lossy(&e.name).into_owned());
                }
            }
            if ok.eof || ok.entries.is_empty() {
                return Ok((names, calls));
            }
        }
    }
}
