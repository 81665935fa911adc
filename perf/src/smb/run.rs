//! Runs one workload over SMB: one executor thread owning every connection (each a
//! session with its tree), `depth` requests in flight per connection, preparation
//! untimed, the same phase names and report as the NFS runner.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dittofs_smb_wire::create::FileId;

use super::ops::Smb;
use super::session;
use crate::config::{RunConfig, StableMode, Workload};
use crate::nfs::OpError;
use crate::pattern;
use crate::runner::{executor, par_for, run_streams, spawn_progress, unique_name};
use crate::runner::{Budget, RunError, RunReport};
use crate::stats::{PhaseStats, Recorder};

/// Size of each file of the create workload (as over NFS).
const CREATE_FILE_BYTES: usize = 4096;
/// rand-write with `--stable commit` sends a FLUSH after this many writes per stream.
const RAND_FLUSH_EVERY: u64 = 256;

struct Ctx {
    cfg: RunConfig,
    conns: Vec<Smb>,
    /// The run directory, relative to the share root.
    dir: String,
    seq_io_bytes: u32,
    rand_io_bytes: u32,
    progress: Arc<AtomicU64>,
    ops_left: Option<Arc<AtomicI64>>,
}

impl Ctx {
    fn conn(&self, i: usize) -> &Smb {
        &self.conns[i % self.conns.len()]
    }
    fn streams(&self) -> usize {
        self.conns.len() * self.cfg.depth.max(1)
    }
    fn path(&self, name: &str) -> String {
        format!("{}\\{name}", self.dir)
    }
    async fn phase<F, Fut>(&self, name: &str, f: F) -> PhaseStats
    where
        F: FnOnce(Recorder, Budget) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let rec = Recorder::new(name, self.progress.clone());
        let start = Instant::now();
        let budget = Budget::new(
            self.cfg.effective_duration().map(|d| start + d),
            self.ops_left.clone(),
        );
        f(rec.clone(), budget).await;
        rec.finish(start.elapsed())
    }
}

fn setup_err(e: impl Into<OpError>) -> RunError {
    RunError::Setup(e.into())
}

/// Runs the configured workload over SMB (`cfg.smb` set) and returns the report.
pub fn run(cfg: &RunConfig) -> Result<RunReport, RunError> {
    let opts = cfg
        .smb
        .clone()
        .ok_or_else(|| setup_err(OpError::Unsupported("(no SMB options)")))?;
    let addr: SocketAddr = cfg.target.nfs_addr()?;
    let run_name = unique_name(cfg);
    let progress = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let progress_thread = cfg
        .progress
        .then(|| spawn_progress(cfg.workload.name(), progress.clone(), stop.clone()));
    let (c2, p2) = (cfg.clone(), progress.clone());
    let result = executor("perf-smb".into())
        .spawn(move || async move {
            let cfg = c2;
            let mut conns = Vec::new();
            for _ in 0..cfg.connections.max(1) {
                let s = session::open(addr, &opts).await.map_err(setup_err)?;
                conns.push(Smb { s: Rc::new(s) });
            }
            let io_max = conns[0]
                .s
                .max_read_bytes
                .min(conns[0].s.max_write_bytes)
                .max(4096);
            conns[0].mkdir(&run_name).await.map_err(setup_err)?;
            let ctx = Rc::new(Ctx {
                seq_io_bytes: cfg.seq_io_bytes.min(io_max),
                rand_io_bytes: cfg.rand_io_bytes.min(io_max),
                ops_left: cfg.ops.map(|n| Arc::new(AtomicI64::new(n as i64))),
                cfg,
                conns,
                dir: run_name,
                progress: p2,
            });
            let phases = workload(ctx.clone()).await?;
            let stray = ctx
                .conns
                .iter()
                .map(|c| c.conn().stray_responses.get())
                .sum::<u64>();
            Ok::<_, RunError>((phases, stray))
        })
        .map_err(|e| RunError::Executor(e.to_string()))?
        .join()
        .map_err(|e| RunError::Executor(e.to_string()));
    stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress_thread {
        let _ = p.join();
    }
    let (phases, stray) = result??;
    Ok(RunReport {
        target: cfg.target.url.clone(),
        workload: cfg.workload.name().to_string(),
        connections: cfg.connections.max(1),
        depth: cfg.depth,
        threads: 1,
        phases: phases.iter().map(PhaseStats::report).collect(),
        stray_replies: stray,
    })
}

