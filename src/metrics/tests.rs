//! The exposition parsed back, and per-core recording summed on scrape.
//!
//! The registry is process-wide, so every test works on differences between
//! two scrapes and uses operation/label values no other test touches.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

/// `name{labels}` → value, and the declared type of every family.
pub(crate) struct Parsed {
    pub samples: BTreeMap<String, f64>,
    pub types: BTreeMap<String, String>,
}

/// A strict parser of the text format subset we write.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    let (mut current, mut finished) = (None::<String>, std::collections::BTreeSet::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(helped.insert(name.to_owned()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none());
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name {name}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample {name} before its TYPE");
        if current.as_deref() != Some(family) {
            assert!(
                finished.insert(family.to_owned()),
                "samples of {family} not contiguous"
            );
            current = Some(family.to_owned());
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "duplicate {series}"
        );
    }
    Parsed { samples, types }
}

fn value(p: &Parsed, series: &str) -> f64 {
    p.samples.get(series).copied().unwrap_or(0.0)
}

#[test]
fn exposition_parses_and_histograms_are_cumulative() {
    init(4, true);
    request(Protocol::Mount, 5, 0, Duration::from_micros(70));
    request(Protocol::Mount, 5, 0, Duration::from_secs(60));
    let p = parse(&exposition::render());
    assert_eq!(p.types["dittofs_request_duration_seconds"], "histogram");
    assert_eq!(p.types["dittofs_requests_total"], "counter");
    let base = r#"protocol="mount",op="EXPORT""#;
    let count = value(
        &p,
        &format!("dittofs_request_duration_seconds_count{{{base}}}"),
    );
    let inf = value(
        &p,
        &format!("dittofs_request_duration_seconds_bucket{{{base},le=\"+Inf\"}}"),
    );
    assert!(count >= 2.0);
    assert_eq!(count, inf);
    // Buckets never decrease.
    let mut last = 0.0;
    for b in dittofs_shards::stats::LATENCY_BOUNDS_US {
        let le = format!("{}", *b as f64 / 1e6);
        let v = value(
            &p,
            &format!("dittofs_request_duration_seconds_bucket{{{base},le=\"{le}\"}}"),
        );
        assert!(v >= last, "bucket {le} decreased");
        last = v;
    }
    assert!(inf > last, "the 60 s request is only in +Inf");
    let sum = value(
        &p,
        &format!("dittofs_request_duration_seconds_sum{{{base}}}"),
    );
    assert!(sum >= 60.0);
}

#[test]
fn per_core_records_are_summed_on_scrape() {
    init(4, true);
    let series = r#"dittofs_requests_total{protocol="nfs",op="PATHCONF"}"#;
    let errors = r#"dittofs_request_errors_total{protocol="nfs",op="PATHCONF",status="STALE"}"#;
    let before = parse(&exposition::render());
    let threads: Vec<_> = (0..3)
        .map(|core| {
            std::thread::spawn(move || {
                bind_core(core);
                for i in 0..100u32 {
                    let status = if i % 10 == 0 {
                        ops::nfs_status_index(70)
                    } else {
                        0
                    };
                    request(Protocol::Nfs, 20, status, Duration::from_micros(5));
                }
                written_bytes(Protocol::Smb, 1000);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each core wrote into its own slot.
    for core in 0..3 {
        let n =
            per_core()[core].protocols[Protocol::Nfs.index()].requests[20].load(Ordering::Relaxed);
        assert!(n >= 100, "core {core} has {n}");
    }
    let after = parse(&exposition::render());
    assert_eq!(value(&after, series) - value(&before, series), 300.0);
    assert_eq!(value(&after, errors) - value(&before, errors), 30.0);
    let smb = r#"dittofs_written_bytes_total{protocol="smb"}"#;
    assert_eq!(value(&after, smb) - value(&before, smb), 3000.0);
}

#[test]
fn label_values_are_escaped_and_rate_limit_keys_bounded() {
    init(4, true);
    std::thread::spawn(|| {
        bind_core(3);
        rate_limited(Protocol::Nfs, "user", "we\"ird\\name\n");
        for i in 0..RATE_LIMITED_KEYS_MAX + 10 {
            rate_limited(Protocol::Smb, "client", &format!("10.9.0.{i}"));
        }
    })
    .join()
    .unwrap();
    let text = exposition::render();
    let p = parse(&text);
    let weird = r#"dittofs_rate_limited_total{protocol="nfs",kind="user",who="we\"ird\\name\n"}"#;
    assert_eq!(value(&p, weird), 1.0);
    assert!(per_core()[3].rate_limited.lock().unwrap().len() <= RATE_LIMITED_KEYS_MAX + 1);
    let other = r#"dittofs_rate_limited_total{protocol="smb",kind="client",who="other"}"#;
    assert!(value(&p, other) >= 10.0);
}

#[test]
fn shard_counters_are_exported_per_shard() {
    init(4, true);
    std::thread::spawn(|| {
        bind_core(2);
        let s = dittofs_shards::stats::local();
        dittofs_shards::stats::add(&s.cache_hits, 3);
        dittofs_shards::stats::add(&s.cache_misses, 1);
        s.wal_batch.observe(5);
    })
    .join()
    .unwrap();
    let p = parse(&exposition::render());
    assert!(value(&p, r#"dittofs_cache_hits_total{shard="2"}"#) >= 3.0);
    let ratio = value(&p, r#"dittofs_cache_hit_ratio{shard="2"}"#);
    assert!(ratio > 0.0 && ratio <= 1.0);
    assert!(
        value(
            &p,
            r#"dittofs_wal_group_commit_batch_records_bucket{shard="2",le="8"}"#
        ) >= 1.0
    );
    assert_eq!(p.types["dittofs_wal_fsync_duration_seconds"], "histogram");
}
