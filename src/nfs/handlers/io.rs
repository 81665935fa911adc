//! READ, WRITE and COMMIT: the data path.
//!
//! These skip the generation pre-check (one metadata read per call) and
//! compare the generation of the attributes the core returns instead.

use crate::fs::IO_SIZE_MAX;
use crate::nfs::args::{CommitArgs, ReadArgs, WriteArgs};
use crate::nfs::dispatch::Caller;
use crate::nfs::results::{CommitOk, ReadOk3, Reply, WriteOk3};
use crate::nfs::status::{nfs3_status, Nfsstat3};
use crate::nfs::wire::{PostOpAttr, WccData};

use super::try_or_fail;

pub(crate) async fn read(c: &Caller<'_>, a: ReadArgs) -> Reply<ReadOk3, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.file).await, None);
    let count = a.count.min(IO_SIZE_MAX);
    match t.fs().read(&t.cred, t.ino, a.offset, count).await {
        Ok(ok) if ok.attr.generation != t.generation => Reply::Fail(Nfsstat3::Stale, None),
        Ok(ok) => Reply::Ok(ReadOk3 {
            file_attributes: Some(t.fattr(&ok.attr)),
            count: u32::try_from(ok.data.len()).unwrap_or(u32::MAX),
            eof: ok.eof,
            data: ok.data,
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), t.post_op(t.ino).await),
    }
}

pub(crate) async fn write(c: &Caller<'_>, a: WriteArgs) -> Reply<WriteOk3, WccData> {
    let t = try_or_fail!(c.resolve_write(&a.file).await, WccData::default());
    match t
        .fs()
        .write(&t.cred, t.ino, a.offset, a.data, a.stable)
        .await
    {
        Ok(ok)
            if ok
                .wcc
                .after
                .as_ref()
                .is_some_and(|x| x.generation != t.generation) =>
        {
            Reply::Fail(Nfsstat3::Stale, WccData::default())
        }
        Ok(ok) => Reply::Ok(WriteOk3 {
            file_wcc: t.wcc(&ok.wcc),
            count: ok.count,
            committed: ok.committed,
            verf: c.write_verifier(),
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), t.wcc_after(t.ino).await),
    }
}

pub(crate) async fn commit(c: &Caller<'_>, a: CommitArgs) -> Reply<CommitOk, WccData> {
    let t = try_or_fail!(c.resolve(&a.file).await, WccData::default());
    match t.fs().commit(&t.cred, t.ino).await {
        Ok(wcc)
            if wcc
                .after
                .as_ref()
                .is_some_and(|x| x.generation != t.generation) =>
        {
            Reply::Fail(Nfsstat3::Stale, WccData::default())
        }
        Ok(wcc) => Reply::Ok(CommitOk {
            file_wcc: t.wcc(&wcc),
            verf: c.write_verifier(),
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), t.wcc_after(t.ino).await),
    }
}
