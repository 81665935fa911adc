//! FSSTAT, FSINFO and PATHCONF: what the client learns about the file system.

use crate::fs::{Timespec, IO_SIZE_MAX, LINK_MAX, NAME_LEN_MAX};
use crate::nfs::args::HandleArgs;
use crate::nfs::dispatch::Caller;
use crate::nfs::results::{fsf3, FsinfoOk, FsstatOk, PathconfOk, Reply};
use crate::nfs::status::nfs3_status;
use crate::nfs::wire::PostOpAttr;

use super::try_or_fail;

/// Preferred READ/WRITE size advertised (the core's maximum, at most 1 MiB).
const IO_SIZE_PREF: u32 = if IO_SIZE_MAX < 1 << 20 {
    IO_SIZE_MAX
} else {
    1 << 20
};
/// Preferred READDIR size advertised.
const DIR_SIZE_PREF: u32 = 64 * 1024;
/// Largest file size advertised (Linux treats it as a signed `loff_t`).
const FILE_SIZE_MAX: u64 = i64::MAX as u64;

pub(crate) async fn fsstat(c: &Caller<'_>, a: HandleArgs) -> Reply<FsstatOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.object).await, None);
    let attr = try_or_fail!(t.check().await, None);
    match t.fs().fsstat().await {
        Ok(s) => Reply::Ok(FsstatOk {
            obj_attributes: Some(t.fattr(&attr)),
            tbytes: s.total_bytes,
            fbytes: s.free_bytes,
            abytes: s.avail_bytes,
            tfiles: s.total_files,
            ffiles: s.free_files,
            afiles: s.avail_files,
            invarsec: 0,
        }),
        Err(e) => Reply::Fail(nfs3_status(&e), Some(t.fattr(&attr))),
    }
}

/// The FSINFO answer for an object whose attributes are `obj_attributes`.
pub(crate) fn fsinfo_ok(obj_attributes: PostOpAttr) -> FsinfoOk {
    FsinfoOk {
        obj_attributes,
        rtmax: IO_SIZE_MAX,
        rtpref: IO_SIZE_PREF,
        rtmult: 4096,
        wtmax: IO_SIZE_MAX,
        wtpref: IO_SIZE_PREF,
        wtmult: 4096,
        dtpref: DIR_SIZE_PREF,
        maxfilesize: FILE_SIZE_MAX,
        time_delta: Timespec { sec: 0, nsec: 1 },
        properties: fsf3::LINK | fsf3::SYMLINK | fsf3::HOMOGENEOUS | fsf3::CANSETTIME,
    }
}

pub(crate) async fn fsinfo(c: &Caller<'_>, a: HandleArgs) -> Reply<FsinfoOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.object).await, None);
    let attr = try_or_fail!(t.check().await, None);
    Reply::Ok(fsinfo_ok(Some(t.fattr(&attr))))
}

pub(crate) async fn pathconf(c: &Caller<'_>, a: HandleArgs) -> Reply<PathconfOk, PostOpAttr> {
    let t = try_or_fail!(c.resolve(&a.object).await, None);
    let attr = try_or_fail!(t.check().await, None);
    Reply::Ok(PathconfOk {
        obj_attributes: Some(t.fattr(&attr)),
        linkmax: LINK_MAX,
        name_max: NAME_LEN_MAX as u32,
        no_trunc: true,
        chown_restricted: true,
        case_insensitive: false,
        case_preserving: true,
    })
}
