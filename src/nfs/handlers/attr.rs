//! GETATTR, SETATTR, ACCESS.

use crate::config::SharePermission;
use crate::fs::access as fs_access;
use crate::nfs::args::{AccessArgs, HandleArgs, SetattrArgs};
use crate::nfs::dispatch::Caller;
use crate::nfs::results::{AccessOk, Reply};
use crate::nfs::status::nfs3_status;
use crate::nfs::wire::{Fattr3, PostOpAttr, WccData};

use super::try_or_fail;

pub(crate) async fn getattr(c: &Caller<'_>, a: HandleArgs) -> Reply<Fattr3, ()> {
    let t = try_or_fail!(c.resolve(&a.object).await, ());
    let attr = try_or_fail!(t.check().await, ());
    Reply::Ok(t.fattr(&attr))
}

pub(crate) async fn setattr(c: &Caller<'_>, a: SetattrArgs) -> Reply<WccData, WccData> {
    let t = try_or_fail!(c.resolve_write(&a.object).await, WccData::default());
    try_or_fail!(t.check().await, WccData::default());
    match t
        .fs()
        .setattr(&t.cred, t.ino, &a.new_attributes, a.guard)
        .await
    {
        Ok(wcc) => Reply::Ok(t.wcc(&wcc)),
        Err(e) => Reply::Fail(nfs3_status(&e), t.wcc_after(t.ino).await),
    }
}

pub(crate) async fn access(c: &Caller<'_>, a: AccessArgs) -> Reply<AccessOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.object).await, None);
    try_or_fail!(t.check().await, None);
    match t.fs().access(&t.cred, t.ino, a.access).await {
        Ok((mut access, attr)) => {
            if t.permission == SharePermission::Read {
                // Writes would be refused: do not let the client believe otherwise.
                access &= !(fs_access::MODIFY | fs_access::EXTEND | fs_access::DELETE);
            }
            Reply::Ok(AccessOk {
                obj_attributes: Some(t.fattr(&attr)),
                access,
            })
        }
        Err(e) => Reply::Fail(nfs3_status(&e), t.post_op(t.ino).await),
    }
}
