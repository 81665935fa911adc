//! Routes content operations to the owner shard of a file.
//!
//! Every core has one [`Router`]. The owner of a file is a hash of its key modulo
//! the number of shards; when that is this core the shard is called inline,
//! otherwise the request travels over the glommio channel mesh to the owner,
//! which serves it and answers over a oneshot channel. Payloads are `Bytes`, so
//! forwarding moves a reference count, not data.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_channel::oneshot;
use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};

use crate::block_store::BlockStore;
use crate::shard::{ContentError, ContentKey, Shard};

/// Default content block size.
pub const BLOCK_BYTES_DEFAULT: u64 = 4 << 20;

type Reply<T> = oneshot::Sender<Result<T, ContentError>>;

/// A content operation forwarded to its owner shard.
pub enum ShardRequest {
    Read {
        key: ContentKey,
        offset: u64,
        len: u32,
        reply: Reply<Bytes>,
    },
    Write {
        key: ContentKey,
        offset: u64,
        data: Bytes,
        reply: Reply<()>,
    },
    Truncate {
        key: ContentKey,
        size: u64,
        reply: Reply<()>,
    },
    Flush {
        key: ContentKey,
        reply: Reply<()>,
    },
    Remove {
        key: ContentKey,
        reply: Reply<()>,
    },
}

/// The mesh of all shards, created once before the executors start.
pub type ShardMesh = MeshBuilder<ShardRequest, Full>;

/// Creates the mesh for `shards` cores with `queue_len` requests buffered per pair.
pub fn shard_mesh(shards: usize, queue_len: usize) -> ShardMesh {
    assert!(shards >= 1 && queue_len >= 1);
    MeshBuilder::full(shards, queue_len)
}

struct MeshLink {
    senders: Senders<ShardRequest>,
    me: usize,
    shards: usize,
}

/// This core's handle on all content shards.
pub struct Router {
    local: Rc<Shard>,
    mesh: Option<MeshLink>,
}

impl Router {
    /// A router with a single shard living on the calling thread, serving the given
    /// block stores by share id. Needs no executor mesh; used by tests and `--cores 1`.
    pub fn local(block_stores: Vec<(u32, Arc<dyn BlockStore>)>) -> Router {
        Router::single(Shard::new(block_stores, BLOCK_BYTES_DEFAULT))
    }

    /// A router over one shard on the calling thread.
    pub fn single(shard: Shard) -> Router {
        Router {
            local: Rc::new(shard),
            mesh: None,
        }
    }

    /// Joins the shard mesh from inside this core's executor; this core's shard is
    /// `shard`, and a task per peer starts serving requests forwarded to it.
    /// Resolves once every core has joined.
    pub async fn join_mesh(mesh: ShardMesh, shard: Shard) -> Result<Router, ContentError> {
        let (senders, mut receivers) = mesh.join().await.map_err(|_| ContentError::ShardGone)?;
        let me = senders.peer_id();
        let shards = senders.nr_consumers();
        let local = Rc::new(shard);
        for (_peer, stream) in receivers.streams() {
            let local = local.clone();
            glommio::spawn_local(async move {
                while let Some(request) = stream.recv().await {
                    // One task per request: a write waiting for WAL space or a
                    // sync must not hold up the reads queued behind it.
                    glommio::spawn_local(serve(local.clone(), request)).detach();
                }
            })
            .detach();
        }
        Ok(Router {
            local,
            mesh: Some(MeshLink {
                senders,
                me,
                shards,
            }),
        })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.mesh.as_ref().map_or(1, |m| m.shards)
    }

    /// Index of the shard that owns `key`.
    pub fn owner(&self, key: ContentKey) -> usize {
        owner_of(key, self.shards())
    }

    /// Stops forwarding to other cores (their serving tasks end when all cores closed).
    pub fn close(&self) {
        if let Some(mesh) = &self.mesh {
            mesh.senders.close();
        }
    }

