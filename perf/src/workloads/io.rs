//! seq-write, seq-read, rand-write, rand-read: one file per connection, `depth`
//! requests in flight on each.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use dittofs::nfs::handle::WireHandle;

use super::{fill_file, prep_err};
use crate::config::StableMode;
use crate::nfs::OpError;
use crate::pattern;
use crate::runner::{run_streams, Ctx, RunError};
use crate::stats::PhaseStats;

/// rand-write with `--stable commit` sends a COMMIT after this many writes per stream.
pub const RAND_COMMIT_EVERY: u64 = 256;

struct Files {
    names: Vec<String>,
    handles: Vec<WireHandle>,
}

/// Creates one file per connection (`prefix-t<thread>-c<conn>`), optionally filled.
async fn prepare(ctx: &Rc<Ctx>, prefix: &str, fill: bool) -> Result<Files, RunError> {
    let err = prep_err(ctx);
    let mut names = Vec::new();
    let mut handles = Vec::new();
    for c in 0..ctx.conns.len() {
        let name = format!("{prefix}-t{}-c{c}", ctx.thread);
        let nfs = ctx.conn(c);
        let h = nfs.create(ctx.dir, &name).await.map_err(&err)?;
        if fill {
            let io = ctx.seq_io_bytes;
            let depth = ctx.cfg.depth.max(1);
            fill_file(
                nfs,
                h,
                pattern::seed_of(&name),
                ctx.cfg.file_size_bytes,
                io,
                depth,
            )
            .await
            .map_err(&err)?;
        }
        names.push(name);
        handles.push(h);
    }
    Ok(Files { names, handles })
}

/// Removes the files after the timed phase (untimed) so big runs do not pile up.
async fn cleanup(ctx: &Rc<Ctx>, files: &Files) {
    for (i, n) in files.names.iter().enumerate() {
        let _ = ctx.conn(i).remove(ctx.dir, n).await;
    }
}

pub async fn seq_write(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    write(ctx, false).await
}

pub async fn rand_write(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    write(ctx, true).await
}

async fn write(ctx: Rc<Ctx>, random: bool) -> Result<Vec<PhaseStats>, RunError> {
    let files = Rc::new(prepare(&ctx, if random { "rw" } else { "sw" }, false).await?);
    let io = u64::from(if random {
        ctx.rand_io_bytes
    } else {
        ctx.seq_io_bytes
    });
    let size = ctx.cfg.file_size_bytes.max(io);
    let blocks = size / io;
    let stable = ctx.cfg.stable;
    // Written data: a fixed pattern buffer; the clone per write costs no copy.
    let data = Bytes::from(pattern::make(ctx.cfg.seed, 0, io as usize));
    let cursors: Rc<Vec<Cell<u64>>> =
        Rc::new((0..files.handles.len()).map(|_| Cell::new(0)).collect());
    let depth = ctx.cfg.depth.max(1);
    let name = if random { "rand-write" } else { "seq-write" };
    let c2 = ctx.clone();
    let f2 = files.clone();
    let stats = ctx
        .phase(name, true, move |rec, budget| async move {
            let ctx = c2;
            let files = f2;
            run_streams(ctx.streams(), |s| {
                let (ctx, files, rec, budget, data, cursors) = (
                    ctx.clone(),
                    files.clone(),
                    rec.clone(),
                    budget.clone(),
                    data.clone(),
                    cursors.clone(),
                );
                async move {
                    let ci = s / depth;
                    let nfs = ctx.conn(ci).clone();
                    let fh = files.handles[ci];
                    let mut rng = fastrand::Rng::with_seed(
                        ctx.cfg.seed ^ (s as u64) << 8 ^ ctx.thread as u64,
                    );
                    let mut written = 0u64;
                    while budget.take() {
                        let (off, wrapped) = if random {
                            (rng.u64(0..blocks) * io, false)
                        } else {
                            let b = cursors[ci].get();
                            cursors[ci].set((b + 1) % blocks);
                            (b * io, b + 1 == blocks)
                        };
                        let t = Instant::now();
                        let r = nfs
                            .write(fh, off, data.clone(), stable.write_stability())
                            .await;
                        if let Some(ok) = rec.op(t, r) {
                            rec.add_bytes(u64::from(ok.count));
                        }
                        written += 1;
                        let commit_now = stable == StableMode::Commit
                            && if random {
                                written % RAND_COMMIT_EVERY == 0
                            } else {
                                wrapped
                            };
                        if commit_now {
                            let t = Instant::now();
                            rec.op(t, nfs.commit(fh).await);
                        }
                    }
                    // Commit mode: what this stream wrote is durable before the phase ends.
                    if stable == StableMode::Commit && written > 0 {
                        let t = Instant::now();
                        rec.op(t, nfs.commit(fh).await);
                    }
                }
            })
            .await;
        })
        .await?;
    cleanup(&ctx, &files).await;
    Ok(vec![stats])
}

/// seq-read (`random == false`) or rand-read over files filled with the pattern.
pub async fn read(ctx: Rc<Ctx>, random: bool) -> Result<Vec<PhaseStats>, RunError> {
    let files = Rc::new(prepare(&ctx, if random { "rr" } else { "sr" }, true).await?);
    let io = u64::from(if random {
        ctx.rand_io_bytes
    } else {
        ctx.seq_io_bytes
    });
    let size = ctx.cfg.file_size_bytes.max(io);
    let blocks = size / io;
    let cursors: Rc<Vec<Cell<u64>>> =
        Rc::new((0..files.handles.len()).map(|_| Cell::new(0)).collect());
    let depth = ctx.cfg.depth.max(1);
    let verify = ctx.cfg.verify;
    let name = if random { "rand-read" } else { "seq-read" };
    let (c2, f2) = (ctx.clone(), files.clone());
    let stats = ctx
        .phase(name, true, move |rec, budget| async move {
            let (ctx, files) = (c2, f2);
            run_streams(ctx.streams(), |s| {
                let (ctx, files, rec, budget, cursors) = (
                    ctx.clone(),
                    files.clone(),
                    rec.clone(),
                    budget.clone(),
                    cursors.clone(),
                );
                async move {
                    let ci = s / depth;
                    let nfs = ctx.conn(ci).clone();
                    let fh = files.handles[ci];
                    let seed = pattern::seed_of(&files.names[ci]);
                    let mut rng = fastrand::Rng::with_seed(
                        ctx.cfg.seed ^ (s as u64) << 8 ^ ctx.thread as u64,
                    );
                    while budget.take() {
                        let off = if random {
                            rng.u64(0..blocks) * io
                        } else {
                            let b = cursors[ci].get();
                            cursors[ci].set((b + 1) % blocks);
                            b * io
                        };
                        let want = (size - off).min(io) as u32;
                        let t = Instant::now();
                        let r = nfs.read(fh, off, io as u32).await.and_then(|ok| {
                            if ok.data.len() as u32 != want {
                                Err(OpError::ShortRead {
                                    asked: want,
                                    got: ok.data.len() as u32,
                                })
                            } else if verify && !pattern::check(seed, off, &ok.data) {
                                Err(OpError::DataMismatch)
                            } else {
                                Ok(ok.data.len() as u64)
                            }
                        });
                        if let Some(n) = rec.op(t, r) {
                            rec.add_bytes(n);
                        }
                    }
                }
            })
            .await;
        })
        .await?;
    cleanup(&ctx, &files).await;
    Ok(vec![stats])
}
