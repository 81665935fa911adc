//! Thread-per-core runtime: one pinned glommio executor per core.
//!
//! Every executor binds its own SO_REUSEPORT listener on the NFS port, so the
//! kernel spreads connections over the cores and a connection lives on one core
//! for its whole life. Namespace operations run inline on that core against the
//! shared metadata store; content operations go to the file's owner shard
//! through the core's [`Router`], over the glommio channel mesh when the owner is
//! another core. SIGTERM/SIGINT stop the listeners, let every connection finish
//! the requests it has read, and end the process with status 0.

mod block_index;
pub(crate) mod conn;
mod faults;
pub mod notify;
mod observe;
mod orphans;
pub mod ratelimit;
pub mod reload;
mod service;
pub(crate) mod shutdown;
mod stores;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use dittofs_shards::{
    shard_mesh, BlockIndex, BlockStore, Router, Shard, ShardMesh, ShardOptions, Uploader,
    WalOptions,
};
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use crate::config::{Config, ShareConfig, WalConfig};
use crate::fs::{Fs, InodeId, ShareInfo};
use crate::meta::MetadataStore;
use crate::nfs::{Export, NfsContext};

pub use reload::ReloadSource;
pub use shutdown::Shutdown;

/// Requests buffered between each pair of cores in the shard mesh.
const MESH_QUEUE_LEN: usize = 256;
/// io_uring buffer memory per executor; the data path does not use registered
/// buffers yet, so this stays small and fits the default RLIMIT_MEMLOCK.
const EXECUTOR_IO_MEMORY_BYTES: usize = 512 << 10;
/// Threads doing block store calls (uploads, read-backs, deletes) for all
/// shards: bounds the parallel uploads of the process.
const UPLOAD_THREADS: usize = 16;
/// How long start-up (WAL recovery included) may take before the process gives up.
const START_TIMEOUT_S: u64 = 300;
/// How long shutdown waits for connections to finish their requests.
const DRAIN_TIMEOUT_MS: u64 = 10_000;
/// How long a clean stop tries to seal dirty blocks into the block store
/// before it leaves them in the (synced) WAL for the next start.
const STOP_SEAL_TIMEOUT_MS: u64 = 5_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{addr} is already in use (another dittofs or NFS server?); pick another port with --nfs-port or [adapters.nfs] port")]
    PortInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metadata store {store:?}: {message}")]
    MetadataStore { store: String, message: String },
    #[error("block store {store:?}: {message}")]
    BlockStore { store: String, message: String },
    #[error("cannot create data directory {}: {source} (set data_dir or --data-dir)", path.display())]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot start executor for core {core}: {message}")]
    Executor { core: usize, message: String },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    Http(#[from] crate::api::ApiError),
}

/// A share with the stores it lives in, ready to be served by every core.
#[derive(Clone)]
struct ShareSetup {
    info: ShareInfo,
    config: ShareConfig,
    meta: Arc<dyn MetadataStore>,
    blocks: Arc<dyn BlockStore>,
    root: InodeId,
}

