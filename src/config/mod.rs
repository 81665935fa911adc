//! The configuration file: its schema, defaults and validation.
//!
//! The schema mirrors the seed's: named metadata stores and block stores, shares
//! that pick one of each by name, protocol adapters, cores, cache and WAL
//! settings and logging. Every key has a default so an empty file is valid;
//! `config.toml.example` lists them all.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

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
    pub logging: LoggingConfig,
    pub adapters: AdaptersConfig,
    pub cache: CacheConfig,
    pub wal: WalConfig,
    /// Metadata stores by name.
    pub metadata_stores: BTreeMap<String, MetadataStoreConfig>,
    /// Block stores by name.
    pub block_stores: BTreeMap<String, BlockStoreConfig>,
    pub shares: Vec<ShareConfig>,
}

/// `[logging]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// error, warn, info, debug, trace (RUST_LOG overrides).
    pub level: String,
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[adapters]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub port: u16,
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
    Memory {},
}

/// `[block_stores.NAME]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlockStoreConfig {
    Memory {},
}

/// Permission granted to callers that have no explicit grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharePermission {
    None,
    Read,
    ReadWrite,
    Admin,
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
    pub metadata_store: String,
    pub block_store: String,
    pub read_only: bool,
    pub default_permission: SharePermission,
    /// Client networks (CIDR) allowed to mount; empty allows all.
    pub allowed_clients: Vec<String>,
    pub squash: Squash,
    pub anon_uid: u32,
    pub anon_gid: u32,
    /// Mode of the share's root directory when it is first created.
    pub root_mode: u32,
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
                MetadataStoreConfig::Memory {},
            )]),
            block_stores: BTreeMap::from([("default".to_owned(), BlockStoreConfig::Memory {})]),
            shares: vec![ShareConfig::default()],
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl Default for AdaptersConfig {
    fn default() -> Self {
        AdaptersConfig {
            nfs: NfsAdapterConfig::default(),
            smb: SmbAdapterConfig::default(),
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
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            shard_bytes_max: 1 << 30,
            block_bytes: 4 << 20,
            flush_delay_ms: 2000,
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
        }
    }
}
