//! Tests of loading, the example file and every validation rule.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("/etc/dittofs/config.toml"))
}

/// Asserts that `edit` applied to the default config fails validation on `key`
/// with a message containing `needle`.
fn rejects(edit: impl FnOnce(&mut Config), key: &str, needle: &str) {
    let mut config = Config::default();
    edit(&mut config);
    let err = config
        .validate()
        .expect_err(&format!("expected an error on {key}"));
    assert_eq!(err.key(), Some(key), "wrong key in: {err}");
    assert!(err.to_string().contains(needle), "{err:?} lacks {needle:?}");
}

fn accepts(edit: impl FnOnce(&mut Config)) {
    let mut config = Config::default();
    edit(&mut config);
    if let Err(e) = config.validate() {
        panic!("unexpected error: {e}");
    }
}

// ---- the example file ------------------------------------------------------

#[test]
fn example_parses_to_the_default() {
    let example = parse(EXAMPLE_TOML).unwrap();
    assert_eq!(example, Config::default());
    example.validate().unwrap();
}

/// Key paths of a TOML value; array elements are written `[]`.
fn key_paths(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                key_paths(&path, v, out);
            }
        }
        toml::Value::Array(items) => {
            for item in items {
                key_paths(&format!("{prefix}[]"), item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn example_sets_every_key_explicitly() {
    let default = toml::Value::try_from(Config::default()).unwrap();
    let example: toml::Value = toml::from_str(EXAMPLE_TOML).unwrap();
    let (mut want, mut have) = (BTreeSet::new(), BTreeSet::new());
    key_paths("", &default, &mut want);
    key_paths("", &example, &mut have);
    let missing: Vec<_> = want.difference(&have).collect();
    assert!(missing.is_empty(), "config.toml.example lacks {missing:?}");
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(extra.is_empty(), "config.toml.example has extra {extra:?}");
}

#[test]
fn example_mentions_keys_without_defaults() {
    // Options that default to None are not serialized; they must still be
    // documented, commented out.
    let config = Config {
        data_dir: Some("/var/lib/dittofs".into()),
        ..Config::default()
    };
    let value = toml::Value::try_from(&config).unwrap();
    let mut keys = BTreeSet::new();
    key_paths("", &value, &mut keys);
    let leaves = keys.iter().filter(|k| {
        !keys.iter().any(|other| {
            other.starts_with(&format!("{k}.")) || other.starts_with(&format!("{k}[]"))
        })
    });
    for key in leaves {
        let leaf = key.rsplit('.').next().unwrap().trim_end_matches("[]");
        assert!(
            EXAMPLE_TOML.contains(&format!("{leaf} = ")),
            "config.toml.example does not mention {key}"
        );
    }
    assert!(EXAMPLE_TOML.contains("# data_dir = "));
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(parse("").unwrap(), Config::default());
}

// ---- parse errors ----------------------------------------------------------

#[test]
fn type_error_names_key_and_position() {
    let err = parse("cores = 1\n[adapters.nfs]\nport = \"x\"\n").unwrap_err();
    let ConfigError::Parse {
        key, line, column, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(key, "adapters.nfs.port");
    assert_eq!(*line, Some(3));
    assert_eq!(*column, Some(8));
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/dittofs/config.toml:3:8: adapters.nfs.port: "),
        "{text}"
    );
}

#[test]
fn unknown_key_is_named() {
    let err = parse("[cache]\nblock_size = 4\n").unwrap_err();
    assert_eq!(err.key(), Some("cache.block_size"), "{err}");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn unknown_store_type_is_an_error() {
    let err = parse("[metadata_stores.x]\ntype = \"nosuch\"\n").unwrap_err();
    assert!(err.to_string().contains("nosuch"), "{err}");
    assert!(
        err.key().unwrap_or("").starts_with("metadata_stores"),
        "{err}"
    );
}

#[test]
fn syntax_error_has_a_line() {
    let err = parse("cores = 1\nlisten = \n").unwrap_err();
    let ConfigError::Parse { line, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*line, Some(2), "{err}");
}

#[test]
fn share_fields_are_indexed() {
    let err = parse("[[shares]]\nname = \"/a\"\n[[shares]]\nread_only = 3\n").unwrap_err();
    assert_eq!(err.key(), Some("shares[1].read_only"), "{err}");
}

#[test]
fn missing_file_is_a_read_error() {
    let err = Config::load(Path::new("/nonexistent/dittofs.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().starts_with("/nonexistent/dittofs.toml: "));
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("abc", 0), (1, 1));
    assert_eq!(line_column("a\nbc", 3), (2, 2));
    assert_eq!(line_column("é\né", 4), (2, 2));
}

// ---- validation rules ------------------------------------------------------

#[test]
fn default_is_valid() {
    Config::default().validate().unwrap();
}

#[test]
fn error_message_format_matches_the_documented_one() {
    let mut config = Config::default();
    config.shares[0].metadata_store = "foo".into();
    let err = config
        .validate()
        .unwrap_err()
        .in_file(Path::new("/etc/dittofs/config.toml"));
    assert_eq!(
        err.to_string(),
        "/etc/dittofs/config.toml: shares[0].metadata_store: \
         unknown metadata store \"foo\" (defined: default)"
    );
    let err = Config {
        shares: vec![],
        ..Config::default()
    }
    .validate()
    .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("<embedded default config>: shares: "));
}

#[test]
fn shares_required() {
    rejects(|c| c.shares.clear(), "shares", "at least one");
}

#[test]
fn share_names() {
    for bad in [
        "export", "/", "/a/", "/a/b", "//a", "/..", "/.", "/a..b", "/a\\b", "/a:b", "/a*", "/ a",
        "/a ", "/a\u{7}", "",
    ] {
        rejects(|c| c.shares[0].name = bad.into(), "shares[0].name", "");
    }
    rejects(
        |c| c.shares[0].name = format!("/{}", "x".repeat(81)),
        "shares[0].name",
        "longer than 80",
    );
    for good in [
        "/export",
        "/a",
        "/build-cache_2",
        "/données",
        "/a.b",
        "/my share",
    ] {
        accepts(|c| c.shares[0].name = good.into());
    }
}

#[test]
fn share_names_unique_ignoring_case() {
    rejects(
        |c| {
            let mut second = c.shares[0].clone();
            second.name = "/EXPORT".into();
            c.shares.push(second);
        },
        "shares[1].name",
        "more than once",
    );
    accepts(|c| {
        let mut second = c.shares[0].clone();
        second.name = "/other".into();
        c.shares.push(second);
    });
}

#[test]
fn share_stores_must_exist() {
    rejects(
        |c| c.shares[0].metadata_store = "foo".into(),
        "shares[0].metadata_store",
        "(defined: default)",
    );
    rejects(
        |c| c.shares[0].block_store = "bar".into(),
        "shares[0].block_store",
        "unknown block store \"bar\" (defined: default)",
    );
    rejects(
        |c| c.block_stores.clear(),
        "shares[0].block_store",
        "(defined: none)",
    );
}

#[test]
fn allowed_clients_are_cidrs() {
    rejects(
        |c| c.shares[0].allowed_clients = vec!["10.0.0.0/8".into(), "10.0.0.0/40".into()],
        "shares[0].allowed_clients[1]",
        "not a CIDR",
    );
    rejects(
        |c| c.shares[0].allowed_clients = vec!["lan".into()],
        "shares[0].allowed_clients[0]",
        "\"lan\"",
    );
    accepts(|c| {
        c.shares[0].allowed_clients = vec!["10.0.0.0/8".into(), "fd00::/8".into(), "::1".into()]
    });
}

#[test]
fn root_mode_bounded() {
    rejects(
        |c| c.shares[0].root_mode = 0o10000,
        "shares[0].root_mode",
        "0o7777",
    );
    accepts(|c| c.shares[0].root_mode = 0o7777);
    accepts(|c| c.shares[0].root_mode = 0);
}

#[test]
fn anon_ids_any() {
    accepts(|c| {
        c.shares[0].anon_uid = u32::MAX;
        c.shares[0].anon_gid = 0;
    });
}

#[test]
fn ports() {
    rejects(|c| c.adapters.nfs.port = 0, "adapters.nfs.port", "not be 0");
    rejects(
        |c| {
            c.adapters.smb.enabled = true;
            c.adapters.smb.port = 0;
        },
        "adapters.smb.port",
        "not be 0",
    );
    rejects(
        |c| {
            c.adapters.smb.enabled = true;
            c.adapters.smb.port = c.adapters.nfs.port;
        },
        "adapters.smb.port",
        "also adapters.nfs.port",
    );
    // Same port is fine while SMB is disabled.
    accepts(|c| c.adapters.smb.port = c.adapters.nfs.port);
    accepts(|c| c.adapters.smb.enabled = true);
}

#[test]
fn some_adapter_enabled() {
    rejects(|c| c.adapters.nfs.enabled = false, "adapters", "no adapter");
    accepts(|c| {
        c.adapters.nfs.enabled = false;
        c.adapters.smb.enabled = true;
    });
}

#[test]
fn cores_bounded() {
    rejects(|c| c.cores = 1025, "cores", "1024");
    accepts(|c| c.cores = 1024);
    accepts(|c| c.cores = 0);
}

#[test]
fn effective_cores() {
    let config = Config {
        cores: 3,
        ..Config::default()
    };
    assert_eq!(config.effective_cores(), 3);
    assert!(Config::default().effective_cores() >= 1);
}

#[test]
fn record_bytes_bounds() {
    let key = "adapters.nfs.record_bytes_max";
    rejects(
        |c| c.adapters.nfs.record_bytes_max = 64 * 1024,
        key,
        "outside",
    );
    rejects(
        |c| c.adapters.nfs.record_bytes_max = 1024 * 1024 + 4095,
        key,
        "",
    );
    rejects(
        |c| c.adapters.nfs.record_bytes_max = 64 * 1024 * 1024 + 1,
        key,
        "",
    );
    accepts(|c| c.adapters.nfs.record_bytes_max = 1024 * 1024 + 4096);
    accepts(|c| c.adapters.nfs.record_bytes_max = 64 * 1024 * 1024);
}

#[test]
fn requests_in_flight_bounds() {
    let key = "adapters.nfs.requests_in_flight_max";
    rejects(
        |c| c.adapters.nfs.requests_in_flight_max = 0,
        key,
        "1..=4096",
    );
    rejects(|c| c.adapters.nfs.requests_in_flight_max = 4097, key, "");
    accepts(|c| c.adapters.nfs.requests_in_flight_max = 1);
    accepts(|c| c.adapters.nfs.requests_in_flight_max = 4096);
}

#[test]
fn block_bytes_power_of_two_in_range() {
    let key = "cache.block_bytes";
    rejects(|c| c.cache.block_bytes = 3 << 20, key, "power of two");
    rejects(|c| c.cache.block_bytes = 32 << 10, key, "");
    rejects(|c| c.cache.block_bytes = 128 << 20, key, "");
    rejects(|c| c.cache.block_bytes = 0, key, "");
    accepts(|c| c.cache.block_bytes = 64 << 10);
    accepts(|c| {
        c.cache.block_bytes = 64 << 20;
        c.cache.shard_bytes_max = 256 << 20;
        c.wal.segment_bytes = 64 << 20;
    });
}

#[test]
fn shard_holds_four_blocks() {
    rejects(
        |c| c.cache.shard_bytes_max = 4 * c.cache.block_bytes - 1,
        "cache.shard_bytes_max",
        "4 × cache.block_bytes",
    );
    accepts(|c| c.cache.shard_bytes_max = 4 * c.cache.block_bytes);
}

#[test]
fn wal_segment_rules() {
    rejects(
        |c| c.wal.segment_bytes = c.cache.block_bytes - 4096,
        "wal.segment_bytes",
        "less than cache.block_bytes",
    );
    rejects(
        |c| c.wal.segment_bytes = (64 << 20) + 512,
        "wal.segment_bytes",
        "multiple of 4096",
    );
    rejects(|c| c.wal.segments_per_core = 0, "wal.segments_per_core", "");
    accepts(|c| c.wal.segment_bytes = c.cache.block_bytes);
}

#[test]
fn log_levels() {
    for level in ["error", "warn", "info", "debug", "trace"] {
        accepts(|c| c.logging.level = level.into());
    }
    for level in ["INFO", "verbose", "", "off"] {
        rejects(
            |c| c.logging.level = level.into(),
            "logging.level",
            "unknown level",
        );
    }
}

// ---- default path ----------------------------------------------------------

#[test]
fn default_path_selection() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    };
    assert_eq!(
        default_config_path_from(env(&[("HOME", "/home/u")])),
        Path::new("/home/u/.config/dittofs/config.toml")
    );
    assert_eq!(
        default_config_path_from(env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x")])),
        Path::new("/x/dittofs/config.toml")
    );
    assert_eq!(
        default_config_path_from(env(&[("HOME", "/home/u"), ("INVOCATION_ID", "abc")])),
        Path::new(SYSTEM_CONFIG_PATH)
    );
    assert_eq!(
        default_config_path_from(env(&[("HOME", "/home/u"), ("NOTIFY_SOCKET", "/run/n")])),
        Path::new(SYSTEM_CONFIG_PATH)
    );
    assert_eq!(
        default_config_path_from(env(&[])),
        Path::new(SYSTEM_CONFIG_PATH)
    );
}

#[test]
fn default_data_dir_selection() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    };
    assert_eq!(
        default_data_dir_from(env(&[("HOME", "/home/u")])),
        Path::new("/home/u/.local/share/dittofs")
    );
    assert_eq!(
        default_data_dir_from(env(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "/x")])),
        Path::new("/x/dittofs")
    );
    assert_eq!(
        default_data_dir_from(env(&[("HOME", "/home/u"), ("INVOCATION_ID", "abc")])),
        Path::new(SYSTEM_DATA_DIR)
    );
    assert_eq!(
        default_data_dir_from(env(&[
            ("INVOCATION_ID", "abc"),
            ("STATE_DIRECTORY", "/var/lib/ditto2:/var/lib/other")
        ])),
        Path::new("/var/lib/ditto2")
    );
    assert_eq!(default_data_dir_from(env(&[])), Path::new(SYSTEM_DATA_DIR));
}

