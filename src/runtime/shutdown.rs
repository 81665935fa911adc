//! SIGTERM / SIGINT handling.
//!
//! A signal sets one process-wide flag. Each core turns the flag into a local
//! broadcast: a closed glommio semaphore wakes every task waiting on it at once,
//! so connections do not each poll the flag.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glommio::sync::Semaphore;

/// How often each core looks at the process-wide flag.
const POLL_INTERVAL_MS: u64 = 50;

/// The process-wide shutdown flag.
#[derive(Clone)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
}

impl Shutdown {
    /// Installs SIGTERM and SIGINT handlers that set the flag.
    pub fn install() -> std::io::Result<Shutdown> {
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGTERM, flag.clone())?;
        signal_hook::flag::register(signal_hook::consts::SIGINT, flag.clone())?;
        Ok(Shutdown { flag })
    }

    /// Starts shutdown as if a signal had arrived.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A signal for this core's tasks; must be called inside the core's executor.
    pub fn local_signal(&self) -> LocalShutdown {
        let gate = Rc::new(Semaphore::new(0));
        let this = self.clone();
        let closer = gate.clone();
        glommio::spawn_local(async move {
            while !this.is_triggered() {
                glommio::timer::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
            }
            closer.close();
        })
        .detach();
        LocalShutdown { gate }
    }
}

/// This core's view of shutdown.
#[derive(Clone)]
pub struct LocalShutdown {
    gate: Rc<Semaphore>,
}

impl LocalShutdown {
    /// Resolves once shutdown has begun.
    pub async fn wait(&self) {
        // The semaphore never gets a permit: acquire returns only when it is closed.
        let _ = self.gate.acquire(1).await;
    }
}
