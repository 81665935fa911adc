//! Metadata workloads: create, stat, readdir, delete.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use dittofs::nfs::handle::WireHandle;

use super::{create_files, lookup_files, prep_err};
use crate::config::StableMode;
use crate::nfs::OpError;
use crate::pattern;
use crate::runner::{run_streams, Ctx, RunError};
use crate::stats::PhaseStats;

/// Size of each file of the create workload.
const CREATE_FILE_BYTES: usize = 4096;

/// A per-thread directory `name-t<thread>` in the run directory.
async fn thread_dir(ctx: &Rc<Ctx>, name: &str) -> Result<WireHandle, RunError> {
    ctx.conn(0)
        .mkdir(ctx.dir, &format!("{name}-t{}", ctx.thread))
        .await
        .map_err(prep_err(ctx))
}

/// A directory shared by all threads, filled by thread 0 with `n` empty files
/// (`f<i>`); every thread gets its handle and the names.
async fn shared_dir(
    ctx: &Rc<Ctx>,
    name: &str,
    n: usize,
) -> Result<(WireHandle, Rc<Vec<String>>), RunError> {
    let err = prep_err(ctx);
    let names: Rc<Vec<String>> = Rc::new((0..n).map(|i| format!("f{i:06}")).collect());
    if ctx.thread == 0 {
        let dir = ctx.conn(0).mkdir(ctx.dir, name).await.map_err(&err)?;
        create_files(ctx, dir, names.clone()).await.map_err(&err)?;
    }
    ctx.sync()?;
    let dir = ctx.conn(0).lookup(ctx.dir, name).await.map_err(&err)?;
    Ok((dir, names))
}

pub async fn create(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let dir = thread_dir(&ctx, "create").await?;
    let data = Bytes::from(pattern::make(ctx.cfg.seed, 0, CREATE_FILE_BYTES));
    let stable = ctx.cfg.stable;
    let c2 = ctx.clone();
    let stats = ctx
        .phase("create", true, move |rec, budget| async move {
            let ctx = c2;
            run_streams(ctx.streams(), |s| {
                let (ctx, rec, budget, data) =
                    (ctx.clone(), rec.clone(), budget.clone(), data.clone());
                async move {
                    let nfs = ctx.conn(s).clone();
                    let mut n = 0u64;
                    while budget.take() {
                        let name = format!("c{s}-{n}");
                        n += 1;
                        let t = Instant::now();
                        let r = async {
                            let fh = nfs.create(dir, &name).await?;
                            nfs.write(fh, 0, data.clone(), stable.write_stability())
                                .await?;
                            if stable != StableMode::FileSync {
                                nfs.commit(fh).await?;
                            }
                            Ok::<_, OpError>(())
                        }
                        .await;
                        if rec.op(t, r).is_some() {
                            rec.add_bytes(CREATE_FILE_BYTES as u64);
                        }
                    }
                }
            })
            .await;
        })
        .await?;
    Ok(vec![stats])
}

pub async fn stat(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let (dir, names) = shared_dir(&ctx, "stat", ctx.cfg.files.max(1)).await?;
    let handles = Rc::new(
        lookup_files(&ctx, dir, names.clone())
            .await
            .map_err(prep_err(&ctx))?,
    );
    let c2 = ctx.clone();
    let stats = ctx
        .phase("stat", true, move |rec, budget| async move {
            let ctx = c2;
            run_streams(ctx.streams(), |s| {
                let (ctx, rec, budget, names, handles) = (
                    ctx.clone(),
                    rec.clone(),
                    budget.clone(),
                    names.clone(),
                    handles.clone(),
                );
                async move {
                    let nfs = ctx.conn(s).clone();
                    let mut rng = fastrand::Rng::with_seed(
                        ctx.cfg.seed ^ ((s as u64) << 8) ^ ctx.thread as u64,
                    );
                    let mut lookup = s % 2 == 0;
                    while budget.take() {
                        let i = rng.usize(0..names.len());
                        let t = Instant::now();
                        if lookup {
                            rec.op(t, nfs.lookup(dir, &names[i]).await);
                        } else {
                            rec.op(t, nfs.getattr(handles[i]).await);
                        }
                        lookup = !lookup;
                    }
                }
            })
            .await;
        })
        .await?;
    Ok(vec![stats])
}

pub async fn readdir(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let entries = ctx.cfg.dir_entries;
    let (dir, _names) = shared_dir(&ctx, "readdir", entries).await?;
    let verify = ctx.cfg.verify;
    let c2 = ctx.clone();
    let stats = ctx
        .phase("readdir", true, move |rec, budget| async move {
            let ctx = c2;
            run_streams(ctx.streams(), |s| {
                let (ctx, rec, budget) = (ctx.clone(), rec.clone(), budget.clone());
                async move {
                    let nfs = ctx.conn(s).clone();
                    // One op = one READDIRPLUS call; a stream lists the directory over and over.
                    let (mut cookie, mut verf, mut seen) = (0u64, [0u8; 8], 0usize);
                    while budget.take() {
                        let t = Instant::now();
                        let Some(ok) = rec.op(t, nfs.readdirplus(dir, cookie, verf).await) else {
                            (cookie, verf, seen) = (0, [0; 8], 0);
                            continue;
                        };
                        let n = ok
                            .entries
                            .iter()
                            .filter(|e| e.name != b"." && e.name != b"..")
                            .count();
                        rec.add_items(n as u64);
                        seen += n;
                        verf = ok.cookieverf;
                        if let Some(e) = ok.entries.last() {
                            cookie = e.cookie;
                        }
                        if ok.eof || ok.entries.is_empty() {
                            if verify && seen != entries {
                                rec.error(&OpError::DataMismatch);
                            }
                            (cookie, verf, seen) = (0, [0; 8], 0);
                        }
                    }
                }
            })
            .await;
        })
        .await?;
    Ok(vec![stats])
}

pub async fn delete(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let dir = thread_dir(&ctx, "delete").await?;
    let per_thread = match ctx.cfg.ops {
        Some(n) => (n as usize).div_ceil(ctx.threads),
        None => ctx.cfg.files.div_ceil(ctx.threads),
    };
    let names: Rc<Vec<String>> = Rc::new((0..per_thread).map(|i| format!("d{i:07}")).collect());
    create_files(&ctx, dir, names.clone())
        .await
        .map_err(prep_err(&ctx))?;
    let next = Rc::new(Cell::new(0usize));
    let c2 = ctx.clone();
    let stats = ctx
        .phase("delete", true, move |rec, budget| async move {
            let ctx = c2;
            run_streams(ctx.streams(), |s| {
                let (ctx, rec, budget, names, next) = (
                    ctx.clone(),
                    rec.clone(),
                    budget.clone(),
                    names.clone(),
                    next.clone(),
                );
                async move {
                    let nfs = ctx.conn(s).clone();
                    loop {
                        let i = next.get();
                        if i >= names.len() || !budget.take() {
                            return;
                        }
                        next.set(i + 1);
                        let t = Instant::now();
                        rec.op(t, nfs.remove(dir, &names[i]).await);
                    }
                }
            })
            .await;
        })
        .await?;
    Ok(vec![stats])
}
