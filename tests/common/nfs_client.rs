//! A small blocking NFSv3 client over TCP built from the crate's own codecs
//! (`dittofs::nfs::args` encoders, `results_decode` decoders, `rpc::message`).
//!
//! libnfs-utils has no mkdir/rename/link/remove tools, so the persistence and
//! crash tests drive those operations here. The server side is what is under
//! test; the codecs are the same ones the round-trip property tests check
//! against the encoders, and the content checks use nfs-cp/nfs-cat.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use dittofs::fs::{SetAttr, Stability};
use dittofs::nfs::args::{
    CreateArgs, CreateHow, HandleArgs, LinkArgs, MkdirArgs, NfsArgs, ReadArgs, ReaddirArgs,
    ReaddirplusArgs, RenameArgs, SymlinkArgs, WriteArgs,
};
use dittofs::nfs::handle::WireHandle;
use dittofs::nfs::mount::{MntRes, MountArgs};
use dittofs::nfs::results::{
    CreateOk3, EntryPlus3, LinkBody, LookupOk, ReadOk3, ReaddirOk, ReaddirplusOk, ReadlinkOk,
    RenameWcc, Reply, WriteOk3,
};
use dittofs::nfs::results_decode::Decode;
use dittofs::nfs::status::Nfsstat3;
use dittofs::nfs::wire::{DirOpArgs, Fattr3, PostOpAttr, WccData};
use dittofs::nfs::{MOUNT_PROGRAM, MOUNT_VERSION, NFS_PROGRAM, NFS_VERSION};
use dittofs::rpc::message::{decode_reply, AcceptStat, Auth, AuthSys, CallHeader, ReplyStat};
use dittofs::rpc::record::record_mark;
use dittofs::rpc::xdr::{XdrReader, XdrWriter};

/// Longest reply record accepted.
const REPLY_BYTES_MAX: usize = 8 << 20;

