//! Runs every dittofs-perf workload briefly against the real dittofs binary (memory
//! stores, loopback) and checks zero errors, that the bound was honoured, and — with
//! `verify` — that every byte read back is the deterministic pattern written.

mod common;

use std::time::Duration;

use common::Server;
use dittofs_perf::{run, RunConfig, StableMode, Target, Workload};

fn config(server: &Server, w: Workload) -> RunConfig {
    let url = format!("nfs://127.0.0.1:{}/export", server.port);
    let mut c = RunConfig::new(Target::parse(&url, None).expect("url"), w);
    c.ops = Some(120);
    c.connections = 2;
    c.depth = 4;
    c.threads = 2;
    c.file_size_bytes = 2 << 20;
    c.files = 200;
    c.dir_entries = 300;
    c.bf_files = 120;
    c.bf_dirs = 12;
    c.verify = true;
    c
}

fn check(c: &RunConfig) -> dittofs_perf::RunReport {
    let r = run(c).unwrap_or_else(|e| panic!("{}: {e}", c.workload.name()));
    assert_eq!(
        r.error_count(),
        0,
        "{} had errors: {}",
        c.workload.name(),
        dittofs_perf::report::error_banner(&r)
    );
    assert!(!r.phases.is_empty());
    r
}

#[test]
fn every_workload_runs_clean_and_reads_back_its_pattern() {
    let server = Server::start();
    for w in Workload::ALL {
        let c = config(&server, w);
        let r = check(&c);
        let p = &r.phases[0];
        match w {
            Workload::BuildFarm => {
                let names: Vec<_> = r.phases.iter().map(|p| p.name.as_str()).collect();
                assert_eq!(names, ["bf-populate", "bf-compile", "bf-stat", "bf-delete"]);
                assert_eq!(r.phases[1].items, 120, "every source compiled");
                // 2 LOOKUP + 2 GETATTR per file.
                assert_eq!(r.phases[2].ops, 480);
            }
            // The op bound is exact (COMMITs are not part of it in unstable mode).
            _ => assert_eq!(p.ops, 120, "{}", w.name()),
        }
        match w {
            Workload::SeqRead | Workload::SeqWrite => assert_eq!(p.bytes, 120 << 20),
            Workload::RandRead | Workload::RandWrite => assert_eq!(p.bytes, 120 * 4096),
            Workload::Readdir => assert!(p.items >= 300, "a full listing at least"),
            _ => {}
        }
    }
}

#[test]
fn stable_modes_and_duration_bound() {
    let server = Server::start();
    for mode in [StableMode::Commit, StableMode::FileSync] {
        let mut c = config(&server, Workload::SeqWrite);
        c.stable = mode;
        check(&c);
        let mut c = config(&server, Workload::Create);
        c.stable = mode;
        check(&c);
    }
    let mut c = config(&server, Workload::RandRead);
    c.ops = None;
    c.duration = Some(Duration::from_millis(300));
    let r = check(&c);
    assert!(r.phases[0].secs < 5.0 && r.phases[0].ops > 0);
}

#[test]
fn a_missing_export_fails_setup() {
    let server = Server::start();
    let url = format!("nfs://127.0.0.1:{}/no-such-export", server.port);
    let c = RunConfig::new(Target::parse(&url, None).unwrap(), Workload::Stat);
    assert!(run(&c).is_err());
}