/// What every core needs to start.
#[derive(Clone)]
struct CoreSetup {
    shares: Vec<ShareSetup>,
    mesh: ShardMesh,
    nfs_addr: SocketAddr,
    nfs_enabled: bool,
    /// SMB listener address when `[adapters.smb]` is enabled.
    smb_addr: Option<SocketAddr>,
    /// Server GUID every core's SMB adapter announces.
    smb_server_guid: [u8; 16],
    /// `[adapters.smb] admin_users`.
    smb_admin_users: Vec<String>,
    block_bytes: u64,
    flush_delay_ms: u64,
    /// Budget, read-ahead and remote-durability shares of every shard.
    shard_options: ShardOptions,
    record_bytes_max: usize,
    requests_in_flight_max: usize,
    write_verifier: [u8; 8],
    shutdown: Shutdown,
    drained_cores: Arc<AtomicUsize>,
    cores: usize,
    /// Threads doing the blocking block store calls of every shard.
    uploader: Arc<Uploader>,
    /// `<data_dir>/wal` and the WAL settings; `None` without a data_dir (no WAL).
    wal: Option<(PathBuf, WalConfig)>,
    /// Test-only WAL faults (`DITTOFS_TEST_WAL_FAULTS`, see faults.rs).
    wal_faults: Option<dittofs_shards::wal::faulty::FaultPlan>,
    /// Rate limits, replaced on reload; each core keeps its own buckets.
    rate_limits: Arc<ratelimit::LiveLimits>,
    /// Per-core heartbeats and their period, when the systemd watchdog is on.
    heartbeats: Option<(notify::Heartbeats, Duration)>,
    /// Where users and groups live (share permissions of AUTH_SYS callers).
    identity_store: Arc<dyn MetadataStore>,
    /// Share access policies (default permission, read_only, allowed_clients),
    /// replaced on reload.
    access: Arc<crate::identity::LiveAccess>,
    /// `[identity] guest`.
    guest: crate::config::GuestPolicy,
    /// Start-up orphan collection across cores (see orphans.rs).
    orphans: Arc<orphans::Tally>,
}

/// Runs the server until SIGTERM or SIGINT; returns once every core has drained.
/// SIGHUP does nothing here (no file to re-read): see [`run_with_reload`].
pub fn run(config: &Config) -> Result<(), StartError> {
    run_with_reload(
        config,
        ReloadSource {
            path: None,
            overrides: crate::config::Overrides::default(),
        },
    )
}

