//! Every bound of the configuration and the relations between them, in one place.
//!
//! The runtime, the NFS adapter and the shards rely on these holding (a block
//! fits in a WAL segment, a maximal WRITE fits in an RPC record, …) instead of
//! re-checking, so a new bound belongs here with a test.

use std::collections::HashSet;

use super::{BlockStoreConfig, Cidr, Config, ConfigError, MetadataStoreConfig, ShareConfig};

/// Longest break-acknowledgment wait accepted (MS-SMB2's own is 35 s).
const LEASE_BREAK_WAIT_MS_MAX: u64 = 60_000;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Most executor threads accepted.
pub const CORES_MAX: usize = 1024;
/// Smallest and largest RPC record.
pub const RECORD_BYTES_MIN: u32 = 64 * 1024;
pub const RECORD_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// The largest NFS WRITE the server advertises (wtmax) plus room for RPC and
/// NFS headers: a record must hold at least this.
pub const RECORD_BYTES_FOR_MAX_WRITE: u32 = 1024 * 1024 + 4 * 1024;
/// Bounds of concurrently served requests per connection.
pub const REQUESTS_IN_FLIGHT_MAX: u32 = 4096;
/// Bounds of the content block size.
pub const BLOCK_BYTES_MIN: u64 = 64 * KIB;
pub const BLOCK_BYTES_MAX: u64 = 64 * MIB;
/// A cache shard holds at least this many blocks.
pub const SHARD_BLOCKS_MIN: u64 = 4;

