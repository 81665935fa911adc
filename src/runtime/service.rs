//! The service thread: what the process does for its supervisor (systemd)
//! while the cores serve.
//!
//! Started once every core is ready; it reports `STOPPING=1` when shutdown
//! begins, re-reads the configuration on SIGHUP, and pings the systemd
//! watchdog only while every core's heartbeat moves. It runs on its own plain
//! thread, polling flags that signal handlers set, so no data core ever does
//! this work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::notify::{Heartbeats, Notifier};
use super::reload::Reloader;
use super::Shutdown;

/// How often the thread looks at the signal flags.
const TICK_MS: u64 = 100;

/// The watchdog: ping interval and the per-core counters it checks.
pub struct Watchdog {
    pub interval: Duration,
    pub heartbeats: Heartbeats,
}

/// Starts the service thread; it ends when shutdown begins.
pub fn spawn(
    notifier: Arc<Notifier>,
    shutdown: Shutdown,
    hangup: Arc<AtomicBool>,
    reloader: Arc<std::sync::Mutex<Reloader>>,
    watchdog: Option<Watchdog>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dittofs-service".into())
        .spawn(move || {
            let mut last_ping = Instant::now();
            let mut seen = watchdog.as_ref().map(|w| w.heartbeats.snapshot());
            let tick = watchdog
                .as_ref()
                .map_or(Duration::from_millis(TICK_MS), |w| {
                    (w.interval / 2).clamp(Duration::from_millis(1), Duration::from_millis(TICK_MS))
                });
            loop {
                if shutdown.is_triggered() {
                    notifier.send("STOPPING=1\nSTATUS=draining connections and flushing");
                    log::info!("shutting down: draining connections");
                    return;
                }
                if hangup.swap(false, Ordering::SeqCst) {
                    notifier.send("RELOADING=1");
                    let result = reloader.lock().unwrap_or_else(|e| e.into_inner()).reload();
                    let status = match result {
                        Ok(_) => "STATUS=configuration reloaded",
                        Err(_) => "STATUS=reload failed; see the log",
                    };
                    notifier.send(&format!("READY=1\n{status}"));
                }
                if let (Some(w), Some(before)) = (&watchdog, &mut seen) {
                    if last_ping.elapsed() >= w.interval {
                        last_ping = Instant::now();
                        let stalled = w.heartbeats.stalled_since(before);
                        if stalled.is_empty() {
                            notifier.send("WATCHDOG=1");
                        } else {
                            log::error!(
                                "core(s) {stalled:?} made no progress for {} ms; not pinging \
                                 the systemd watchdog",
                                w.interval.as_millis()
                            );
                        }
                        *before = w.heartbeats.snapshot();
                    }
                }
                std::thread::sleep(tick);
            }
        })
}

/// How often a core bumps its heartbeat: well inside the ping interval.
pub fn heartbeat_period(ping_interval: Duration) -> Duration {
    (ping_interval / 4).clamp(Duration::from_millis(10), Duration::from_millis(250))
}
