//! Runs one workload: mount and make the run directory, start the executor threads
//! (each a glommio executor with its share of the connections), line them up at
//! phase barriers so preparation is never timed, and merge what they measured.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use dittofs::nfs::handle::WireHandle;
use glommio::{LocalExecutorBuilder, Placement};
use serde::Serialize;

use crate::config::{ConfigError, RunConfig};
use crate::nfs::{auth_sys, mount, Nfs, OpError};
use crate::stats::{PhaseReport, PhaseStats, Recorder};

/// Why a run could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("setup failed: {0}")]
    Setup(OpError),
    #[error("thread {thread} failed: {err}")]
    Thread { thread: usize, err: OpError },
    #[error("cannot start an executor: {0}")]
    Executor(String),
    #[error("another thread failed")]
    Aborted,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    pub target: String,
    pub workload: String,
    pub connections: usize,
    pub depth: usize,
    pub threads: usize,
    pub phases: Vec<PhaseReport>,
    /// Replies that matched no outstanding call.
    pub stray_replies: u64,
}

impl RunReport {
    /// Errors of every phase, plus stray replies.
    pub fn error_count(&self) -> u64 {
        self.phases.iter().map(|p| p.error_count).sum::<u64>() + self.stray_replies
    }
}

/// A reusable barrier that every waiter leaves with `Err` once it is broken.
pub struct PhaseBarrier {
    n: usize,
    state: Mutex<(usize, u64, bool)>,
    cv: Condvar,
}

impl PhaseBarrier {
    pub fn new(n: usize) -> PhaseBarrier {
        PhaseBarrier {
            n,
            state: Mutex::new((0, 0, false)),
            cv: Condvar::new(),
        }
    }

    /// Blocks until all `n` threads arrive. Nothing of ours is in flight at a barrier,
    /// so blocking the executor thread is harmless.
    pub fn wait(&self) -> Result<(), RunError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.2 {
            return Err(RunError::Aborted);
        }
        s.0 += 1;
        if s.0 == self.n {
            s.0 = 0;
            s.1 += 1;
            self.cv.notify_all();
            return Ok(());
        }
        let gen = s.1;
        while s.1 == gen && !s.2 {
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.2 {
            Err(RunError::Aborted)
        } else {
            Ok(())
        }
    }

    pub fn break_all(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.2 = true;
        self.cv.notify_all();
    }
}

/// When a timed phase stops: a deadline, or a shared count of ops left.
#[derive(Clone)]
pub struct Budget {
    deadline: Option<Instant>,
    ops_left: Option<Arc<AtomicI64>>,
}

impl Budget {
    /// A budget ending at `deadline` or when `ops_left` runs out (either optional).
    pub fn new(deadline: Option<Instant>, ops_left: Option<Arc<AtomicI64>>) -> Budget {
        Budget { deadline, ops_left }
    }

    /// Takes one op from the budget; `false` when the phase is over.
    pub fn take(&self) -> bool {
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return false;
            }
        }
        match &self.ops_left {
            Some(left) => left.fetch_sub(1, Ordering::Relaxed) > 0,
            None => true,
        }
    }
}

/// What one executor thread works with.
pub struct Ctx {
    pub cfg: RunConfig,
    pub thread: usize,
    pub threads: usize,
    /// This thread's connections.
    pub conns: Vec<Nfs>,
    /// The run's fresh directory under the export.
    pub dir: WireHandle,
    /// I/O sizes after clamping to the server's limits.
    pub seq_io_bytes: u32,
    pub rand_io_bytes: u32,
    barrier: Arc<PhaseBarrier>,
    progress: Arc<AtomicU64>,
    ops_left: Option<Arc<AtomicI64>>,
}

impl Ctx {
    /// Connection `i` (modulo the count).
    pub fn conn(&self, i: usize) -> &Nfs {
        &self.conns[i % self.conns.len()]
    }

