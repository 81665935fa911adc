//! systemd's notification protocol (`sd_notify`), written out instead of
//! linking libsystemd: one datagram of `KEY=VALUE` lines sent to the unix
//! socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace).
//!
//! The runtime sends `READY=1` once every core has recovered its WAL and bound
//! its listener, `STOPPING=1` when shutdown begins, and `WATCHDOG=1` at half of
//! `$WATCHDOG_USEC` — but only while every core's [`Heartbeats`] counter keeps
//! moving, so a wedged executor makes systemd restart the service instead of
//! a timer thread vouching for it blindly. Without `$NOTIFY_SOCKET` (not run by
//! systemd, or `Type=simple`) every call is a no-op.

use std::io;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where notifications go; `None` inside when `$NOTIFY_SOCKET` is unset.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, UnixAddr)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a malformed value is logged and ignored.
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else {
            return Notifier { target: None };
        };
        match Notifier::connect(&name.to_string_lossy()) {
            Ok(n) => n,
            Err(e) => {
                log::warn!("NOTIFY_SOCKET={name:?}: {e}; not notifying systemd");
                Notifier { target: None }
            }
        }
    }

    /// Targets the socket `name`: an absolute path, or `@name` (abstract).
    pub fn connect(name: &str) -> io::Result<Notifier> {
        let addr = socket_addr(name)?;
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier {
            target: Some((socket, addr)),
        })
    }

    /// Whether systemd listens (a notify socket was given).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines) as one datagram.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        match &self.target {
            Some((socket, addr)) => socket.send_to_addr(state.as_bytes(), addr).map(|_| ()),
            None => Ok(()),
        }
    }

    /// [`Notifier::notify`], logging (not returning) a failure: a lost
    /// notification must not stop the server.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            log::warn!("sd_notify {:?}: {e}", state.lines().next().unwrap_or(""));
        }
    }
}

/// `@name` is the abstract namespace (leading NUL on the wire), anything else
/// must be an absolute path.
fn socket_addr(name: &str) -> io::Result<UnixAddr> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return UnixAddr::from_abstract_name(abstract_name.as_bytes());
    }
    if !name.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path or @abstract name",
        ));
    }
    UnixAddr::from_pathname(Path::new(name))
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it is set
/// and `$WATCHDOG_PID` (if present) is this process.
pub fn watchdog_interval() -> Option<Duration> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    watchdog_interval_from(
        var("WATCHDOG_USEC").as_deref(),
        var("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.parse::<u32>().ok() != Some(me) {
            return None;
        }
    }
    let usec: u64 = usec?.parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// One counter per core, bumped by a task on that core's executor; a counter
/// that stops moving means that executor is not getting to its tasks.
#[derive(Clone, Debug)]
pub struct Heartbeats {
    beats: Arc<[AtomicU64]>,
}

impl Heartbeats {
    pub fn new(cores: usize) -> Heartbeats {
        Heartbeats {
            beats: (0..cores).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Called on core `core` (its own counter: no contention between cores).
    pub fn beat(&self, core: usize) {
        if let Some(b) = self.beats.get(core) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Vec<u64> {
        self.beats
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Cores whose counter did not move since `before` (a [`Heartbeats::snapshot`]).
    pub fn stalled_since(&self, before: &[u64]) -> Vec<usize> {
        self.snapshot()
            .iter()
            .zip(before)
            .enumerate()
            .filter(|(_, (now, then))| now == then)
            .map(|(core, _)| core)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn datagram_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::connect(path.to_str().unwrap()).unwrap();
        assert!(n.is_enabled());
        n.notify("READY=1\nSTATUS=serving").unwrap();
        assert_eq!(recv(&listener), "READY=1\nSTATUS=serving");
        n.notify("STOPPING=1").unwrap();
        assert_eq!(recv(&listener), "STOPPING=1");
    }

    #[test]
    fn datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("dittofs-notify-test-{}", std::process::id());
        let addr = UnixAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::connect(&format!("@{name}")).unwrap();
        n.notify("WATCHDOG=1").unwrap();
        assert_eq!(recv(&listener), "WATCHDOG=1");
    }

    #[test]
    fn relative_or_missing_socket_is_an_error() {
        assert!(Notifier::connect("relative/path").is_err());
        let n = Notifier::connect("/nonexistent/dittofs/notify.sock").unwrap();
        assert!(n.notify("READY=1").is_err());
        // Disabled notifier: every call succeeds without sending anything.
        let off = Notifier { target: None };
        assert!(!off.is_enabled());
        off.notify("READY=1").unwrap();
    }

    #[test]
    fn watchdog_interval_is_half_and_checks_the_pid() {
        assert_eq!(
            watchdog_interval_from(Some("10000000"), None, 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            watchdog_interval_from(Some("10000000"), Some("7"), 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(watchdog_interval_from(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("x"), None, 7), None);
    }

    #[test]
    fn stalled_cores_are_the_ones_that_did_not_beat() {
        let h = Heartbeats::new(3);
        let before = h.snapshot();
        h.beat(0);
        h.beat(2);
        h.beat(9); // out of range: ignored
        assert_eq!(h.stalled_since(&before), vec![1]);
        let before = h.snapshot();
        assert_eq!(h.stalled_since(&before), vec![0, 1, 2]);
    }
}
