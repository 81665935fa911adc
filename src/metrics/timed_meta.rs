//! Metadata store latency: a [`MetadataStore`] decorator that times each call.
//!
//! Wrapping the store once (in the runtime, when a share is built) measures
//! every backend the same way without touching them. The clock starts when
//! the call is made (where the caller starts waiting) and stops when the
//! future completes; the future is boxed once more, one allocation per call
//! next to the store's own. Identity calls are forwarded
//! untimed (they are rare and not on the data path).

use std::sync::Arc;
use std::time::Instant;

use crate::fs::{InodeId, Timespec};
use crate::meta::{
    AttrChange, BlockRef, GroupRecord, MetaFuture, MetadataStore, NewInode, RemoveKind, RenameArgs,
    UserRecord,
};

/// Timed metadata operations (the `op` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaOp {
    Get,
    Lookup,
    Readlink,
    Create,
    Remove,
    Rename,
    Link,
    SetAttr,
    Readdir,
    Stat,
    PutBlock,
    GetBlock,
    Blocks,
    DropBlocks,
}

impl MetaOp {
    pub const ALL: [MetaOp; 14] = [
        MetaOp::Get,
        MetaOp::Lookup,
        MetaOp::Readlink,
        MetaOp::Create,
        MetaOp::Remove,
        MetaOp::Rename,
        MetaOp::Link,
        MetaOp::SetAttr,
        MetaOp::Readdir,
        MetaOp::Stat,
        MetaOp::PutBlock,
        MetaOp::GetBlock,
        MetaOp::Blocks,
        MetaOp::DropBlocks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MetaOp::Get => "get",
            MetaOp::Lookup => "lookup",
            MetaOp::Readlink => "readlink",
            MetaOp::Create => "create",
            MetaOp::Remove => "remove",
            MetaOp::Rename => "rename",
            MetaOp::Link => "link",
            MetaOp::SetAttr => "set_attr",
            MetaOp::Readdir => "readdir",
            MetaOp::Stat => "stat",
            MetaOp::PutBlock => "put_block",
            MetaOp::GetBlock => "get_block",
            MetaOp::Blocks => "blocks",
            MetaOp::DropBlocks => "drop_blocks",
        }
    }
}

/// A metadata store whose calls are timed into [`super::meta_op`].
pub struct TimedMeta {
    inner: Arc<dyn MetadataStore>,
}

impl TimedMeta {
    pub fn wrap(inner: Arc<dyn MetadataStore>) -> Arc<dyn MetadataStore> {
        Arc::new(TimedMeta { inner })
    }
}