/// [`run`], re-reading `reload` on SIGHUP and talking to systemd when
/// `$NOTIFY_SOCKET` is set (READY=1 once every core recovered its WAL and
/// bound its listener, STOPPING=1, WATCHDOG=1 while the cores are alive).
pub fn run_with_reload(config: &Config, reload: ReloadSource) -> Result<(), StartError> {
    crate::fs::leases::set_wait_bounds(
        config.adapters.smb.lease_break_wait_ms,
        config.adapters.smb.nfs_lease_break_wait_ms,
    );
    if !config.adapters.nfs.enabled && !config.adapters.smb.enabled {
        return Err(StartError::Unsupported(
            "no protocol adapter is enabled ([adapters.nfs] and [adapters.smb] are off)".into(),
        ));
    }
    let cores = config.effective_cores();
    raise_memlock_limit();

    let (mut shares, identity_store) = stores::build_shares(config)?;
    let remote_shares = shares
        .iter()
        .filter(|s| s.config.durability == crate::config::Durability::Remote)
        .map(|s| s.info.id)
        .collect();
    let nfs_addr = SocketAddr::new(config.listen, config.adapters.nfs.port);
    if config.adapters.nfs.enabled {
        probe_port(nfs_addr)?;
    }
    let smb_addr = config
        .adapters
        .smb
        .enabled
        .then(|| SocketAddr::new(config.listen, config.adapters.smb.port));
    if let Some(addr) = smb_addr {
        probe_port(addr)?;
    }
    let shutdown = Shutdown::install().map_err(StartError::Signals)?;
    let uploader = Uploader::start(UPLOAD_THREADS).map_err(|e| StartError::Executor {
        core: 0,
        message: format!("cannot start the uploader threads: {e}"),
    })?;
    let admin: Arc<dyn crate::api::AdminOps> = Arc::new(crate::api::IdentityOps::new(Arc::new(
        crate::identity::Admin::new(identity_store.clone(), config),
    )));
    let share_admin = Arc::new(crate::shares::ShareAdmin::new(
        reload.path.clone(),
        config.clone(),
    ));
    let readiness = observe::start(
        config,
        cores,
        &mut shares,
        &uploader,
        admin,
        share_admin.clone(),
    )?;
    // Registered before any core starts: SIGHUP's default action ends the process.
    let hangup = Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())
        .map_err(StartError::Signals)?;
    let notifier = Arc::new(notify::Notifier::from_env());
    let watchdog = notify::watchdog_interval().map(|interval| service::Watchdog {
        interval,
        heartbeats: notify::Heartbeats::new(cores),
    });
    let rate_limits = ratelimit::LiveLimits::new(ratelimit::Settings::from_config(config));
    let access = crate::identity::LiveAccess::new(&config.shares);

    let setup = CoreSetup {
        shares,
        mesh: shard_mesh(cores, MESH_QUEUE_LEN),
        nfs_addr,
        nfs_enabled: config.adapters.nfs.enabled,
        smb_addr,
        smb_server_guid: crate::smb::random_bytes(),
        smb_admin_users: config.adapters.smb.admin_users.clone(),
        block_bytes: config.cache.block_bytes,
        flush_delay_ms: config.cache.flush_delay_ms,
        shard_options: ShardOptions {
            shard_bytes_max: config.cache.shard_bytes_max,
            read_ahead_blocks: config.cache.read_ahead_blocks,
            remote_shares,
        },
        record_bytes_max: config.adapters.nfs.record_bytes_max as usize,
        requests_in_flight_max: config.adapters.nfs.requests_in_flight_max as usize,
        write_verifier: write_verifier(),
        shutdown: shutdown.clone(),
        drained_cores: Arc::new(AtomicUsize::new(0)),
        cores,
        uploader,
        wal: config
            .data_dir
            .as_ref()
            .map(|dir| (dir.join("wal"), config.wal.clone())),
        wal_faults: faults::wal_plan()?,
        rate_limits: rate_limits.clone(),
        heartbeats: watchdog
            .as_ref()
            .map(|w| (w.heartbeats.clone(), service::heartbeat_period(w.interval))),
        identity_store,
        access: access.clone(),
        guest: config.identity.guest,
        orphans: orphans::Tally::new(cores),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), StartError>>();
    let mut executors = Vec::with_capacity(cores);
    for core in 0..cores {
        let setup = setup.clone();
        let ready_tx = ready_tx.clone();
        let placement = Placement::Fixed(core % cpus);
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("dittofs-core-{core}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move { core_main(core, setup, ready_tx).await })
            .map_err(|e| StartError::Executor {
                core,
                message: e.to_string(),
            })?;
        executors.push(handle);
    }
    drop(ready_tx);

    let mut first_error = None;
    let start_deadline = std::time::Instant::now() + Duration::from_secs(START_TIMEOUT_S);
    for _ in 0..cores {
        let left = start_deadline.saturating_duration_since(std::time::Instant::now());
        match ready_rx.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // A core stuck in a syscall cannot be joined; say where and leave.
                // Seen once: glommio's polled-I/O probe of an O_DIRECT WAL segment that
                // never completes (Debian 6.1 kernel, virtio disk under QEMU TCG).
                log::error!(
                    "the cores were not ready {START_TIMEOUT_S} s after start (stuck opening \
                     or recovering the WAL under {}?); exiting",
                    config
                        .data_dir
                        .as_ref()
                        .map_or("<no data_dir>".into(), |d| d.display().to_string())
                );
                eprintln!("error: start-up did not finish within {START_TIMEOUT_S} s; see the log");
                std::process::exit(1);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                first_error.get_or_insert(StartError::Executor {
                    core: 0,
                    message: "executor exited during start".into(),
                });
                break;
            }
        }
    }
    let mut service_thread = None;
    if first_error.is_some() {
        shutdown.trigger();
    } else {
        announce(config, cores);
        readiness.set(true);
        notifier.send(&format!(
            "READY=1\nSTATUS=serving NFSv3 on {nfs_addr} with {cores} core(s)\nMAINPID={}",
            std::process::id()
        ));
        let reloader = Arc::new(std::sync::Mutex::new(
            reload::Reloader::new(reload, config.clone(), rate_limits).with_access(access),
        ));
        // The API's share updates apply through the same reload as SIGHUP.
        share_admin.set_reloader(reloader.clone());
        match service::spawn(
            notifier.clone(),
            shutdown.clone(),
            hangup,
            reloader,
            watchdog,
        ) {
            Ok(handle) => service_thread = Some(handle),
            Err(e) => log::error!("cannot start the service thread (reload, watchdog): {e}"),
        }
    }
    let stopping = {
        let (shutdown, readiness) = (shutdown.clone(), readiness.clone());
        std::thread::Builder::new()
            .name("dittofs-readiness".into())
            .spawn(move || {
                // /ready turns 503 as soon as shutdown starts (load balancers
                // stop sending new clients while connections drain).
                while !shutdown.is_triggered() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                readiness.set(false);
            })
    };
    drop(stopping);
    for handle in executors {
        if handle.join().is_err() {
            log::error!("an executor panicked");
        }
    }
    if let Some(handle) = service_thread {
        // It ends as soon as it sees the shutdown flag (executors only end after it).
        shutdown.trigger();
        let _ = handle.join();
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            log::info!("shutdown complete");
            Ok(())
        }
    }
}