    /// This core's shard.
    pub fn shard(&self) -> &Rc<Shard> {
        &self.local
    }

    async fn call<T, F>(
        &self,
        key: ContentKey,
        local: impl FnOnce(Rc<Shard>) -> F,
        remote: impl FnOnce(Reply<T>) -> ShardRequest,
    ) -> Result<T, ContentError>
    where
        F: std::future::Future<Output = Result<T, ContentError>>,
    {
        let owner = self.owner(key);
        match &self.mesh {
            Some(mesh) if owner != mesh.me => {
                let (tx, rx) = oneshot::channel();
                mesh.senders
                    .send_to(owner, remote(tx))
                    .await
                    .map_err(|_| ContentError::ShardGone)?;
                rx.await.map_err(|_| ContentError::ShardGone)?
            }
            _ => local(self.local.clone()).await,
        }
    }

    /// Reads exactly `len` bytes at `offset` (holes and data past the end read as zeros;
    /// the caller clamps to the file size).
    pub async fn read(
        &self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ContentError> {
        self.call(
            key,
            |s| async move { s.read(key, offset, len).await },
            |reply| ShardRequest::Read {
                key,
                offset,
                len,
                reply,
            },
        )
        .await
    }

    /// Writes `data` at `offset`.
    pub async fn write(
        &self,
        key: ContentKey,
        offset: u64,
        data: Bytes,
    ) -> Result<(), ContentError> {
        let local_data = data.clone();
        self.call(
            key,
            move |s| async move { s.write(key, offset, local_data).await },
            move |reply| ShardRequest::Write {
                key,
                offset,
                data,
                reply,
            },
        )
        .await
    }

    /// Cuts the content to `size` bytes (extending needs nothing: holes read as zeros).
    pub async fn truncate(&self, key: ContentKey, size: u64) -> Result<(), ContentError> {
        self.call(
            key,
            |s| async move { s.truncate(key, size).await },
            |reply| ShardRequest::Truncate { key, size, reply },
        )
        .await
    }

    /// Makes all content written to `key` stable.
    pub async fn flush(&self, key: ContentKey) -> Result<(), ContentError> {
        self.call(
            key,
            |s| async move { s.flush(key).await },
            |reply| ShardRequest::Flush { key, reply },
        )
        .await
    }

    /// Drops all content of `key` (its last link is gone).
    pub async fn remove(&self, key: ContentKey) -> Result<(), ContentError> {
        self.call(
            key,
            |s| async move { s.remove(key).await },
            |reply| ShardRequest::Remove { key, reply },
        )
        .await
    }
}

/// Owner shard of `key` among `shards`: a multiplicative hash spreads sequential
/// inode numbers evenly.
pub fn owner_of(key: ContentKey, shards: usize) -> usize {
    assert!(shards >= 1);
    let mixed = (key.ino ^ (u64::from(key.share) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The high bits are the best mixed; the result is below `shards`, a usize.
    ((mixed >> 32) % shards as u64) as usize
}

/// Serves one forwarded request on the owner core. A dropped reply means the
/// caller went away; there is nobody to tell.
async fn serve(shard: Rc<Shard>, request: ShardRequest) {
    match request {
        ShardRequest::Read {
            key,
            offset,
            len,
            reply,
        } => {
            let _ = reply.send(shard.read(key, offset, len).await);
        }
        ShardRequest::Write {
            key,
            offset,
            data,
            reply,
        } => {
            let _ = reply.send(shard.write(key, offset, data).await);
        }
        ShardRequest::Truncate { key, size, reply } => {
            let _ = reply.send(shard.truncate(key, size).await);
        }
        ShardRequest::Flush { key, reply } => {
            let _ = reply.send(shard.flush(key).await);
        }
        ShardRequest::Remove { key, reply } => {
            let _ = reply.send(shard.remove(key).await);
        }
    }
}