fn timed<'a, T: 'a>(op: MetaOp, fut: MetaFuture<'a, T>) -> MetaFuture<'a, T> {
    let started = Instant::now();
    Box::pin(async move {
        let out = fut.await;
        super::meta_op(op, started.elapsed());
        out
    })
}

impl MetadataStore for TimedMeta {
    fn share_root<'a>(&'a self, name: &'a str, root_mode: u32) -> MetaFuture<'a, InodeId> {
        self.inner.share_root(name, root_mode)
    }
    fn get(&self, ino: InodeId) -> MetaFuture<'_, crate::fs::Attr> {
        timed(MetaOp::Get, self.inner.get(ino))
    }
    fn lookup<'a>(&'a self, dir: InodeId, name: &'a [u8]) -> MetaFuture<'a, crate::fs::Attr> {
        timed(MetaOp::Lookup, self.inner.lookup(dir, name))
    }
    fn readlink(&self, ino: InodeId) -> MetaFuture<'_, Vec<u8>> {
        timed(MetaOp::Readlink, self.inner.readlink(ino))
    }
    fn create<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::Created> {
        timed(MetaOp::Create, self.inner.create(dir, name, new, now))
    }
    fn reap(&self, ino: InodeId) -> MetaFuture<'_, Option<crate::fs::Attr>> {
        timed(MetaOp::Remove, self.inner.reap(ino))
    }
    fn orphans(&self, after: InodeId, max: usize) -> MetaFuture<'_, Vec<InodeId>> {
        self.inner.orphans(after, max)
    }
    fn remove<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::Removed> {
        timed(
            MetaOp::Remove,
            self.inner.remove(dir, name, kind, expect, now),
        )
    }
    fn rename<'a>(
        &'a self,
        args: RenameArgs<'a>,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::Renamed> {
        timed(MetaOp::Rename, self.inner.rename(args, now))
    }
    fn link<'a>(
        &'a self,
        ino: InodeId,
        dir: InodeId,
        name: &'a [u8],
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::Linked> {
        timed(MetaOp::Link, self.inner.link(ino, dir, name, now))
    }
    fn set_attr<'a>(
        &'a self,
        ino: InodeId,
        change: &'a AttrChange,
        now: Timespec,
    ) -> MetaFuture<'a, (crate::fs::PreOpAttr, crate::fs::Attr)> {
        timed(MetaOp::SetAttr, self.inner.set_attr(ino, change, now))
    }
    fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaFuture<'_, crate::meta::DirListing> {
        timed(
            MetaOp::Readdir,
            self.inner.readdir(dir, after, max, with_attrs),
        )
    }
    fn create_verifier(&self, ino: InodeId) -> MetaFuture<'_, Option<[u8; 8]>> {
        self.inner.create_verifier(ino)
    }
    fn stat(&self) -> MetaFuture<'_, crate::meta::StoreStat> {
        timed(MetaOp::Stat, self.inner.stat())
    }
    fn put_block(
        &self,
        ino: InodeId,
        index: u64,
        block: BlockRef,
    ) -> MetaFuture<'_, Option<BlockRef>> {
        timed(MetaOp::PutBlock, self.inner.put_block(ino, index, block))
    }
    fn get_block(&self, ino: InodeId, index: u64) -> MetaFuture<'_, Option<BlockRef>> {
        timed(MetaOp::GetBlock, self.inner.get_block(ino, index))
    }
    fn blocks(&self, ino: InodeId) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        timed(MetaOp::Blocks, self.inner.blocks(ino))
    }
    fn drop_blocks(&self, ino: InodeId, from_index: u64) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        timed(MetaOp::DropBlocks, self.inner.drop_blocks(ino, from_index))
    }
    fn put_user<'a>(&'a self, user: &'a UserRecord) -> MetaFuture<'a, ()> {
        self.inner.put_user(user)
    }
    fn get_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<UserRecord>> {
        self.inner.get_user(name)
    }
    fn get_user_by_uid(&self, uid: u32) -> MetaFuture<'_, Option<UserRecord>> {
        self.inner.get_user_by_uid(uid)
    }
    fn remove_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        self.inner.remove_user(name)
    }
    fn list_users(&self) -> MetaFuture<'_, Vec<UserRecord>> {
        self.inner.list_users()
    }
    fn put_group<'a>(&'a self, group: &'a GroupRecord) -> MetaFuture<'a, ()> {
        self.inner.put_group(group)
    }
    fn get_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<GroupRecord>> {
        self.inner.get_group(name)
    }
    fn get_group_by_gid(&self, gid: u32) -> MetaFuture<'_, Option<GroupRecord>> {
        self.inner.get_group_by_gid(gid)
    }
    fn remove_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        self.inner.remove_group(name)
    }
    fn list_groups(&self) -> MetaFuture<'_, Vec<GroupRecord>> {
        self.inner.list_groups()
    }
    fn set_dos_attributes(&self, ino: InodeId, attributes: u32) -> MetaFuture<'_, ()> {
        self.inner.set_dos_attributes(ino, attributes)
    }
    fn get_dos_attributes(&self, ino: InodeId) -> MetaFuture<'_, u32> {
        self.inner.get_dos_attributes(ino)
    }
    fn create_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::StreamCreated> {
        timed(
            MetaOp::Create,
            self.inner.create_stream(base, key, name, new, now),
        )
    }
    fn lookup_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
    ) -> MetaFuture<'a, Option<crate::meta::StreamRecord>> {
        timed(MetaOp::Lookup, self.inner.lookup_stream(base, key))
    }
    fn list_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<crate::meta::StreamRecord>> {
        self.inner.list_streams(base)
    }
    fn remove_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
    ) -> MetaFuture<'a, Option<crate::fs::Attr>> {
        timed(MetaOp::Remove, self.inner.remove_stream(base, key))
    }
    fn rename_stream<'a>(
        &'a self,
        base: InodeId,
        from_key: &'a [u8],
        to_key: &'a [u8],
        to_name: &'a [u8],
        replace: bool,
    ) -> MetaFuture<'a, Option<crate::fs::Attr>> {
        self.inner
            .rename_stream(base, from_key, to_key, to_name, replace)
    }
    fn drop_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<crate::fs::Attr>> {
        self.inner.drop_streams(base)
    }
}