/// One core: join the shard mesh, bind, serve until shutdown, drain.
async fn core_main(core: usize, setup: CoreSetup, ready: mpsc::Sender<Result<(), StartError>>) {
    if let Some(plan) = &setup.wal_faults {
        dittofs_shards::wal::storage::set_thread_default(Some(faults::wal_storage(plan)));
    }
    crate::metrics::bind_core(core);
    let shard = match open_shard(core, &setup).await {
        Ok(shard) => shard,
        Err(message) => {
            let _ = ready.send(Err(StartError::Executor { core, message }));
            // The other cores wait in the mesh for every core: join it with an
            // empty shard so they can start and then see the shutdown.
            if let Ok(router) = Router::join_mesh(
                setup.mesh.clone(),
                Shard::new(Vec::new(), setup.block_bytes),
            )
            .await
            {
                router.close();
            }
            return;
        }
    };
    let router = match Router::join_mesh(setup.mesh.clone(), shard).await {
        Ok(router) => {
            router
                .shard()
                .start_idle_sealer(Duration::from_millis(setup.flush_delay_ms));
            router.shard().start_sweeper(core, setup.cores);
            Rc::new(router)
        }
        Err(e) => {
            let _ = ready.send(Err(StartError::Executor {
                core,
                message: e.to_string(),
            }));
            return;
        }
    };
    let exports: Vec<Export> = setup
        .shares
        .iter()
        .map(|s| Export {
            fs: Rc::new({
                let fs = Fs::new(s.info.clone(), s.meta.clone(), router.clone(), s.root);
                match setup.access.read_only_flag(s.info.id as usize) {
                    Some(flag) => fs.with_read_only_flag(flag),
                    None => fs,
                }
            }),
            config: s.config.clone(),
        })
        .collect();
    {
        let stores: Vec<_> = setup.shares.iter().map(|s| &s.meta).collect();
        orphans::collect(core, &exports, &stores, &setup.orphans, &setup.shutdown).await;
    }
    let smb_ctx = smb_context(&setup, &exports);
    let ctx = Rc::new(
        NfsContext::new(exports, setup.nfs_addr.port(), setup.write_verifier)
            .with_identity(crate::identity::PermissionCache::new(
                setup.identity_store.clone(),
            ))
            .with_live_access(setup.access.clone()),
    );
    let local_shutdown = setup.shutdown.local_signal();
    if let Some((heartbeats, period)) = setup.heartbeats.clone() {
        glommio::spawn_local(async move {
            loop {
                heartbeats.beat(core);
                glommio::timer::sleep(period).await;
            }
        })
        .detach();
    }
    let limiter = Rc::new(ratelimit::CoreLimiter::new(core, setup.rate_limits.clone()));

    let mut smb_task = None;
    let mut smb_failed = false;
    if let Some(addr) = setup.smb_addr {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                smb_task = Some(glommio::spawn_local(crate::smb::conn::accept_loop(
                    core,
                    listener,
                    Rc::new(smb_ctx.with_limiter(limiter.clone())),
                    local_shutdown.clone(),
                )));
            }
            Err(e) => {
                smb_failed = true;
                let _ = ready.send(Err(StartError::Listen {
                    addr,
                    source: std::io::Error::other(e.to_string()),
                }));
            }
        }
    }
    if smb_failed {
        // Start-up failed; the main thread triggers the shutdown.
    } else if !setup.nfs_enabled {
        let _ = ready.send(Ok(()));
        drop(ready);
    } else {
        match TcpListener::bind(setup.nfs_addr) {
            Ok(listener) => {
                let _ = ready.send(Ok(()));
                drop(ready);
                let limits = conn::Limits {
                    record_bytes_max: setup.record_bytes_max,
                    requests_in_flight_max: setup.requests_in_flight_max,
                };
                conn::accept_loop(core, listener, ctx, limits, limiter, local_shutdown.clone())
                    .await;
            }
            Err(e) => {
                let source = std::io::Error::other(e.to_string());
                let _ = ready.send(Err(StartError::Listen {
                    addr: setup.nfs_addr,
                    source,
                }));
            }
        }
    }
    if let Some(task) = smb_task {
        task.await;
    }
    // Other cores may still forward content requests to this shard while they
    // drain, so the mesh stays up until every core is done.
    setup.drained_cores.fetch_add(1, Ordering::SeqCst);
    while setup.drained_cores.load(Ordering::SeqCst) < setup.cores {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    stop_shard(core, router.shard()).await;
    router.close();
    log::debug!("core {core} stopped");
}

