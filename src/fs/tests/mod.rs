//! Unit tests of the file-system core over the memory metadata store.

mod attr;
mod io;
mod namespace;
mod readdir;

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use dittofs_shards::{MemoryBlockStore, Router};

use super::{Attr, Cred, Fs, InodeId, SetAttr, ShareInfo, SpecialKind};
use crate::meta::{MemoryStore, MetadataStore};

thread_local! {
    /// One glommio executor per test thread, as in production: the content
    /// shard spawns its uploads as local tasks and waits with glommio timers,
    /// which need a running executor. Tasks left over from one `run` (a
    /// seal still uploading) go on in the next.
    static EXECUTOR: glommio::LocalExecutor = glommio::LocalExecutorBuilder::default()
        .make()
        .expect("glommio executor for the fs tests");
}

/// Runs a future to completion on the test thread's glommio executor.
pub(super) fn run<F: Future>(f: F) -> F::Output {
    EXECUTOR.with(|ex| ex.run(f))
}

/// Share id of the test share.
const SHARE_ID: u32 = 1;

/// A single-shard content router over a memory block store.
fn router() -> Rc<Router> {
    Rc::new(Router::local(vec![(
        SHARE_ID,
        Arc::new(MemoryBlockStore::new()),
    )]))
}

/// A share over a fresh memory store with a 0777 root.
pub(super) struct Env {
    pub fs: Fs,
    pub ro: Fs,
    pub root: InodeId,
}

pub(super) fn env() -> Env {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let root = run(meta.share_root("/export", 0o777)).expect("root");
    let share = |read_only| ShareInfo {
        id: SHARE_ID,
        name: "/export".into(),
        read_only,
    };
    Env {
        fs: Fs::new(share(false), meta.clone(), router(), root),
        ro: Fs::new(share(true), meta, router(), root),
        root,
    }
}

pub(super) fn user(uid: u32, gid: u32, gids: &[u32]) -> Cred {
    Cred {
        uid,
        gid,
        gids: gids.to_vec(),
    }
}

pub(super) fn mode(m: u32) -> SetAttr {
    SetAttr {
        mode: Some(m),
        ..SetAttr::default()
    }
}

impl Env {
    pub fn mkdir(&self, cred: &Cred, dir: InodeId, name: &str, m: u32) -> Attr {
        run(self.fs.mkdir(cred, dir, name.as_bytes(), &mode(m)))
            .expect("mkdir")
            .attr
    }

    /// A FIFO: a non-directory whose removal needs no content shard.
    pub fn fifo(&self, cred: &Cred, dir: InodeId, name: &str, m: u32) -> Attr {
        run(self
            .fs
            .mknod(cred, dir, name.as_bytes(), SpecialKind::Fifo, &mode(m)))
        .expect("mkfifo")
        .attr
    }

    pub fn file(&self, cred: &Cred, dir: InodeId, name: &str, m: u32) -> Attr {
        run(self.fs.create(
            cred,
            dir,
            name.as_bytes(),
            super::CreateMode::Guarded,
            &mode(m),
        ))
        .expect("create")
        .attr
    }

    pub fn get(&self, ino: InodeId) -> Attr {
        run(self.fs.getattr(ino, None)).expect("getattr")
    }

    pub fn lookup(&self, dir: InodeId, name: &str) -> Option<Attr> {
        run(self.fs.lookup(&Cred::root(), dir, name.as_bytes())).ok()
    }
}