#[test]
fn persistent_store_types_parse() {
    let config = parse(
        "[metadata_stores.default]\ntype = \"lmdb\"\npath = \"/m\"\n\
         [metadata_stores.fast]\ntype = \"memory\"\n\
         [block_stores.default]\ntype = \"filesystem\"\npath = \"/b\"\n",
    )
    .unwrap();
    assert_eq!(
        config.metadata_stores["default"],
        MetadataStoreConfig::Lmdb {
            path: Some("/m".into()),
            map_size_bytes: 1 << 30,
            map_size_max_bytes: 1 << 38,
        }
    );
    assert_eq!(
        config.block_stores["default"],
        BlockStoreConfig::Filesystem {
            path: Some("/b".into())
        }
    );
    config.validate().unwrap();
    assert!(!config.uses_data_dir());
    assert!(Config::default().uses_data_dir());
    assert_eq!(
        default_store_path(Path::new("/d"), "meta", "default"),
        Path::new("/d/meta")
    );
    assert_eq!(
        default_store_path(Path::new("/d"), "meta", "x"),
        Path::new("/d/meta-x")
    );
}

#[test]
fn lmdb_map_sizes_are_checked() {
    let small =
        parse("[metadata_stores.default]\ntype = \"lmdb\"\nmap_size_bytes = 4096\n").unwrap();
    let err = small.validate().unwrap_err().to_string();
    assert!(
        err.contains("metadata_stores.default.map_size_bytes"),
        "{err}"
    );
    let inverted = parse(
        "[metadata_stores.default]\ntype = \"lmdb\"\nmap_size_bytes = 1073741824\n\
         map_size_max_bytes = 1048576\n",
    )
    .unwrap();
    let err = inverted.validate().unwrap_err().to_string();
    assert!(err.contains("map_size_max_bytes"), "{err}");
}
// ---- postgres metadata stores ----------------------------------------------