/// The SMB adapter's view of this core's shares (same fs cores as NFS).
fn smb_context(setup: &CoreSetup, exports: &[Export]) -> crate::smb::SmbContext {
    let shares = exports
        .iter()
        .map(|e| crate::smb::SmbShare {
            fs: e.fs.clone(),
            name: e.config.name.trim_start_matches('/').to_owned(),
            default_permission: e.config.default_permission,
        })
        .collect();
    // Users live in the identity store ([identity] metadata_store); the share
    // stores follow for users put there directly.
    let mut stores: Vec<Arc<dyn MetadataStore>> = vec![setup.identity_store.clone()];
    for s in &setup.shares {
        if !stores.iter().any(|m| Arc::ptr_eq(m, &s.meta)) {
            stores.push(s.meta.clone());
        }
    }
    let mut ctx = crate::smb::SmbContext::new(
        shares,
        Box::new(crate::smb::auth::MetaUsers::new(stores)),
        setup.smb_server_guid,
    )
    .with_identity(crate::identity::PermissionCache::new(
        setup.identity_store.clone(),
    ))
    .with_access(crate::smb::access::AccessPolicy {
        identity: crate::identity::PermissionCache::new(setup.identity_store.clone()),
        live: setup.access.clone(),
        guest: setup.guest,
    });
    ctx.admin_users = setup.smb_admin_users.clone();
    ctx
}

/// Clean stop of this core's shard: WAL synced, dirty blocks sealed, WAL
/// checkpointed (see `Shard::stop_cleanly`), so the next start replays nothing.
/// Bounded: a block store that hangs inside a seal cannot hold the process.
async fn stop_shard(core: usize, shard: &Rc<Shard>) {
    let wait = Duration::from_millis(STOP_SEAL_TIMEOUT_MS);
    let stop = async { Some(shard.stop_cleanly(wait).await) };
    let limit = async {
        glommio::timer::sleep(wait * 2).await;
        None
    };
    match futures_lite::future::or(stop, limit).await {
        Some(Ok(true)) => log::debug!("core {core}: content sealed and WAL checkpointed"),
        Some(Ok(false)) => log::warn!(
            "core {core}: some blocks could not be sealed at stop; they stay in the WAL and are replayed at the next start"
        ),
        Some(Err(e)) => log::error!("core {core}: clean stop of the shard failed: {e}"),
        None => log::warn!(
            "core {core}: sealing at stop did not finish in {} ms (block store hanging?); the WAL was synced and is replayed at the next start",
            2 * STOP_SEAL_TIMEOUT_MS
        ),
    }
}