/// Most blocks a sequential reader may fetch ahead (`cache.read_ahead_blocks`).
pub const READ_AHEAD_BLOCKS_MAX: u64 = 64;
/// WAL segments are written with O_DIRECT, so their size is a multiple of this.
pub const WAL_ALIGN_BYTES: u64 = 4096;
/// Smallest initial LMDB map.
pub const LMDB_MAP_BYTES_MIN: u64 = MIB;
/// Longest share name (SMB's limit for share names).
pub const SHARE_NAME_CHARS_MAX: usize = 80;
/// Most connections of one postgres metadata store.
pub const PG_POOL_SIZE_MAX: usize = 256;
/// Accepted `logging.level` values.
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl Config {
    /// Checks every rule; the first violation is returned with its key path.
    /// The error names no file: callers attach it with [`ConfigError::in_file`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_top()?;
        self.validate_stores()?;
        self.validate_adapters()?;
        self.validate_cache_and_wal()?;
        self.validate_block_stores()?;
        self.validate_metadata_stores()?;
        self.validate_observability()?;
        self.rate_limit.validate()?;
        self.validate_shares()?;
        self.identity.validate(self)
    }

    fn validate_block_stores(&self) -> Result<(), ConfigError> {
        for (name, store) in &self.block_stores {
            match store {
                BlockStoreConfig::Memory {} | BlockStoreConfig::Filesystem { .. } => {}
                BlockStoreConfig::S3(s3) => s3.validate(&format!("block_stores.{name}"))?,
            }
        }
        Ok(())
    }

    fn validate_metadata_stores(&self) -> Result<(), ConfigError> {
        for (name, store) in &self.metadata_stores {
            let key = |field: &str| format!("metadata_stores.{name}.{field}");
            if let MetadataStoreConfig::Postgres {
                url,
                pool_size,
                connect_timeout_ms,
                ..
            } = store
            {
                if url.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        key("url"),
                        "must name the database, e.g. \"postgres://dittofs@db.example/dittofs\"",
                    ));
                }
                if let Err(e) = url.parse::<postgres::Config>() {
                    return Err(ConfigError::invalid(
                        key("url"),
                        format!("not a PostgreSQL connection string: {e}"),
                    ));
                }
                if *pool_size == 0 || *pool_size > PG_POOL_SIZE_MAX {
                    return Err(ConfigError::invalid(
                        key("pool_size"),
                        format!("{pool_size} is outside 1..={PG_POOL_SIZE_MAX}"),
                    ));
                }
                if *connect_timeout_ms == 0 {
                    return Err(ConfigError::invalid(
                        key("connect_timeout_ms"),
                        "must be at least 1",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_top(&self) -> Result<(), ConfigError> {
        if self.cores > CORES_MAX {
            return Err(ConfigError::invalid(
                "cores",
                format!(
                    "{} exceeds the maximum of {CORES_MAX} (0 means one per CPU)",
                    self.cores
                ),
            ));
        }
        if !LOG_LEVELS.contains(&self.logging.level.as_str()) {
            return Err(ConfigError::invalid(
                "logging.level",
                format!(
                    "unknown level {:?} (expected one of: {})",
                    self.logging.level,
                    LOG_LEVELS.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn validate_stores(&self) -> Result<(), ConfigError> {
        for (name, store) in &self.metadata_stores {
            if let MetadataStoreConfig::Lmdb {
                map_size_bytes,
                map_size_max_bytes,
                ..
            } = store
            {
                if *map_size_bytes < LMDB_MAP_BYTES_MIN {
                    return Err(ConfigError::invalid(
                        format!("metadata_stores.{name}.map_size_bytes"),
                        format!("{map_size_bytes} is below {LMDB_MAP_BYTES_MIN} (1 MiB)"),
                    ));
                }
                if map_size_max_bytes < map_size_bytes {
                    return Err(ConfigError::invalid(
                        format!("metadata_stores.{name}.map_size_max_bytes"),
                        format!("{map_size_max_bytes} is below map_size_bytes ({map_size_bytes})"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_adapters(&self) -> Result<(), ConfigError> {
        let nfs = &self.adapters.nfs;
        let smb = &self.adapters.smb;
        if !nfs.enabled && !smb.enabled {
            return Err(ConfigError::invalid(
                "adapters",
                "no adapter is enabled (set adapters.nfs.enabled or adapters.smb.enabled)",
            ));
        }
        if nfs.enabled && nfs.port == 0 {
            return Err(ConfigError::invalid("adapters.nfs.port", "must not be 0"));
        }
        if smb.admin_users.iter().any(|u| u.is_empty()) {
            return Err(ConfigError::invalid(
                "adapters.smb.admin_users",
                "names must not be empty",
            ));
        }
        if smb.enabled && smb.port == 0 {
            return Err(ConfigError::invalid("adapters.smb.port", "must not be 0"));
        }
        if smb.lease_break_wait_ms > LEASE_BREAK_WAIT_MS_MAX {
            return Err(ConfigError::invalid(
                "adapters.smb.lease_break_wait_ms",
                format!("at most {LEASE_BREAK_WAIT_MS_MAX}"),
            ));
        }
        if smb.nfs_lease_break_wait_ms > LEASE_BREAK_WAIT_MS_MAX {
            return Err(ConfigError::invalid(
                "adapters.smb.nfs_lease_break_wait_ms",
                format!("at most {LEASE_BREAK_WAIT_MS_MAX}"),
            ));
        }
        if nfs.enabled && smb.enabled && nfs.port == smb.port {
            return Err(ConfigError::invalid(
                "adapters.smb.port",
                format!("{} is also adapters.nfs.port", smb.port),
            ));
        }
        let lower = RECORD_BYTES_MIN.max(RECORD_BYTES_FOR_MAX_WRITE);
        if !(lower..=RECORD_BYTES_MAX).contains(&nfs.record_bytes_max) {
            return Err(ConfigError::invalid(
                "adapters.nfs.record_bytes_max",
                format!(
                    "{} is outside {lower}..={RECORD_BYTES_MAX} (at least a 1 MiB WRITE \
                     plus 4 KiB of headers, at most 64 MiB)",
                    nfs.record_bytes_max
                ),
            ));
        }
        if !(1..=REQUESTS_IN_FLIGHT_MAX).contains(&nfs.requests_in_flight_max) {
            return Err(ConfigError::invalid(
                "adapters.nfs.requests_in_flight_max",
                format!(
                    "{} is outside 1..={REQUESTS_IN_FLIGHT_MAX}",
                    nfs.requests_in_flight_max
                ),
            ));
        }
        Ok(())
    }

    fn validate_cache_and_wal(&self) -> Result<(), ConfigError> {
        let block = self.cache.block_bytes;
        if !block.is_power_of_two() || !(BLOCK_BYTES_MIN..=BLOCK_BYTES_MAX).contains(&block) {
            return Err(ConfigError::invalid(
                "cache.block_bytes",
                format!(
                    "{block} must be a power of two between {BLOCK_BYTES_MIN} (64 KiB) \
                     and {BLOCK_BYTES_MAX} (64 MiB)"
                ),
            ));
        }
        if self.cache.shard_bytes_max < SHARD_BLOCKS_MIN * block {
            return Err(ConfigError::invalid(
                "cache.shard_bytes_max",
                format!(
                    "{} is less than {SHARD_BLOCKS_MIN} × cache.block_bytes ({})",
                    self.cache.shard_bytes_max,
                    SHARD_BLOCKS_MIN * block
                ),
            ));
        }
        if self.cache.read_ahead_blocks > READ_AHEAD_BLOCKS_MAX {
            return Err(ConfigError::invalid(
                "cache.read_ahead_blocks",
                format!(
                    "{} is more than {READ_AHEAD_BLOCKS_MAX}",
                    self.cache.read_ahead_blocks
                ),
            ));
        }
        let segment = self.wal.segment_bytes;
        if segment < block {
            return Err(ConfigError::invalid(
                "wal.segment_bytes",
                format!("{segment} is less than cache.block_bytes ({block})"),
            ));
        }
        if segment % WAL_ALIGN_BYTES != 0 {
            return Err(ConfigError::invalid(
                "wal.segment_bytes",
                format!("{segment} is not a multiple of {WAL_ALIGN_BYTES}"),
            ));
        }
        if self.wal.segments_per_core == 0 {
            return Err(ConfigError::invalid(
                "wal.segments_per_core",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn validate_shares(&self) -> Result<(), ConfigError> {
        if self.shares.is_empty() {
            return Err(ConfigError::invalid(
                "shares",
                "at least one [[shares]] entry is required",
            ));
        }
        // SMB share names are case-insensitive and the same name serves both
        // protocols, so uniqueness is checked without case.
        let mut seen = HashSet::new();
        for (i, share) in self.shares.iter().enumerate() {
            let key = |field: &str| format!("shares[{i}].{field}");
            check_share_name(&share.name).map_err(|m| ConfigError::invalid(key("name"), m))?;
            if !seen.insert(share.name.to_lowercase()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("{:?} is defined more than once", share.name),
                ));
            }
            self.check_share_stores(share, &key)?;
            for (j, client) in share.allowed_clients.iter().enumerate() {
                if let Err(e) = client.parse::<Cidr>() {
                    return Err(ConfigError::invalid(
                        format!("shares[{i}].allowed_clients[{j}]"),
                        format!("{client:?} is not a CIDR network: {e}"),
                    ));
                }
            }
            if let Some(limits) = &share.rate_limit {
                limits.validate(&key("rate_limit"))?;
            }
            if share.root_mode > 0o7777 {
                return Err(ConfigError::invalid(
                    key("root_mode"),
                    format!("{:#o} exceeds 0o7777", share.root_mode),
                ));
            }
        }
        Ok(())
    }

    fn check_share_stores(
        &self,
        share: &ShareConfig,
        key: &dyn Fn(&str) -> String,
    ) -> Result<(), ConfigError> {
        if !self.metadata_stores.contains_key(&share.metadata_store) {
            return Err(ConfigError::invalid(
                key("metadata_store"),
                format!(
                    "unknown metadata store {:?} (defined: {})",
                    share.metadata_store,
                    names(self.metadata_stores.keys())
                ),
            ));
        }
        if !self.block_stores.contains_key(&share.block_store) {
            return Err(ConfigError::invalid(
                key("block_store"),
                format!(
                    "unknown block store {:?} (defined: {})",
                    share.block_store,
                    names(self.block_stores.keys())
                ),
            ));
        }
        Ok(())
    }
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = keys.map(String::as_str).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// A share name is `/NAME`: one path component after the slash, usable as an
/// NFS export path and (without the slash) as an SMB share name.
fn check_share_name(name: &str) -> Result<(), String> {
    let Some(rest) = name.strip_prefix('/') else {
        return Err(format!(
            "{name:?} must start with '/' (for example \"/export\")"
        ));
    };
    if rest.is_empty() {
        return Err("\"/\" is not a share name; use \"/NAME\"".to_owned());
    }
    if rest.contains('/') {
        return Err(format!(
            "{name:?} must be a single component \"/NAME\" (no further '/', no trailing '/')"
        ));
    }
    if rest == "." || rest == ".." || rest.contains("..") {
        return Err(format!("{name:?} must not contain \"..\" or be \".\""));
    }
    if rest.chars().count() > SHARE_NAME_CHARS_MAX {
        return Err(format!(
            "{name:?} is longer than {SHARE_NAME_CHARS_MAX} characters"
        ));
    }
    if let Some(c) = rest
        .chars()
        .find(|c| c.is_control() || "\\:*?\"<>|".contains(*c))
    {
        return Err(format!("{name:?} contains the character {c:?}"));
    }
    if rest.starts_with(' ') || rest.ends_with(' ') {
        return Err(format!("{name:?} must not start or end with a space"));
    }
    Ok(())
}
