//! The configuration file: its schema, defaults, loading and validation.
//!
//! The schema mirrors the seed's: named metadata stores and block stores, shares
//! that pick one of each by name, protocol adapters, cores, cache and WAL
//! settings and logging. Every key has a default so an empty file is valid;
//! `config.toml.example` lists them all (a test keeps it equal to
//! [`Config::default`]) and is what `dittofs init` writes.
//!
//! All bounds and the relations between them are checked in one place,
//! [`Config::validate`], so the runtime may assume them instead of re-checking.
//! The life of a configuration is: [`Config::load`] (or [`Config::default`]) →
//! [`Overrides::apply`] (command-line flags) → [`Config::validate`] → runtime.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod cidr;
mod error;
pub mod identity;
mod overrides;
pub mod ratelimit;
pub mod s3;
pub mod validate;
mod validate_obs;

#[cfg(test)]
mod tests;

pub use cidr::{Cidr, CidrError};
pub use error::{ConfigError, ConfigSource};
pub use identity::{GuestPolicy, IdentityConfig};
pub use overrides::Overrides;
pub use ratelimit::{LimitConfig, RateLimitConfig, ShareRateLimitConfig};
pub use s3::S3BlockStoreConfig;

/// The commented example configuration: every key with its default.
/// `dittofs init` writes exactly this text.
pub const EXAMPLE_TOML: &str = include_str!("../../config.toml.example");

/// Where the system-wide configuration lives (systemd deployments).
pub const SYSTEM_CONFIG_PATH: &str = "/etc/dittofs/config.toml";

/// The configuration path used when `--config` is not given.
///
/// Under systemd (detected by `$INVOCATION_ID` or `$NOTIFY_SOCKET`, which
/// systemd sets for the services it runs) it is [`SYSTEM_CONFIG_PATH`];
/// otherwise `$XDG_CONFIG_HOME/dittofs/config.toml`, falling back to
/// `~/.config/dittofs/config.toml`, and to the system path if `$HOME` is unset.
pub fn default_config_path() -> PathBuf {
    default_config_path_from(|name| std::env::var_os(name))
}

fn default_config_path_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    if set("INVOCATION_ID") || set("NOTIFY_SOCKET") {
        return PathBuf::from(SYSTEM_CONFIG_PATH);
    }
    let config_home = match var("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => match var("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return PathBuf::from(SYSTEM_CONFIG_PATH),
        },
    };
    config_home.join("dittofs").join("config.toml")
}

/// Where persistent stores keep their files when `data_dir` is not set.
///
/// `$STATE_DIRECTORY` when systemd provides one (`StateDirectory=`); else, under
/// systemd (same detection as [`default_config_path`]), `/var/lib/dittofs`;
/// otherwise `$XDG_DATA_HOME/dittofs`, falling back to `~/.local/share/dittofs`,
/// and to `/var/lib/dittofs` if `$HOME` is unset.
pub fn default_data_dir() -> PathBuf {
    default_data_dir_from(|name| std::env::var_os(name))
}

/// The system-wide data directory (systemd deployments).
pub const SYSTEM_DATA_DIR: &str = "/var/lib/dittofs";

fn default_data_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    if let Some(state) = var("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
        // systemd may pass several, colon-separated: the first is ours.
        let first = state
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_owned();
        if Path::new(&first).is_absolute() {
            return PathBuf::from(first);
        }
    }
    if set("INVOCATION_ID") || set("NOTIFY_SOCKET") {
        return PathBuf::from(SYSTEM_DATA_DIR);
    }
    let data_home = match var("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => match var("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".local").join("share"),
            None => return PathBuf::from(SYSTEM_DATA_DIR),
        },
    };
    data_home.join("dittofs")
}

impl Config {
    /// `data_dir`, or [`default_data_dir`] when unset.
    pub fn effective_data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// Whether any configured store keeps files under the data directory.
    pub fn uses_data_dir(&self) -> bool {
        self.metadata_stores
            .values()
            .any(|m| matches!(m, MetadataStoreConfig::Lmdb { path: None, .. }))
            || self
                .block_stores
                .values()
                .any(|b| matches!(b, BlockStoreConfig::Filesystem { path: None }))
    }

