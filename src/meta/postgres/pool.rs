//! The blocking connection pool: `pool_size` dedicated threads, each owning one
//! PostgreSQL connection, fed jobs over a crossbeam channel.
//!
//! Data cores never block on PostgreSQL: a store call packs its work into a
//! closure, sends it here and awaits a oneshot answer. A job runs in its own
//! transaction; serialization failures and deadlocks (SQLSTATE 40001, 40P01)
//! roll back and re-run the whole closure with bounded, jittered backoff, so a
//! closure must be pure apart from its transaction.
//!
//! A lost database never panics and never loses a write silently: the call
//! answers `MetaError::Backend` (NFS3ERR_IO), the outage is logged once per
//! [`OUTAGE_LOG_INTERVAL`], a worker retries connecting at most every
//! [`RECONNECT_DELAY_MAX`] and logs when the database is back. A job is re-run
//! on a fresh connection only when its connection was found broken before the
//! transaction began (nothing was sent); a connection lost mid-transaction or
//! at COMMIT is reported, because whether it committed is unknown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use crate::meta::{MetaError, MetaFuture, MetaResult};

/// Attempts of one job on serialization failures before giving up.
pub const SERIALIZATION_ATTEMPTS_MAX: u32 = 64;
/// Jobs waiting for a worker before calls are refused.
pub const QUEUE_JOBS_MAX: usize = 16 * 1024;
/// At most one outage log line per this interval.
pub const OUTAGE_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Longest a worker waits between connection attempts while the database is down.
pub const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(1);

/// Error inside a job: a namespace answer (final) or a database error.
#[derive(Debug)]
pub enum TxError {
    Meta(MetaError),
    Db(postgres::Error),
}

impl From<MetaError> for TxError {
    fn from(e: MetaError) -> Self {
        TxError::Meta(e)
    }
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        TxError::Db(e)
    }
}

pub type TxResult<T> = Result<T, TxError>;

/// How a job's transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mutations: READ COMMITTED; every job locks the rows it depends on
    /// (`SELECT ... FOR UPDATE`) before reading them. Retried on deadlocks.
    Write,
    /// Reads: one REPEATABLE READ READ ONLY snapshot.
    Read,
}

/// Connection settings of every worker.
#[derive(Clone)]
pub struct ConnectSettings {
    pub config: postgres::Config,
    pub statement_timeout_ms: u64,
}

impl ConnectSettings {
    pub fn connect(&self) -> Result<Client, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!(
            "SET statement_timeout = {}",
            self.statement_timeout_ms
        ))?;
        Ok(client)
    }
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// Shared outage state (for rate-limited logging).
#[derive(Default)]
struct Health {
    down: AtomicBool,
    last_log_ms: AtomicU64,
    epoch: Option<Instant>,
}

impl Health {
    fn since_epoch_ms(&self) -> u64 {
        self.epoch
            .map(|e| u64::try_from(e.elapsed().as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn report_down(&self, what: &str) {
        let now = self.since_epoch_ms().saturating_add(1);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        let was_down = self.down.swap(true, Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= OUTAGE_LOG_INTERVAL.as_millis() as u64;
        if (!was_down || due)
            && self
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::error!("postgres metadata store unavailable: {what} (calls fail with I/O errors until it is back)");
        }
    }

    fn report_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            log::warn!("postgres metadata store reachable again");
        }
    }
}

/// One worker thread's state.
pub struct Worker {
    conn: Conn,
    /// The connection failed outside a transaction: replace it before the next use.
    broken: bool,
}

/// Serialization failures, deadlocks, a unique key taken by a racing
/// transaction (two first `share_root`s) and [`busy`]: the job is re-run.
fn is_retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::LOCK_NOT_AVAILABLE
    )
}

/// The connection is gone: no SQLSTATE (I/O), a connection exception (08xxx)
/// or an operator intervention such as a server shutdown (57P0x).
fn is_connection_loss(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(c) => c.code().starts_with("08") || c.code().starts_with("57P0"),
    }
}

fn backend(e: &postgres::Error) -> MetaError {
    match e.as_db_error() {
        Some(db) => {
            MetaError::Backend(format!("postgres: {} ({})", db.message(), db.code().code()))
        }
        None => MetaError::Backend(format!("postgres: {e}")),
    }
}

/// Connection state of one worker (apart from the job loop, so a broken
/// connection can be marked while a transaction borrows the client).
struct Conn {
    settings: ConnectSettings,
    client: Option<Client>,
    next_connect: Instant,
    delay: Duration,
    health: Arc<Health>,
}