fn proto(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// A connection to one server with the export `/export` mounted.
pub struct NfsClient {
    stream: TcpStream,
    xid: u32,
    pub root: WireHandle,
    /// AUTH_SYS uid and gid of every call.
    cred: (u32, u32),
}

/// Outcome of an NFS call: the server's status, or the decoded success body.
pub type NfsResult<T> = Result<T, Nfsstat3>;

fn ok<T, F>(r: Reply<T, F>) -> NfsResult<T> {
    match r {
        Reply::Ok(t) => Ok(t),
        Reply::Fail(s, _) => Err(s),
    }
}

fn dirop(dir: WireHandle, name: &str) -> DirOpArgs {
    DirOpArgs {
        dir,
        name: name.as_bytes().to_vec(),
    }
}

fn mode(m: u32) -> SetAttr {
    SetAttr {
        mode: Some(m),
        ..SetAttr::default()
    }
}

/// The handle of a successful CREATE/MKDIR/SYMLINK.
pub fn created(r: NfsResult<CreateOk3>) -> NfsResult<WireHandle> {
    r.and_then(|c| c.obj.ok_or(Nfsstat3::ServerFault))
}

impl NfsClient {
    /// Connects to 127.0.0.1:`port` and mounts `/export` as root (AUTH_SYS 0:0).
    pub fn connect(port: u16) -> io::Result<NfsClient> {
        Self::connect_as(port, 0, 0)
    }

    /// Connects and mounts `/export` as AUTH_SYS `uid`:`gid`; a refused MNT is
    /// an error whose message ends with the mountstat3 ("MNT failed: 13").
    pub fn connect_as(port: u16, uid: u32, gid: u32) -> io::Result<NfsClient> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        let mut client = NfsClient {
            stream,
            xid: 1,
            root: WireHandle::from_bytes(&[]).ok_or_else(|| proto("empty handle"))?,
            cred: (uid, gid),
        };
        let mut r = client.call(MOUNT_PROGRAM, MOUNT_VERSION, 1, |w| {
            MountArgs::Mnt("/export".into()).encode(w)
        })?;
        match MntRes::decode(&mut r).map_err(|e| proto(e.to_string()))? {
            MntRes::Ok { fhandle, .. } => {
                client.root =
                    WireHandle::from_bytes(&fhandle).ok_or_else(|| proto("long root handle"))?;
            }
            MntRes::Err(s) => return Err(proto(format!("MNT failed: {s}"))),
        }
        Ok(client)
    }

    /// Makes every later call as AUTH_SYS `uid`:`gid`.
    pub fn set_cred(&mut self, uid: u32, gid: u32) {
        self.cred = (uid, gid);
    }

    /// One RPC round trip; returns a reader at the start of the results.
    fn call(
        &mut self,
        prog: u32,
        vers: u32,
        proc_: u32,
        args: impl FnOnce(&mut XdrWriter),
    ) -> io::Result<XdrReader> {
        self.xid = self.xid.wrapping_add(1);
        let mut w = XdrWriter::new();
        CallHeader {
            xid: self.xid,
            prog,
            vers,
            proc_,
            auth: Auth::Sys(AuthSys {
                stamp: 0,
                machine_name: "dittofs-test".into(),
                uid: self.cred.0,
                gid: self.cred.1,
                gids: Vec::new(),
            }),
        }
        .encode(&mut w);
        args(&mut w);
        let body = w.as_slice();
        let mut frame = record_mark(body.len()).to_vec();
        frame.extend_from_slice(body);
        self.stream.write_all(&frame)?;
        let reply = self.read_record()?;
        let mut r = XdrReader::new(reply);
        let (xid, stat) = decode_reply(&mut r).map_err(|e| proto(e.to_string()))?;
        if xid != self.xid {
            return Err(proto(format!("reply xid {xid} for call {}", self.xid)));
        }
        match stat {
            ReplyStat::Accepted(AcceptStat::Success) => Ok(r),
            other => Err(proto(format!("call refused: {other:?}"))),
        }
    }

    fn read_record(&mut self) -> io::Result<Bytes> {
        let mut out = Vec::new();
        loop {
            let mut mark = [0u8; 4];
            self.stream.read_exact(&mut mark)?;
            let mark = u32::from_be_bytes(mark);
            let len = (mark & 0x7fff_ffff) as usize;
            if out.len() + len > REPLY_BYTES_MAX {
                return Err(proto("reply too large"));
            }
            let start = out.len();
            out.resize(start + len, 0);
            self.stream.read_exact(&mut out[start..])?;
            if mark & 0x8000_0000 != 0 {
                return Ok(Bytes::from(out));
            }
        }
    }

    /// Sends an NFSv3 call and decodes its reply.
    pub fn nfs<T: Decode, F: Decode>(&mut self, args: &NfsArgs) -> io::Result<Reply<T, F>> {
        let mut r = self.call(NFS_PROGRAM, NFS_VERSION, args.proc_(), |w| args.encode(w))?;
        Reply::<T, F>::decode(&mut r).map_err(|e| proto(e.to_string()))
    }

    pub fn getattr(&mut self, fh: WireHandle) -> io::Result<NfsResult<Fattr3>> {
        let r: Reply<Fattr3, ()> = self.nfs(&NfsArgs::Getattr(HandleArgs { object: fh }))?;
        Ok(ok(r))
    }

    pub fn lookup(&mut self, dir: WireHandle, name: &str) -> io::Result<NfsResult<LookupOk>> {
        let r: Reply<LookupOk, PostOpAttr> = self.nfs(&NfsArgs::Lookup(dirop(dir, name)))?;
        Ok(ok(r))
    }

    pub fn create(&mut self, dir: WireHandle, name: &str) -> io::Result<NfsResult<WireHandle>> {
        let r: Reply<CreateOk3, WccData> = self.nfs(&NfsArgs::Create(CreateArgs {
            where_: dirop(dir, name),
            how: CreateHow::Guarded(mode(0o644)),
        }))?;
        Ok(created(ok(r)))
    }

    pub fn mkdir(&mut self, dir: WireHandle, name: &str) -> io::Result<NfsResult<WireHandle>> {
        let r: Reply<CreateOk3, WccData> = self.nfs(&NfsArgs::Mkdir(MkdirArgs {
            where_: dirop(dir, name),
            attributes: mode(0o755),
        }))?;
        Ok(created(ok(r)))
    }

    pub fn symlink(
        &mut self,
        dir: WireHandle,
        name: &str,
        target: &str,
    ) -> io::Result<NfsResult<WireHandle>> {
        let r: Reply<CreateOk3, WccData> = self.nfs(&NfsArgs::Symlink(SymlinkArgs {
            where_: dirop(dir, name),
            attributes: mode(0o777),
            target: target.as_bytes().to_vec(),
        }))?;
        Ok(created(ok(r)))
    }

    pub fn readlink(&mut self, fh: WireHandle) -> io::Result<NfsResult<Vec<u8>>> {
        let r: Reply<ReadlinkOk, PostOpAttr> =
            self.nfs(&NfsArgs::Readlink(HandleArgs { object: fh }))?;
        Ok(ok(r).map(|r| r.data))
    }

    pub fn remove(&mut self, dir: WireHandle, name: &str) -> io::Result<NfsResult<()>> {
        let r: Reply<WccData, WccData> = self.nfs(&NfsArgs::Remove(dirop(dir, name)))?;
        Ok(ok(r).map(|_| ()))
    }

    pub fn rmdir(&mut self, dir: WireHandle, name: &str) -> io::Result<NfsResult<()>> {
        let r: Reply<WccData, WccData> = self.nfs(&NfsArgs::Rmdir(dirop(dir, name)))?;
        Ok(ok(r).map(|_| ()))
    }

    pub fn rename(
        &mut self,
        from_dir: WireHandle,
        from: &str,
        to_dir: WireHandle,
        to: &str,
    ) -> io::Result<NfsResult<()>> {
        let r: Reply<RenameWcc, RenameWcc> = self.nfs(&NfsArgs::Rename(RenameArgs {
            from: dirop(from_dir, from),
            to: dirop(to_dir, to),
        }))?;
        Ok(ok(r).map(|_| ()))
    }

    pub fn link(
        &mut self,
        file: WireHandle,
        dir: WireHandle,
        name: &str,
    ) -> io::Result<NfsResult<()>> {
        let r: Reply<LinkBody, LinkBody> = self.nfs(&NfsArgs::Link(LinkArgs {
            file,
            link: dirop(dir, name),
        }))?;
        Ok(ok(r).map(|_| ()))
    }

    /// WRITE with FILE_SYNC.
    pub fn write_sync(
        &mut self,
        file: WireHandle,
        offset: u64,
        data: &[u8],
    ) -> io::Result<NfsResult<u32>> {
        let r: Reply<WriteOk3, WccData> = self.nfs(&NfsArgs::Write(WriteArgs {
            file,
            offset,
            count: data.len() as u32,
            stable: Stability::FileSync,
            data: Bytes::copy_from_slice(data),
        }))?;
        Ok(ok(r).map(|w| w.count))
    }

    pub fn read(
        &mut self,
        file: WireHandle,
        offset: u64,
        count: u32,
    ) -> io::Result<NfsResult<Vec<u8>>> {
        let r: Reply<ReadOk3, PostOpAttr> = self.nfs(&NfsArgs::Read(ReadArgs {
            file,
            offset,
            count,
        }))?;
        Ok(ok(r).map(|r: ReadOk3| r.data.to_vec()))
    }

    /// One READDIR page of `dir` from `cookie` (`count`: reply size in bytes).
    pub fn readdir(
        &mut self,
        dir: WireHandle,
        cookie: u64,
        cookieverf: [u8; 8],
        count: u32,
    ) -> io::Result<NfsResult<ReaddirOk>> {
        let r: Reply<ReaddirOk, PostOpAttr> = self.nfs(&NfsArgs::Readdir(ReaddirArgs {
            dir,
            cookie,
            cookieverf,
            count,
        }))?;
        Ok(ok(r))
    }

    /// Every entry of `dir` (without `.` and `..`), by READDIRPLUS pages.
    pub fn readdirplus_all(&mut self, dir: WireHandle) -> io::Result<NfsResult<Vec<EntryPlus3>>> {
        let (mut cookie, mut verf) = (0u64, [0u8; 8]);
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let r: Reply<ReaddirplusOk, PostOpAttr> =
                self.nfs(&NfsArgs::Readdirplus(ReaddirplusArgs {
                    dir,
                    cookie,
                    cookieverf: verf,
                    dircount: 4096,
                    maxcount: 32768,
                }))?;
            let page = match r {
                Reply::Ok(p) => p,
                Reply::Fail(s, _) => return Ok(Err(s)),
            };
            verf = page.cookieverf;
            if let Some(last) = page.entries.last() {
                cookie = last.cookie;
            }
            out.extend(
                page.entries
                    .into_iter()
                    .filter(|e| e.name != b"." && e.name != b".."),
            );
            if page.eof {
                return Ok(Ok(out));
            }
        }
        Err(proto("READDIRPLUS did not reach eof"))
    }
}