    /// Reads and parses a configuration file. Does not validate: apply
    /// overrides first, then call [`Config::validate`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parses configuration text; `path` is only used in error messages.
    /// Errors carry the key path (`adapters.nfs.port`) and 1-based line/column.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let mut key = err.path().to_string();
            if key == "." {
                key.clear();
            }
            let inner = err.into_inner();
            // toml's messages can span lines ("invalid string\nexpected ..."):
            // keep the error on one line for journald and log shippers.
            let message = inner
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            // Make sure an unknown key is named itself, not only its table.
            if let Some(unknown) = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .filter(|unknown| key.rsplit('.').next() != Some(unknown))
            {
                key = if key.is_empty() {
                    unknown.to_owned()
                } else {
                    format!("{key}.{unknown}")
                };
            }
            let (line, column) = match inner.span() {
                Some(span) => {
                    let (l, c) = line_column(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            ConfigError::Parse {
                path: path.to_owned(),
                key,
                line,
                column,
                message,
            }
        })
    }

    /// Executor threads to start: `cores`, or one per available CPU when 0.
    pub fn effective_cores(&self) -> usize {
        if self.cores != 0 {
            return self.cores;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where persistent stores keep their files (LMDB, local blocks, WAL).
    pub data_dir: Option<std::path::PathBuf>,
    /// Address every listener binds to.
    pub listen: IpAddr,
    /// Executor threads (one per core); 0 means one per available CPU.
    pub cores: usize,
    /// Log level and format.
    pub logging: LoggingConfig,
    /// Protocol front ends.
    pub adapters: AdaptersConfig,
    /// Per-core content cache.
    pub cache: CacheConfig,
    /// Write-ahead log.
    pub wal: WalConfig,
    /// Metadata stores by name.
    pub metadata_stores: BTreeMap<String, MetadataStoreConfig>,
    /// Block stores by name.
    pub block_stores: BTreeMap<String, BlockStoreConfig>,
    /// Exported shares; at least one.
    pub shares: Vec<ShareConfig>,
    /// REST admin API.
    pub api: ApiConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// Token-bucket limits per client and per user (none by default).
    pub rate_limit: RateLimitConfig,
    /// Users and groups: their store and policy (`config/identity.rs`).
    pub identity: IdentityConfig,
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// TCP port of the REST admin API; 0 disables it.
    pub port: u16,
    /// Address it binds to (loopback unless an operator opens it up).
    pub address: IpAddr,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// TCP port of `/metrics`; 0 disables it (and the recording).
    pub port: u16,
    /// Address it binds to.
    pub address: IpAddr,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            port: 8080,
            address: IpAddr::from([127, 0, 0, 1]),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            port: 9090,
            address: IpAddr::from([127, 0, 0, 1]),
        }
    }
}

/// `[logging]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// error, warn, info, debug, trace (RUST_LOG overrides).
    pub level: String,
    /// Line format.
    pub format: LogFormat,
    /// Levels of single modules (`"dittofs::nfs" = "debug"`); RUST_LOG wins.
    pub modules: BTreeMap<String, String>,
    /// One line per request (target `dittofs::access`, level info).
    pub access_log: bool,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// env_logger's human-readable line with a timestamp.
    Text,
    /// One JSON object per line: `{"ts","level","target","core","msg",...}`
    /// plus the fields of access-log lines.
    Json,
}

/// `[adapters]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptersConfig {
    pub nfs: NfsAdapterConfig,
    pub smb: SmbAdapterConfig,
}

/// `[adapters.nfs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfsAdapterConfig {
    pub enabled: bool,
    /// NFS, MOUNT and portmap all answer on this one port.
    pub port: u16,
    /// Largest RPC record accepted; a bigger one closes the connection.
    pub record_bytes_max: u32,
    /// Requests of one connection served concurrently.
    pub requests_in_flight_max: u32,
}

