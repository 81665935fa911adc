//! RENAME and LINK: the two procedures with two handles, which must be on the same export.

use crate::nfs::args::{LinkArgs, RenameArgs};
use crate::nfs::dispatch::Caller;
use crate::nfs::results::{LinkBody, RenameWcc, Reply};
use crate::nfs::status::nfs3_status;

use super::try_or_fail;

pub(crate) async fn rename(c: &Caller<'_>, a: RenameArgs) -> Reply<RenameWcc, RenameWcc> {
    let (from, to) = try_or_fail!(
        c.resolve_pair(&a.from.dir, &a.to.dir).await,
        RenameWcc::default()
    );
    try_or_fail!(from.check().await, RenameWcc::default());
    try_or_fail!(to.check().await, RenameWcc::default());
    match from
        .fs()
        .rename(&from.cred, from.ino, &a.from.name, to.ino, &a.to.name)
        .await
    {
        Ok((fw, tw)) => Reply::Ok(RenameWcc {
            fromdir_wcc: from.wcc(&fw),
            todir_wcc: to.wcc(&tw),
        }),
        Err(e) => Reply::Fail(
            nfs3_status(&e),
            RenameWcc {
                fromdir_wcc: from.wcc_after(from.ino).await,
                todir_wcc: to.wcc_after(to.ino).await,
            },
        ),
    }
}

pub(crate) async fn link(c: &Caller<'_>, a: LinkArgs) -> Reply<LinkBody, LinkBody> {
    let (file, dir) = try_or_fail!(
        c.resolve_pair(&a.file, &a.link.dir).await,
        LinkBody::default()
    );
    try_or_fail!(file.check().await, LinkBody::default());
    try_or_fail!(dir.check().await, LinkBody::default());
    match file
        .fs()
        .link(&file.cred, file.ino, dir.ino, &a.link.name)
        .await
    {
        Ok((attr, wcc)) => Reply::Ok(LinkBody {
            file_attributes: Some(file.fattr(&attr)),
            linkdir_wcc: dir.wcc(&wcc),
        }),
        Err(e) => Reply::Fail(
            nfs3_status(&e),
            LinkBody {
                file_attributes: file.post_op(file.ino).await,
                linkdir_wcc: dir.wcc_after(dir.ino).await,
            },
        ),
    }
}
