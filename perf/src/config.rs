//! What a run is: target URL, workload, bounds, parallelism and sizes.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use dittofs::fs::Stability;
use serde::Serialize;

/// Why a run configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("target {0:?} is not nfs://HOST[:PORT]/EXPORT (or smb://HOST[:PORT][/SHARE])")]
    BadUrl(String),
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, String),
    #[error("unknown workload {0:?} (one of: {list})", list = Workload::NAMES.join(", "))]
    UnknownWorkload(String),
    #[error("bad size {0:?} (e.g. 4096, 64K, 256M, 1G)")]
    BadSize(String),
    #[error("bad duration {0:?} (e.g. 500ms, 10s, 2m)")]
    BadDuration(String),
    #[error("unknown --stable {0:?} (unstable, commit or file-sync)")]
    BadStable(String),
}

/// An NFS server to drive.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    /// MOUNT port; dittofs serves MOUNT on the NFS port, NFS-Ganesha on its own.
    pub mount_port: u16,
    pub export: String,
}

impl Target {
    /// Parses `nfs://HOST[:PORT]/EXPORT` (port 2049 by default; MOUNT on the same port
    /// unless `mount_port` is given).
    pub fn parse(url: &str, mount_port: Option<u16>) -> Result<Target, ConfigError> {
        let bad = || ConfigError::BadUrl(url.to_string());
        let rest = url.strip_prefix("nfs://").ok_or_else(bad)?;
        let (hostport, path) = rest.split_once('/').ok_or_else(bad)?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h, p.parse::<u16>().map_err(|_| bad())?),
            Some(_) => return Err(bad()),
            None => (hostport, 2049),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Target {
            url: url.to_string(),
            host: host.to_string(),
            port,
            mount_port: mount_port.unwrap_or(port),
            export: format!("/{}", path.trim_end_matches('/')),
        })
    }

    /// Parses `smb://HOST[:PORT][/SHARE]` (port 445 by default); the share, when
    /// given, lands in `export` without its leading slash.
    pub fn parse_smb(url: &str) -> Result<Target, ConfigError> {
        let bad = || ConfigError::BadUrl(url.to_string());
        let rest = url.strip_prefix("smb://").ok_or_else(bad)?;
        let (hostport, share) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h, p.parse::<u16>().map_err(|_| bad())?),
            Some(_) => return Err(bad()),
            None => (hostport, 445),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Target {
            url: url.to_string(),
            host: host.to_string(),
            port,
            mount_port: port,
            export: share.trim_end_matches('/').to_string(),
        })
    }

    fn resolve(&self, port: u16) -> Result<SocketAddr, ConfigError> {
        let hp = format!("{}:{port}", self.host);
        hp.to_socket_addrs()
            .map_err(|e| ConfigError::Resolve(hp.clone(), e.to_string()))?
            .next()
            .ok_or_else(|| ConfigError::Resolve(hp, "no address".into()))
    }

    pub fn nfs_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.resolve(self.port)
    }

    pub fn mount_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.resolve(self.mount_port)
    }
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Workload {
    SeqWrite,
    SeqRead,
    RandWrite,
    RandRead,
    Create,
    Stat,
    Readdir,
    Delete,
    BuildFarm,
}

impl Workload {
    pub const NAMES: [&'static str; 9] = [
        "seq-write",
        "seq-read",
        "rand-write",
        "rand-read",
        "create",
        "stat",
        "readdir",
        "delete",
        "build-farm",
    ];
    pub const ALL: [Workload; 9] = [
        Workload::SeqWrite,
        Workload::SeqRead,
        Workload::RandWrite,
        Workload::RandRead,
        Workload::Create,
        Workload::Stat,
        Workload::Readdir,
        Workload::Delete,
        Workload::BuildFarm,
    ];

    pub fn parse(s: &str) -> Result<Workload, ConfigError> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| ConfigError::UnknownWorkload(s.to_string()))
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|w| *w == self).unwrap_or(0)]
    }
}

/// How writes are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StableMode {
    /// UNSTABLE writes, never committed.
    Unstable,
    /// UNSTABLE writes and a COMMIT after each pass over the file (seq) or every
    /// `RAND_COMMIT_EVERY` writes (rand).
    Commit,
    /// FILE_SYNC writes.
    FileSync,
}

impl StableMode {
    pub fn parse(s: &str) -> Result<StableMode, ConfigError> {
        match s {
            "unstable" => Ok(StableMode::Unstable),
            "commit" => Ok(StableMode::Commit),
            "file-sync" => Ok(StableMode::FileSync),
            _ => Err(ConfigError::BadStable(s.to_string())),
        }
    }