#[test]
fn postgres_store_parses_with_defaults_and_validates() {
    let text = "[metadata_stores.pg]\ntype = \"postgres\"\n\
                url = \"postgres://dittofs@127.0.0.1:5432/dittofs\"\n\
                [[shares]]\nname = \"/export\"\nmetadata_store = \"pg\"\n";
    let c = parse(text).unwrap();
    assert_eq!(
        c.metadata_stores["pg"],
        MetadataStoreConfig::Postgres {
            url: "postgres://dittofs@127.0.0.1:5432/dittofs".into(),
            pool_size: 8,
            connect_timeout_ms: 5000,
            statement_timeout_ms: 30_000,
        }
    );
    c.validate().unwrap();
}

#[test]
fn postgres_store_rules() {
    let bad = |extra: &str, key: &str, fragment: &str| {
        let text = format!("[metadata_stores.pg]\ntype = \"postgres\"\n{extra}\n");
        let err = parse(&text)
            .and_then(|c| c.validate())
            .expect_err(extra)
            .to_string();
        assert!(
            err.contains(key) && err.contains(fragment),
            "{extra}: {err}"
        );
    };
    bad("", "url", "missing field");
    bad(
        "url = \"\"",
        "metadata_stores.pg.url",
        "must name the database",
    );
    bad(
        "url = \"host=a port=notaport\"",
        "metadata_stores.pg.url",
        "not a PostgreSQL",
    );
    bad(
        "url = \"host=a\"\npool_size = 0",
        "metadata_stores.pg.pool_size",
        "outside",
    );
    bad(
        "url = \"host=a\"\nconnect_timeout_ms = 0",
        "connect_timeout_ms",
        "at least 1",
    );
    bad(
        "url = \"host=a\"\nsurprise = 1",
        "surprise",
        "unknown field",
    );
}

#[test]
fn read_ahead_bounded_and_durability_parses() {
    rejects(
        |c| c.cache.read_ahead_blocks = 65,
        "cache.read_ahead_blocks",
        "64",
    );
    accepts(|c| c.cache.read_ahead_blocks = 0);
    accepts(|c| c.shares[0].durability = super::Durability::Remote);
}

#[test]
fn lease_break_waits_bounded() {
    rejects(
        |c| c.adapters.smb.lease_break_wait_ms = 60_001,
        "adapters.smb.lease_break_wait_ms",
        "at most 60000",
    );
    rejects(
        |c| c.adapters.smb.nfs_lease_break_wait_ms = 60_001,
        "adapters.smb.nfs_lease_break_wait_ms",
        "at most 60000",
    );
    accepts(|c| {
        c.adapters.smb.lease_break_wait_ms = 35_000;
        c.adapters.smb.nfs_lease_break_wait_ms = 0;
    });
}
