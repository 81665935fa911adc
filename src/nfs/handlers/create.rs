//! CREATE, MKDIR, SYMLINK and MKNOD: everything that adds a name.

use crate::fs::{CreateMode, CreateOk, FsResult, SetAttr, SpecialKind};
use crate::nfs::args::{CreateArgs, CreateHow, MkdirArgs, MknodArgs, MknodData, SymlinkArgs};
use crate::nfs::dispatch::{Caller, Target};
use crate::nfs::results::{CreateOk3, Reply};
use crate::nfs::status::{nfs3_status, Nfsstat3};
use crate::nfs::wire::WccData;

use super::try_or_fail;

type CreateRes = Reply<CreateOk3, WccData>;

async fn finish(t: &Target<'_>, r: FsResult<CreateOk>) -> CreateRes {
    match r {
        Ok(ok) => Reply::Ok(CreateOk3 {
            obj: Some(t.handle_of(&ok.attr)),
            obj_attributes: Some(t.fattr(&ok.attr)),
            dir_wcc: t.wcc(&ok.dir_wcc),
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), t.wcc_after(t.ino).await),
    }
}

pub(crate) async fn create(c: &Caller<'_>, a: CreateArgs) -> CreateRes {
    let t = try_or_fail!(c.resolve_write(&a.where_.dir).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    let (mode, set) = match a.how {
        CreateHow::Unchecked(s) => (CreateMode::Unchecked, s),
        CreateHow::Guarded(s) => (CreateMode::Guarded, s),
        CreateHow::Exclusive(v) => (CreateMode::Exclusive(v), SetAttr::default()),
    };
    let r = t
        .fs()
        .create(&t.cred, t.ino, &a.where_.name, mode, &set)
        .await;
    finish(&t, r).await
}

pub(crate) async fn mkdir(c: &Caller<'_>, a: MkdirArgs) -> CreateRes {
    let t = try_or_fail!(c.resolve_write(&a.where_.dir).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    let r = t
        .fs()
        .mkdir(&t.cred, t.ino, &a.where_.name, &a.attributes)
        .await;
    finish(&t, r).await
}

pub(crate) async fn symlink(c: &Caller<'_>, a: SymlinkArgs) -> CreateRes {
    let t = try_or_fail!(c.resolve_write(&a.where_.dir).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    let r = t
        .fs()
        .symlink(&t.cred, t.ino, &a.where_.name, &a.target, &a.attributes)
        .await;
    finish(&t, r).await
}

pub(crate) async fn mknod(c: &Caller<'_>, a: MknodArgs) -> CreateRes {
    let t = try_or_fail!(c.resolve_write(&a.where_.dir).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    let (kind, set) = match a.what {
        MknodData::Chr(s, d) => (SpecialKind::Char(d), s),
        MknodData::Blk(s, d) => (SpecialKind::Block(d), s),
        MknodData::Sock(s) => (SpecialKind::Socket, s),
        MknodData::Fifo(s) => (SpecialKind::Fifo, s),
        MknodData::Other(_) => {
            return Reply::Fail(Nfsstat3::BadType, t.wcc_after(t.ino).await);
        }
    };
    let r = t
        .fs()
        .mknod(&t.cred, t.ino, &a.where_.name, kind, &set)
        .await;
    finish(&t, r).await
}