    pub fn write_stability(self) -> Stability {
        match self {
            StableMode::FileSync => Stability::FileSync,
            _ => Stability::Unstable,
        }
    }
}

/// Everything one run needs.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    pub target: Target,
    pub workload: Workload,
    /// Time bound of each timed phase (default when neither bound is given: 10 s).
    pub duration: Option<Duration>,
    /// Op bound of the timed phase (total over all connections).
    pub ops: Option<u64>,
    pub connections: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Executor threads (each a glommio executor owning its share of the connections).
    pub threads: usize,
    pub uid: u32,
    pub gid: u32,
    /// File size of the seq-*/rand-* workloads, per stream.
    pub file_size_bytes: u64,
    /// I/O size of seq-* (clamped to the server's rtmax/wtmax).
    pub seq_io_bytes: u32,
    /// I/O size of rand-*.
    pub rand_io_bytes: u32,
    pub stable: StableMode,
    /// Entries of the readdir workload's directory.
    pub dir_entries: usize,
    /// Prepared files of stat and delete (delete: per run, split over streams).
    pub files: usize,
    /// build-farm tree: files and directories.
    pub bf_files: usize,
    pub bf_dirs: usize,
    /// Check the pattern of every byte read.
    pub verify: bool,
    /// Print a progress line to stderr once per second.
    pub progress: bool,
    pub seed: u64,
    /// Set for an SMB run (target `smb://HOST[:PORT]/SHARE`).
    pub smb: Option<crate::smb::SmbOptions>,
}

impl RunConfig {
    /// Defaults for `target` and `workload`.
    pub fn new(target: Target, workload: Workload) -> RunConfig {
        RunConfig {
            target,
            workload,
            duration: None,
            ops: None,
            connections: 4,
            depth: 8,
            threads: 1,
            uid: 0,
            gid: 0,
            file_size_bytes: 256 << 20,
            seq_io_bytes: 1 << 20,
            rand_io_bytes: 4096,
            stable: StableMode::Unstable,
            dir_entries: 10_000,
            files: 10_000,
            bf_files: 4_000,
            bf_dirs: 200,
            verify: false,
            progress: false,
            seed: 42,
            smb: None,
        }
    }

    /// The duration bound in effect (10 s when neither bound was given).
    pub fn effective_duration(&self) -> Option<Duration> {
        match (self.duration, self.ops) {
            (None, None) => Some(Duration::from_secs(10)),
            (d, _) => d,
        }
    }
}

/// Parses `4096`, `64K`, `256M`, `256MiB`, `1G` (binary units).
pub fn parse_size(s: &str) -> Result<u64, ConfigError> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| ConfigError::BadSize(s.to_string()))
}

/// Parses `500ms`, `10s`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let t = s.trim();
    let bad = || ConfigError::BadDuration(s.to_string());
    if let Some(n) = t.strip_suffix("ms") {
        return n.parse().map(Duration::from_millis).map_err(|_| bad());
    }
    if let Some(n) = t.strip_suffix('m') {
        return n
            .parse::<u64>()
            .map(|m| Duration::from_secs(m * 60))
            .map_err(|_| bad());
    }
    let n = t.strip_suffix('s').unwrap_or(t);
    n.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("nfs://127.0.0.1:12049/export", Some(12048)).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.mount_port),
            ("127.0.0.1", 12049, 12048)
        );
        assert_eq!(t.export, "/export");
        let t = Target::parse("nfs://server/a/b/", None).unwrap();
        assert_eq!(
            (t.port, t.mount_port, t.export.as_str()),
            (2049, 2049, "/a/b")
        );
        assert!(Target::parse("http://x/e", None).is_err());
        assert!(Target::parse("nfs://:1/e", None).is_err());
        assert!(Target::parse("nfs://h:x/e", None).is_err());
        let t = Target::parse_smb("smb://127.0.0.1:12445/export").unwrap();
        assert_eq!((t.port, t.export.as_str()), (12445, "export"));
        let t = Target::parse_smb("smb://server").unwrap();
        assert_eq!((t.port, t.export.as_str()), (445, ""));
        assert!(Target::parse_smb("nfs://h/e").is_err());
        assert!(Target::parse_smb("smb://:1/s").is_err());
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert!(parse_size("x").is_err());
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn workload_names_round_trip() {
        for n in Workload::NAMES {
            assert_eq!(Workload::parse(n).unwrap().name(), n);
        }
        assert!(Workload::parse("nope").is_err());
    }
}
