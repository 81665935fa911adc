//! The workloads. Each works in its own directory under the run directory, prepares
//! what it needs untimed, then runs its timed phase(s) through [`Ctx::phase`].

mod buildfarm;
mod io;
mod meta;

use std::rc::Rc;

use bytes::Bytes;
use dittofs::fs::Stability;
use dittofs::nfs::handle::WireHandle;

use crate::config::Workload;
use crate::nfs::{Nfs, OpError};
use crate::pattern;
use crate::runner::{par_for, Ctx, RunError};
use crate::stats::PhaseStats;

/// Runs this thread's part of the configured workload.
pub async fn run_thread(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    match ctx.cfg.workload {
        Workload::SeqWrite => io::seq_write(ctx).await,
        Workload::SeqRead => io::read(ctx, false).await,
        Workload::RandWrite => io::rand_write(ctx).await,
        Workload::RandRead => io::read(ctx, true).await,
        Workload::Create => meta::create(ctx).await,
        Workload::Stat => meta::stat(ctx).await,
        Workload::Readdir => meta::readdir(ctx).await,
        Workload::Delete => meta::delete(ctx).await,
        Workload::BuildFarm => buildfarm::run(ctx).await,
    }
}

/// Wraps a preparation error of this thread.
pub(crate) fn prep_err(ctx: &Ctx) -> impl Fn(OpError) -> RunError {
    let thread = ctx.thread;
    move |err| RunError::Thread { thread, err }
}

/// Writes `size` bytes of the pattern of `seed` to `file` (chunks of `io`, `depth` in
/// flight) and commits; used by preparation, untimed.
pub(crate) async fn fill_file(
    nfs: &Nfs,
    file: WireHandle,
    seed: u64,
    size: u64,
    io: u32,
    depth: usize,
) -> Result<(), OpError> {
    let chunks = size.div_ceil(u64::from(io)) as usize;
    let nfs2 = nfs.clone();
    par_for(chunks, depth, move |i| {
        let nfs = nfs2.clone();
        async move {
            let off = i as u64 * u64::from(io);
            let len = (size - off).min(u64::from(io)) as usize;
            let data = Bytes::from(pattern::make(seed, off, len));
            nfs.write(file, off, data, Stability::Unstable).await?;
            Ok(())
        }
    })
    .await?;
    nfs.commit(file).await
}

/// Creates `names` in `dir` (empty files), `workers` at a time over the thread's
/// connections; returns their handles in order.
pub(crate) async fn create_files(
    ctx: &Rc<Ctx>,
    dir: WireHandle,
    names: Rc<Vec<String>>,
) -> Result<Vec<WireHandle>, OpError> {
    let out = Rc::new(std::cell::RefCell::new(vec![None; names.len()]));
    let (c, o) = (ctx.clone(), out.clone());
    par_for(names.len(), ctx.streams(), move |i| {
        let (c, o, names) = (c.clone(), o.clone(), names.clone());
        async move {
            let h = c.conn(i).create(dir, &names[i]).await?;
            o.borrow_mut()[i] = Some(h);
            Ok(())
        }
    })
    .await?;
    let v = out
        .borrow()
        .iter()
        .map(|h| h.ok_or(OpError::NoHandle))
        .collect();
    v
}

/// LOOKUPs `names` in `dir`; returns their handles in order.
pub(crate) async fn lookup_files(
    ctx: &Rc<Ctx>,
    dir: WireHandle,
    names: Rc<Vec<String>>,
) -> Result<Vec<WireHandle>, OpError> {
    let out = Rc::new(std::cell::RefCell::new(vec![None; names.len()]));
    let (c, o) = (ctx.clone(), out.clone());
    par_for(names.len(), ctx.streams(), move |i| {
        let (c, o, names) = (c.clone(), o.clone(), names.clone());
        async move {
            let h = c.conn(i).lookup(dir, &names[i]).await?;
            o.borrow_mut()[i] = Some(h);
            Ok(())
        }
    })
    .await?;
    let v = out
        .borrow()
        .iter()
        .map(|h| h.ok_or(OpError::NoHandle))
        .collect();
    v
}