    /// Parallel streams of this thread: connections × depth.
    pub fn streams(&self) -> usize {
        self.conns.len() * self.cfg.depth.max(1)
    }

    /// Waits for every thread (e.g. after thread 0 prepared shared files).
    pub fn sync(&self) -> Result<(), RunError> {
        self.barrier.wait()
    }

    /// Runs one timed phase after all threads reach it; `f` gets the recorder and budget.
    pub async fn phase<F, Fut>(
        &self,
        name: &str,
        bounded: bool,
        f: F,
    ) -> Result<PhaseStats, RunError>
    where
        F: FnOnce(Recorder, Budget) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.sync()?;
        let rec = Recorder::new(name, self.progress.clone());
        let start = Instant::now();
        let budget = if bounded {
            Budget {
                deadline: self.cfg.effective_duration().map(|d| start + d),
                ops_left: self.ops_left.clone(),
            }
        } else {
            Budget {
                deadline: None,
                ops_left: None,
            }
        };
        f(rec.clone(), budget).await;
        Ok(rec.finish(start.elapsed()))
    }
}

/// Runs `f(0..n)` on `workers` concurrent tasks; stops at the first error.
pub async fn par_for<F, Fut>(n: usize, workers: usize, f: F) -> Result<(), OpError>
where
    F: Fn(usize) -> Fut + 'static,
    Fut: Future<Output = Result<(), OpError>> + 'static,
{
    let f = Rc::new(f);
    let next = Rc::new(Cell::new(0usize));
    let failed: Rc<Cell<Option<OpError>>> = Rc::new(Cell::new(None));
    let tasks: Vec<_> = (0..workers.max(1).min(n.max(1)))
        .map(|_| {
            let (f, next, failed) = (f.clone(), next.clone(), failed.clone());
            glommio::spawn_local(async move {
                loop {
                    let i = next.get();
                    if i >= n {
                        return;
                    }
                    next.set(i + 1);
                    if let Err(e) = f(i).await {
                        next.set(n);
                        failed.set(Some(e));
                        return;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    match failed.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs `f(stream)` for `n` streams concurrently and waits for all.
pub async fn run_streams<F, Fut>(n: usize, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| glommio::spawn_local(f(i))).collect();
    for t in tasks {
        t.await;
    }
}

pub(crate) fn unique_name(cfg: &RunConfig) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "dittofs-perf-{}-{}-{}",
        cfg.workload.name(),
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

pub(crate) fn executor(name: String) -> LocalExecutorBuilder {
    LocalExecutorBuilder::new(Placement::Unbound).name(&name)
}

/// Runs the configured workload and returns the merged report.
pub fn run(cfg: &RunConfig) -> Result<RunReport, RunError> {
    if cfg.smb.is_some() {
        return crate::smb::run::run(cfg);
    }
    let nfs_addr = cfg.target.nfs_addr()?;
    let mount_addr = cfg.target.mount_addr()?;
    let cred = auth_sys(cfg.uid, cfg.gid);
    let run_name = unique_name(cfg);

    // Setup: mount, read the server's I/O limits, make the run directory.
    let (export, cred2, name2) = (cfg.target.export.clone(), cred.clone(), run_name.clone());
    let setup = executor("perf-setup".into())
        .spawn(move || async move {
            let root = mount(mount_addr, &export, cred2.clone()).await?;
            let nfs = Nfs::connect(nfs_addr, cred2).await?;
            let info = nfs.fsinfo(root).await?;
            let dir = nfs.mkdir(root, &name2).await?;
            Ok::<_, OpError>((dir, info.rtmax, info.wtmax))
        })
        .map_err(|e| RunError::Executor(e.to_string()))?
        .join()
        .map_err(|e| RunError::Executor(e.to_string()))?;
    let (dir, rtmax, wtmax) = setup.map_err(RunError::Setup)?;
    let io_max = rtmax.min(wtmax).max(4096);

    let connections = cfg.connections.max(1);
    let threads = cfg.threads.clamp(1, connections);
    let barrier = Arc::new(PhaseBarrier::new(threads));
    let progress = Arc::new(AtomicU64::new(0));
    let ops_left = cfg.ops.map(|n| Arc::new(AtomicI64::new(n as i64)));
    let stop = Arc::new(AtomicBool::new(false));
    let progress_thread = cfg
        .progress
        .then(|| spawn_progress(cfg.workload.name(), progress.clone(), stop.clone()));

    let mut handles = Vec::new();
    for t in 0..threads {
        let mut tcfg = cfg.clone();
        tcfg.connections = connections;
        let (tbarrier, progress, ops_left, cred) = (
            barrier.clone(),
            progress.clone(),
            ops_left.clone(),
            cred.clone(),
        );
        let my_conns = (0..connections).filter(|c| c % threads == t).count();
        let h = executor(format!("perf-t{t}")).spawn(move || async move {
            let b = tbarrier.clone();
            let result = thread_main(
                tcfg, t, threads, my_conns, nfs_addr, cred, dir, io_max, tbarrier, progress,
                ops_left,
            )
            .await;
            if result.is_err() {
                b.break_all();
            }
            result
        });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                barrier.break_all();
                return Err(RunError::Executor(e.to_string()));
            }
        }
    }
    let mut merged: Vec<PhaseStats> = Vec::new();
    let mut stray = 0;
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok((phases, s))) => {
                stray += s;
                for p in phases {
                    match merged.iter_mut().find(|m| m.name == p.name) {
                        Some(m) => m.merge(&p),
                        None => merged.push(p),
                    }
                }
            }
            Ok(Err(e)) => {
                if first_err.is_none() || !matches!(e, RunError::Aborted) {
                    first_err = Some(e);
                }
            }
            Err(e) => first_err = Some(RunError::Executor(e.to_string())),
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress_thread {
        let _ = p.join();
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(RunReport {
        target: cfg.target.url.clone(),
        workload: cfg.workload.name().to_string(),
        connections,
        depth: cfg.depth,
        threads,
        phases: merged.iter().map(PhaseStats::report).collect(),
        stray_replies: stray,
    })
}

#[allow(clippy::too_many_arguments)]
async fn thread_main(
    cfg: RunConfig,
    thread: usize,
    threads: usize,
    conns: usize,
    addr: std::net::SocketAddr,
    cred: dittofs::rpc::Auth,
    dir: WireHandle,
    io_max: u32,
    barrier: Arc<PhaseBarrier>,
    progress: Arc<AtomicU64>,
    ops_left: Option<Arc<AtomicI64>>,
) -> Result<(Vec<PhaseStats>, u64), RunError> {
    let mut nfs = Vec::new();
    for _ in 0..conns {
        nfs.push(
            Nfs::connect(addr, cred.clone())
                .await
                .map_err(|err| RunError::Thread { thread, err })?,
        );
    }
    let ctx = Rc::new(Ctx {
        seq_io_bytes: cfg.seq_io_bytes.min(io_max),
        rand_io_bytes: cfg.rand_io_bytes.min(io_max),
        cfg,
        thread,
        threads,
        conns: nfs,
        dir,
        barrier,
        progress,
        ops_left,
    });
    let phases = crate::workloads::run_thread(ctx.clone()).await?;
    let stray = ctx.conns.iter().map(|c| c.conn.stray_replies.get()).sum();
    Ok((phases, stray))
}

pub(crate) fn spawn_progress(
    name: &'static str,
    ops: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = 0;
        let mut tick = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if tick.elapsed() >= Duration::from_secs(1) {
                let now = ops.load(Ordering::Relaxed);
                let rate = (now - last) as f64 / tick.elapsed().as_secs_f64();
                eprint!("\r{name}: {now} ops, {rate:.0} ops/s        ");
                last = now;
                tick = Instant::now();
            }
        }
        if last > 0 {
            eprintln!();
        }
    })
}