/// `[adapters.smb]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmbAdapterConfig {
    pub enabled: bool,
    /// Must differ from the NFS port when both adapters are enabled.
    pub port: u16,
    /// Users whose SMB sessions act as root (uid 0), like Samba's `admin users`:
    /// for a trusted client that checks permissions itself (the Linux client with
    /// the `posix` mount option, pjdfstest). Empty by default.
    pub admin_users: Vec<String>,
    /// Bound on an SMB open/write waiting for another client's oplock/lease break
    /// acknowledgment (MS-SMB2 uses 35 s).
    pub lease_break_wait_ms: u64,
    /// Bound on an NFS request waiting for an SMB client's break acknowledgment.
    pub nfs_lease_break_wait_ms: u64,
}

/// `[cache]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Memory budget of each core's content cache.
    pub shard_bytes_max: u64,
    /// Size of a content block, the unit of upload.
    pub block_bytes: u64,
    /// A file idle this long has its partial block sealed.
    pub flush_delay_ms: u64,
    /// Blocks fetched ahead of a sequential reader; 0 disables read-ahead.
    pub read_ahead_blocks: u64,
}

/// `[wal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// Size of one preallocated WAL segment.
    pub segment_bytes: u64,
    /// Segments per core.
    pub segments_per_core: u32,
    /// Longest a stable write waits for others to share its fdatasync.
    pub group_commit_window_us: u64,
}

/// `[metadata_stores.NAME]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum MetadataStoreConfig {
    /// In-process, lost at exit.
    Memory {},
    /// Embedded LMDB environment (the default).
    Lmdb {
        /// Directory of the environment; default `<data_dir>/meta` for the store
        /// named "default", `<data_dir>/meta-NAME` for others.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
        /// Initial size of the memory map; it doubles when full.
        #[serde(default = "default_map_size_bytes")]
        map_size_bytes: u64,
        /// The map never grows past this; then writes fail with "no space".
        #[serde(default = "default_map_size_max_bytes")]
        map_size_max_bytes: u64,
    },
    /// PostgreSQL (see README "PostgreSQL store").
    Postgres {
        /// Connection string: `postgres://USER:PASSWORD@HOST:PORT/DBNAME` or
        /// libpq key/value form `host=... port=... user=... dbname=...`.
        url: String,
        /// Connections, each served by its own blocking thread.
        #[serde(default = "default_pg_pool_size")]
        pool_size: usize,
        /// Longest a connection attempt waits.
        #[serde(default = "default_pg_connect_timeout_ms")]
        connect_timeout_ms: u64,
        /// Server-side limit of one statement (0 = none).
        #[serde(default = "default_pg_statement_timeout_ms")]
        statement_timeout_ms: u64,
    },
}

fn default_map_size_bytes() -> u64 {
    crate::meta::lmdb::DEFAULT_MAP_SIZE_BYTES
}

fn default_map_size_max_bytes() -> u64 {
    crate::meta::lmdb::DEFAULT_MAP_SIZE_MAX_BYTES
}

/// Default `pool_size` of a postgres metadata store.
pub const PG_POOL_SIZE_DEFAULT: usize = 8;

fn default_pg_pool_size() -> usize {
    PG_POOL_SIZE_DEFAULT
}

fn default_pg_connect_timeout_ms() -> u64 {
    5000
}

fn default_pg_statement_timeout_ms() -> u64 {
    30_000
}

/// `[block_stores.NAME]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlockStoreConfig {
    /// In-process, lost at exit.
    Memory {},
    /// An S3 bucket (AWS or any S3-protocol server); see [`S3BlockStoreConfig`].
    S3(S3BlockStoreConfig),
    /// One file per block under a local directory (the default).
    Filesystem {
        /// Default `<data_dir>/blocks` for the store named "default",
        /// `<data_dir>/blocks-NAME` for others.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
}

/// Default path of a persistent store: `<data_dir>/<kind>` for the store named
/// "default", `<data_dir>/<kind>-<name>` for the others (so two stores never
/// share a directory).
pub fn default_store_path(data_dir: &Path, kind: &str, name: &str) -> PathBuf {
    if name == "default" {
        data_dir.join(kind)
    } else {
        data_dir.join(format!("{kind}-{name}"))
    }
}