impl Conn {
    fn client(&mut self, broken: bool) -> MetaResult<&mut Client> {
        if broken || self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            let now = Instant::now();
            if now < self.next_connect {
                return Err(MetaError::Backend("postgres: database unavailable".into()));
            }
            match self.settings.connect() {
                Ok(c) => {
                    self.client = Some(c);
                    self.delay = Duration::from_millis(50);
                    self.health.report_up();
                }
                Err(e) => {
                    self.health.report_down(&e.to_string());
                    self.next_connect = now + self.delay;
                    self.delay = (self.delay * 2).min(RECONNECT_DELAY_MAX);
                    return Err(backend(&e));
                }
            }
        }
        self.client
            .as_mut()
            .ok_or_else(|| MetaError::Backend("postgres: no connection".into()))
    }
}

impl Worker {
    /// Runs `f` in a transaction of `mode`, retrying serialization failures.
    pub fn run<T>(
        &mut self,
        mode: Mode,
        f: &mut dyn FnMut(&mut Transaction<'_>) -> TxResult<T>,
    ) -> MetaResult<T> {
        let mut attempt = 0u32;
        let mut fresh_connection_tried = false;
        loop {
            attempt += 1;
            let broken = std::mem::take(&mut self.broken);
            let health = self.conn.health.clone();
            let client = self.conn.client(broken)?;
            let builder = match mode {
                Mode::Write => client
                    .build_transaction()
                    .isolation_level(IsolationLevel::ReadCommitted),
                Mode::Read => client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true),
            };
            let mut tx = match builder.start() {
                Ok(tx) => tx,
                Err(e) if is_connection_loss(&e) => {
                    // The connection broke before anything was sent: reconnect once.
                    self.broken = true;
                    health.report_down(&e.to_string());
                    if fresh_connection_tried {
                        return Err(backend(&e));
                    }
                    fresh_connection_tried = true;
                    continue;
                }
                Err(e) => return Err(backend(&e)),
            };
            let outcome = f(&mut tx).and_then(|v| {
                tx.commit()?;
                Ok(v)
            });
            match outcome {
                Ok(v) => return Ok(v),
                Err(TxError::Meta(e)) => return Err(e),
                Err(TxError::Db(e)) if is_retryable(&e) && attempt < SERIALIZATION_ATTEMPTS_MAX => {
                    std::thread::sleep(backoff(attempt));
                }
                Err(TxError::Db(e)) => {
                    if is_connection_loss(&e) {
                        self.broken = true;
                        health.report_down(&e.to_string());
                    }
                    return Err(backend(&e));
                }
            }
        }
    }
}

/// Exponential backoff with jitter: ~0.2 ms doubling, at most ~20 ms.
fn backoff(attempt: u32) -> Duration {
    static SEED: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
    let mut x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    let base_us = 200u64 << attempt.min(8);
    let us = base_us.min(20_000);
    Duration::from_micros(us / 2 + x % (us / 2 + 1))
}

/// Handle of the worker threads; dropping it ends them once their queue drained.
pub struct Pool {
    tx: crossbeam_channel::Sender<Job>,
}

impl Pool {
    /// Starts `size` worker threads. Connections are opened lazily.
    pub fn start(settings: ConnectSettings, size: usize) -> std::io::Result<Pool> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE_JOBS_MAX);
        let health = Arc::new(Health {
            epoch: Some(Instant::now()),
            ..Health::default()
        });
        for i in 0..size.max(1) {
            let rx = rx.clone();
            let mut worker = Worker {
                conn: Conn {
                    settings: settings.clone(),
                    client: None,
                    next_connect: Instant::now(),
                    delay: Duration::from_millis(50),
                    health: health.clone(),
                },
                broken: false,
            };
            std::thread::Builder::new()
                .name(format!("pg-meta-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job(&mut worker);
                    }
                })?;
        }
        Ok(Pool { tx })
    }

    /// Runs `f` on a worker in a transaction of `mode`; the future answers when it is done.
    pub fn run<T, F>(&self, mode: Mode, mut f: F) -> MetaFuture<'static, T>
    where
        T: Send + 'static,
        F: FnMut(&mut Transaction<'_>) -> TxResult<T> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move |w: &mut Worker| {
            let _ = answer.send(w.run(mode, &mut f));
        });
        let sent = self.tx.try_send(job);
        Box::pin(async move {
            match sent {
                Ok(()) => result.await.unwrap_or_else(|_| {
                    Err(MetaError::Backend("postgres worker went away".into()))
                }),
                Err(crossbeam_channel::TrySendError::Full(_)) => {
                    Err(MetaError::Backend("postgres metadata queue is full".into()))
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                    Err(MetaError::Backend("postgres pool stopped".into()))
                }
            }
        })
    }
}