async fn workload(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    match ctx.cfg.workload {
        Workload::SeqWrite => write(ctx, false).await,
        Workload::RandWrite => write(ctx, true).await,
        Workload::SeqRead => read(ctx, false).await,
        Workload::RandRead => read(ctx, true).await,
        Workload::Create => create(ctx).await,
        Workload::Stat => stat(ctx).await,
        Workload::Readdir => readdir(ctx).await,
        Workload::Delete => delete(ctx).await,
        Workload::BuildFarm => Err(setup_err(OpError::Unsupported("build-farm"))),
    }
}

/// One file per connection (`prefix-c<conn>`), open read/write, optionally filled.
async fn prepare(ctx: &Rc<Ctx>, prefix: &str, fill: bool) -> Result<Rc<Vec<FileId>>, RunError> {
    let mut files = Vec::new();
    for c in 0..ctx.conns.len() {
        let name = ctx.path(&format!("{prefix}-c{c}"));
        let smb = ctx.conn(c).clone();
        let f = smb.open_rw(&name).await.map_err(setup_err)?;
        if fill {
            let (io, size) = (u64::from(ctx.seq_io_bytes), ctx.cfg.file_size_bytes);
            let seed = pattern::seed_of(&format!("{prefix}-c{c}"));
            let s2 = smb.clone();
            par_for(size.div_ceil(io) as usize, ctx.cfg.depth.max(1), move |i| {
                let smb = s2.clone();
                async move {
                    let off = i as u64 * io;
                    let data = pattern::make(seed, off, (size - off).min(io) as usize);
                    smb.write(f, off, &data, false).await?;
                    Ok(())
                }
            })
            .await
            .map_err(setup_err)?;
            smb.flush(f).await.map_err(setup_err)?;
        }
        files.push(f);
    }
    Ok(Rc::new(files))
}

async fn cleanup(ctx: &Rc<Ctx>, prefix: &str, files: &[FileId]) {
    for (c, f) in files.iter().enumerate() {
        let smb = ctx.conn(c);
        let _ = smb.close(*f).await;
        let _ = smb.delete(&ctx.path(&format!("{prefix}-c{c}"))).await;
    }
}

async fn write(ctx: Rc<Ctx>, random: bool) -> Result<Vec<PhaseStats>, RunError> {
    let prefix = if random { "rw" } else { "sw" };
    let files = prepare(&ctx, prefix, false).await?;
    let io = u64::from(if random {
        ctx.rand_io_bytes
    } else {
        ctx.seq_io_bytes
    });
    let blocks = ctx.cfg.file_size_bytes.max(io) / io;
    let stable = ctx.cfg.stable;
    let data: Rc<Vec<u8>> = Rc::new(pattern::make(ctx.cfg.seed, 0, io as usize));
    let cursors: Rc<Vec<Cell<u64>>> = Rc::new(files.iter().map(|_| Cell::new(0)).collect());
    let depth = ctx.cfg.depth.max(1);
    let name = if random { "rand-write" } else { "seq-write" };
    let (c2, f2) = (ctx.clone(), files.clone());
    let stats = ctx
        .phase(name, move |rec, budget| async move {
            run_streams(c2.streams(), |s| {
                let (ctx, files, rec, budget, data, cursors) = (
                    c2.clone(),
                    f2.clone(),
                    rec.clone(),
                    budget.clone(),
                    data.clone(),
                    cursors.clone(),
                );
                async move {
                    let ci = s / depth;
                    let (smb, f) = (ctx.conn(ci).clone(), files[ci]);
                    let mut rng = fastrand::Rng::with_seed(ctx.cfg.seed ^ (s as u64) << 8);
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
                        let through = stable == StableMode::FileSync;
                        let r = smb.write(f, off, &data, through).await;
                        if let Some(n) = rec.op(t, r.map_err(OpError::from)) {
                            rec.add_bytes(u64::from(n));
                        }
                        written += 1;
                        let flush_now = stable == StableMode::Commit
                            && if random {
                                written % RAND_FLUSH_EVERY == 0
                            } else {
                                wrapped
                            };
                        if flush_now {
                            let t = Instant::now();
                            rec.op(t, smb.flush(f).await.map_err(OpError::from));
                        }
                    }
                    if stable == StableMode::Commit && written > 0 {
                        let t = Instant::now();
                        rec.op(t, smb.flush(f).await.map_err(OpError::from));
                    }
                }
            })
            .await;
        })
        .await;
    cleanup(&ctx, prefix, &files).await;
    Ok(vec![stats])
}