/// This core's shard. With a data_dir it has a WAL in `<data_dir>/wal/core-<N>`,
/// recovered here, before any listener accepts. Logs of cores that no longer
/// exist (`cores` was lowered) are recovered by the core `N % cores` and
/// left empty: recovery seals everything it replays into the block store.
async fn open_shard(core: usize, setup: &CoreSetup) -> Result<Shard, String> {
    let block_stores: Vec<(u32, Arc<dyn BlockStore>)> = setup
        .shares
        .iter()
        .map(|s| (s.info.id, s.blocks.clone()))
        .collect();
    let index: Rc<dyn BlockIndex> = Rc::new(block_index::MetaBlockIndex {
        shares: setup
            .shares
            .iter()
            .map(|s| (s.info.id, s.meta.clone()))
            .collect(),
    });
    let Some((wal_dir, wal)) = &setup.wal else {
        let shard = Shard::with_index(
            block_stores,
            setup.block_bytes,
            Some(setup.uploader.clone()),
            index,
        );
        shard
            .configure(&setup.shard_options)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(shard);
    };
    let options = |n: usize| WalOptions {
        dir: wal_dir.join(format!("core-{n}")),
        shard: n as u32,
        segment_bytes: wal.segment_bytes,
        segments: wal.segments_per_core,
        group_commit_window_us: wal.group_commit_window_us,
    };
    let mut orphan = core + setup.cores;
    while wal_dir.join(format!("core-{orphan}")).exists() {
        let opts = options(orphan);
        let (_, report) = Shard::open(
            block_stores.clone(),
            setup.block_bytes,
            opts,
            index.clone(),
            Some(setup.uploader.clone()),
        )
        .await
        .map_err(|e| format!("recovering WAL core-{orphan}: {e}"))?;
        log::info!("core {core}: recovered WAL of former core {orphan}: {report:?}");
        orphan += setup.cores;
    }
    let (shard, report) = Shard::open(
        block_stores,
        setup.block_bytes,
        options(core),
        index,
        Some(setup.uploader.clone()),
    )
    .await
    .map_err(|e| format!("opening WAL: {e}"))?;
    shard
        .configure(&setup.shard_options)
        .await
        .map_err(|e| e.to_string())?;
    log::info!("core {core}: WAL recovery: {report:?}");
    Ok(shard)
}

/// Fails early and clearly when another process holds the port: SO_REUSEPORT
/// would otherwise let two servers share it silently.
fn probe_port(addr: SocketAddr) -> Result<(), StartError> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(StartError::PortInUse { addr }),
        Err(source) => Err(StartError::Listen { addr, source }),
    }
}

/// The NFS write verifier: new at every start, so clients resend uncommitted data.
fn write_verifier() -> [u8; 8] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 40)).to_be_bytes()
}

/// Lets io_uring lock what it needs when we may (root); harmless otherwise.
fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct we pass by reference.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
    if rc != 0 {
        log::debug!(
            "RLIMIT_MEMLOCK stays as it is: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Tells the operator where the server is and how to mount it.
fn announce(config: &Config, cores: usize) {
    let port = config.adapters.nfs.port;
    let host = match config.listen {
        IpAddr::V4(ip) if ip.is_unspecified() => "SERVER".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "SERVER".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    if config.adapters.smb.enabled {
        let smb_port = config.adapters.smb.port;
        log::info!("serving SMB2/3 on {}:{smb_port}", config.listen);
        for share in &config.shares {
            println!(
                "dittofs: SMB share {name}; connect with:\n  smbclient //{host}/{name} -p {smb_port} -U USER",
                name = share.name.trim_start_matches('/')
            );
        }
        if !config.adapters.nfs.enabled {
            return;
        }
    }
    log::info!(
        "serving NFSv3 + MOUNT on {}:{port} with {cores} core(s)",
        config.listen
    );
    for share in &config.shares {
        println!(
            "dittofs: serving {name}; mount it with:\n  mount -t nfs -o vers=3,proto=tcp,port={port},mountport={port},nolock {host}:{name} /mnt",
            name = share.name
        );
    }
}