/// What a caller may do on a share: `default_permission` for callers with no
/// grant, and the grants of users and groups. Ordered: none < read <
/// read-write < admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharePermission {
    None,
    Read,
    ReadWrite,
    Admin,
}

/// Where COMMIT (and FILE_SYNC/DATA_SYNC writes) wait for file content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Durable in the local WAL (fdatasync).
    #[default]
    Local,
    /// Also uploaded into the block store and recorded in the block map.
    Remote,
}

/// How AUTH_SYS identities are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Squash {
    /// Trust every uid/gid as sent.
    None,
    /// uid 0 becomes anon_uid/anon_gid.
    Root,
    /// Every caller becomes anon_uid/anon_gid.
    All,
}

/// `[[shares]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShareConfig {
    /// Export path (NFS) and share name (SMB, without the leading `/`).
    pub name: String,
    /// Name of a `[metadata_stores.NAME]` entry.
    pub metadata_store: String,
    /// Name of a `[block_stores.NAME]` entry.
    pub block_store: String,
    /// Refuse every modification.
    pub read_only: bool,
    /// Permission of callers without an explicit grant.
    pub default_permission: SharePermission,
    /// Client networks (CIDR) allowed to mount; empty allows all.
    pub allowed_clients: Vec<String>,
    /// AUTH_SYS identity mapping.
    pub squash: Squash,
    /// uid squashed callers become.
    pub anon_uid: u32,
    /// gid squashed callers become.
    pub anon_gid: u32,
    /// Mode of the share's root directory when it is first created.
    pub root_mode: u32,
    /// Where COMMIT waits for file content.
    pub durability: Durability,
    /// Extra rate limits for requests to this share (none when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<ShareRateLimitConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: None,
            listen: IpAddr::from([0, 0, 0, 0]),
            cores: 0,
            logging: LoggingConfig::default(),
            adapters: AdaptersConfig::default(),
            cache: CacheConfig::default(),
            wal: WalConfig::default(),
            metadata_stores: BTreeMap::from([(
                "default".to_owned(),
                MetadataStoreConfig::Lmdb {
                    path: None,
                    map_size_bytes: default_map_size_bytes(),
                    map_size_max_bytes: default_map_size_max_bytes(),
                },
            )]),
            block_stores: BTreeMap::from([(
                "default".to_owned(),
                BlockStoreConfig::Filesystem { path: None },
            )]),
            shares: vec![ShareConfig::default()],
            api: ApiConfig::default(),
            metrics: MetricsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            identity: IdentityConfig::default(),
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
            modules: BTreeMap::new(),
            access_log: false,
        }
    }
}

impl Default for NfsAdapterConfig {
    fn default() -> Self {
        NfsAdapterConfig {
            enabled: true,
            port: 12049,
            record_bytes_max: 2 * 1024 * 1024,
            requests_in_flight_max: 128,
        }
    }
}

impl Default for SmbAdapterConfig {
    fn default() -> Self {
        SmbAdapterConfig {
            enabled: false,
            port: 12445,
            admin_users: Vec::new(),
            lease_break_wait_ms: crate::fs::leases::SMB_WAIT_MS_DEFAULT,
            nfs_lease_break_wait_ms: crate::fs::leases::NFS_WAIT_MS_DEFAULT,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            shard_bytes_max: 1 << 30,
            block_bytes: 4 << 20,
            flush_delay_ms: 2000,
            read_ahead_blocks: 2,
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            segment_bytes: 64 << 20,
            segments_per_core: 4,
            group_commit_window_us: 200,
        }
    }
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            name: "/export".to_owned(),
            metadata_store: "default".to_owned(),
            block_store: "default".to_owned(),
            read_only: false,
            default_permission: SharePermission::ReadWrite,
            allowed_clients: Vec::new(),
            squash: Squash::None,
            anon_uid: 65534,
            anon_gid: 65534,
            root_mode: 0o777,
            durability: Durability::Local,
            rate_limit: None,
        }
    }
}