async fn read(ctx: Rc<Ctx>, random: bool) -> Result<Vec<PhaseStats>, RunError> {
    let prefix = if random { "rr" } else { "sr" };
    let files = prepare(&ctx, prefix, true).await?;
    let io = u64::from(if random {
        ctx.rand_io_bytes
    } else {
        ctx.seq_io_bytes
    });
    let size = ctx.cfg.file_size_bytes.max(io);
    let blocks = size / io;
    let cursors: Rc<Vec<Cell<u64>>> = Rc::new(files.iter().map(|_| Cell::new(0)).collect());
    let depth = ctx.cfg.depth.max(1);
    let verify = ctx.cfg.verify;
    let name = if random { "rand-read" } else { "seq-read" };
    let (c2, f2) = (ctx.clone(), files.clone());
    let stats = ctx
        .phase(name, move |rec, budget| async move {
            run_streams(c2.streams(), |s| {
                let (ctx, files, rec, budget, cursors) = (
                    c2.clone(),
                    f2.clone(),
                    rec.clone(),
                    budget.clone(),
                    cursors.clone(),
                );
                async move {
                    let ci = s / depth;
                    let (smb, f) = (ctx.conn(ci).clone(), files[ci]);
                    let seed = pattern::seed_of(&format!("{prefix}-c{ci}"));
                    let mut rng = fastrand::Rng::with_seed(ctx.cfg.seed ^ (s as u64) << 8);
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
                        let r = smb
                            .read(f, off, io as u32, |d| {
                                if d.len() as u32 != want {
                                    Err(OpError::ShortRead {
                                        asked: want,
                                        got: d.len() as u32,
                                    })
                                } else if verify && !pattern::check(seed, off, d) {
                                    Err(OpError::DataMismatch)
                                } else {
                                    Ok(d.len() as u64)
                                }
                            })
                            .await
                            .map_err(OpError::from)
                            .and_then(|r| r);
                        if let Some(n) = rec.op(t, r) {
                            rec.add_bytes(n);
                        }
                    }
                }
            })
            .await;
        })
        .await;
    cleanup(&ctx, prefix, &files).await;
    Ok(vec![stats])
}

async fn create(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let dir = ctx.path("create");
    ctx.conn(0).mkdir(&dir).await.map_err(setup_err)?;
    let data: Rc<Vec<u8>> = Rc::new(pattern::make(ctx.cfg.seed, 0, CREATE_FILE_BYTES));
    let stable = ctx.cfg.stable;
    let c2 = ctx.clone();
    let stats = ctx
        .phase("create", move |rec, budget| async move {
            run_streams(c2.streams(), |s| {
                let (ctx, rec, budget, data, dir) = (
                    c2.clone(),
                    rec.clone(),
                    budget.clone(),
                    data.clone(),
                    dir.clone(),
                );
                async move {
                    let smb = ctx.conn(s).clone();
                    let mut n = 0u64;
                    while budget.take() {
                        let name = format!("{dir}\\c{s}-{n}");
                        n += 1;
                        let t = Instant::now();
                        // CREATE + WRITE + FLUSH (unless write-through) + CLOSE, like
                        // CREATE + WRITE + COMMIT over NFS.
                        let r = async {
                            let f = smb.create_new(&name).await?;
                            let through = stable == StableMode::FileSync;
                            smb.write(f, 0, &data, through).await?;
                            if !through {
                                smb.flush(f).await?;
                            }
                            smb.close(f).await
                        }
                        .await;
                        if rec.op(t, r.map_err(OpError::from)).is_some() {
                            rec.add_bytes(CREATE_FILE_BYTES as u64);
                        }
                    }
                }
            })
            .await;
        })
        .await;
    Ok(vec![stats])
}

