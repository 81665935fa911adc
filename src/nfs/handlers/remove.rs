//! REMOVE and RMDIR.

use crate::nfs::dispatch::Caller;
use crate::nfs::results::Reply;
use crate::nfs::status::nfs3_status;
use crate::nfs::wire::{DirOpArgs, WccData};

use super::try_or_fail;

pub(crate) async fn remove(c: &Caller<'_>, a: DirOpArgs) -> Reply<WccData, WccData> {
    let t = try_or_fail!(c.resolve_write(&a.dir).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    match t.fs().remove(&t.cred, t.ino, &a.name).await {
        Ok(wcc) => Reply::Ok(t.wcc(&wcc)),
        Err(e) => Reply::Fail(nfs3_status(&e), t.wcc_after(t.ino).await),
    }
}

pub(crate) async fn rmdir(c: &Caller<'_>, a: DirOpArgs) -> Reply<WccData, WccData> {
    let t = try_or_fail!(c.resolve_write(&a.dir).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    match t.fs().rmdir(&t.cred, t.ino, &a.name).await {
        Ok(wcc) => Reply::Ok(t.wcc(&wcc)),
        Err(e) => Reply::Fail(nfs3_status(&e), t.wcc_after(t.ino).await),
    }
}
