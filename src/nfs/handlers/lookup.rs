//! LOOKUP and READLINK.

use crate::nfs::args::HandleArgs;
use crate::nfs::dispatch::Caller;
use crate::nfs::results::{LookupOk, ReadlinkOk, Reply};
use crate::nfs::status::nfs3_status;
use crate::nfs::wire::{DirOpArgs, PostOpAttr};

use super::try_or_fail;

pub(crate) async fn lookup(c: &Caller<'_>, a: DirOpArgs) -> Reply<LookupOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.dir).await, None);
    let dir_attr = try_or_fail!(t.check().await, None);
    match t.fs().lookup(&t.cred, t.ino, &a.name).await {
        Ok(attr) => Reply::Ok(LookupOk {
            object: t.handle_of(&attr),
            obj_attributes: Some(t.fattr(&attr)),
            dir_attributes: Some(t.fattr(&dir_attr)),
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), Some(t.fattr(&dir_attr))),
    }
}

pub(crate) async fn readlink(c: &Caller<'_>, a: HandleArgs) -> Reply<ReadlinkOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.object).await, None);
    try_or_fail!(t.check().await, None);
    match t.fs().readlink(&t.cred, t.ino).await {
        Ok((data, attr)) => Reply::Ok(ReadlinkOk {
            symlink_attributes: Some(t.fattr(&attr)),
            data,
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), t.post_op(t.ino).await),
    }
}