/// A directory `name` with `n` empty files `f<i>`; returns the file paths.
async fn filled_dir(ctx: &Rc<Ctx>, name: &str, n: usize) -> Result<Rc<Vec<String>>, RunError> {
    let dir = ctx.path(name);
    ctx.conn(0).mkdir(&dir).await.map_err(setup_err)?;
    let paths: Rc<Vec<String>> = Rc::new((0..n).map(|i| format!("{dir}\\f{i:06}")).collect());
    let (c2, p2) = (ctx.clone(), paths.clone());
    par_for(n, ctx.streams(), move |i| {
        let (smb, path) = (c2.conn(i).clone(), p2[i].clone());
        async move {
            let f = smb.open_rw(&path).await?;
            smb.close(f).await?;
            Ok(())
        }
    })
    .await
    .map_err(setup_err)?;
    Ok(paths)
}

async fn stat(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let paths = filled_dir(&ctx, "stat", ctx.cfg.files.max(1)).await?;
    let c2 = ctx.clone();
    let stats = ctx
        .phase("stat", move |rec, budget| async move {
            run_streams(c2.streams(), |s| {
                let (ctx, rec, budget, paths) =
                    (c2.clone(), rec.clone(), budget.clone(), paths.clone());
                async move {
                    let smb = ctx.conn(s).clone();
                    let mut rng = fastrand::Rng::with_seed(ctx.cfg.seed ^ ((s as u64) << 8));
                    while budget.take() {
                        let i = rng.usize(0..paths.len());
                        let t = Instant::now();
                        // One op = CREATE (attributes only) + CLOSE with POSTQUERY_ATTRIB.
                        rec.op(t, smb.stat(&paths[i]).await.map_err(OpError::from));
                    }
                }
            })
            .await;
        })
        .await;
    Ok(vec![stats])
}

async fn readdir(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let entries = ctx.cfg.dir_entries;
    filled_dir(&ctx, "readdir", entries).await?;
    let dir = ctx.path("readdir");
    let verify = ctx.cfg.verify;
    let c2 = ctx.clone();
    let stats = ctx
        .phase("readdir", move |rec, budget| async move {
            run_streams(c2.streams(), |s| {
                let (ctx, rec, budget, dir) =
                    (c2.clone(), rec.clone(), budget.clone(), dir.clone());
                async move {
                    let smb = ctx.conn(s).clone();
                    let f = match smb.open_dir(&dir).await {
                        Ok(f) => f,
                        Err(e) => return rec.error(&e.into()),
                    };
                    // One op = one QUERY_DIRECTORY call; a stream lists over and over
                    // (RESTART_SCANS after the end).
                    let (mut restart, mut seen) = (true, 0u64);
                    while budget.take() {
                        let t = Instant::now();
                        let r = smb.query_dir(f, restart).await.map_err(OpError::from);
                        let Some(got) = rec.op(t, r) else {
                            (restart, seen) = (true, 0);
                            continue;
                        };
                        match got {
                            Some(n) => {
                                rec.add_items(n);
                                seen += n;
                                restart = false;
                            }
                            None => {
                                if verify && seen != entries as u64 {
                                    rec.error(&OpError::DataMismatch);
                                }
                                (restart, seen) = (true, 0);
                            }
                        }
                    }
                    let _ = smb.close(f).await;
                }
            })
            .await;
        })
        .await;
    Ok(vec![stats])
}

async fn delete(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let n = ctx.cfg.ops.map(|n| n as usize).unwrap_or(ctx.cfg.files);
    let paths = filled_dir(&ctx, "delete", n).await?;
    let next = Rc::new(Cell::new(0usize));
    let c2 = ctx.clone();
    let stats = ctx
        .phase("delete", move |rec, budget| async move {
            run_streams(c2.streams(), |s| {
                let (ctx, rec, budget, paths, next) = (
                    c2.clone(),
                    rec.clone(),
                    budget.clone(),
                    paths.clone(),
                    next.clone(),
                );
                async move {
                    let smb = ctx.conn(s).clone();
                    loop {
                        let i = next.get();
                        if i >= paths.len() || !budget.take() {
                            return;
                        }
                        next.set(i + 1);
                        let t = Instant::now();
                        rec.op(t, smb.delete(&paths[i]).await.map_err(OpError::from));
                    }
                }
            })
            .await;
        })
        .await;
    Ok(vec![stats])
}
