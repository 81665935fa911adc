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

/// The SMB client path: every SMB workload (all but build-farm) runs against the real
/// server (LMDB + filesystem, [adapters.smb]) with zero errors, exact op bounds and
/// verified read-back, unsigned over 3.1.1 and signed over 3.1.1, 3.0.2 and 2.1; a
/// wrong password fails setup.
#[test]
fn smb_workloads_run_clean_signed_and_unsigned() {
    use dittofs_perf::smb::{SmbDialect, SmbOptions};
    let data = common::TempDir::new("perf-smb");
    common::add_smb_user(data.path(), "bench", "Bench-pass-1", 1000);
    let smb_port = common::free_port();
    let _server = Server::start_on_data(data.path(), move |port, dir| {
        format!(
            "{}\n[adapters.smb]\nenabled = true\nport = {smb_port}\n\n[api]\nport = 0\n\n[metrics]\nport = 0\n",
            common::lmdb_config(port, dir)
        )
    });
    let url = format!("smb://127.0.0.1:{smb_port}/export");
    let cfg = |w: Workload, dialect: SmbDialect, sign: bool, password: &str| {
        let mut c = RunConfig::new(Target::parse_smb(&url).expect("url"), w);
        c.smb = Some(SmbOptions {
            user: "bench".into(),
            password: password.into(),
            domain: String::new(),
            share: "export".into(),
            dialect,
            sign,
        });
        c.ops = Some(120);
        c.connections = 2;
        c.depth = 4;
        c.file_size_bytes = 2 << 20;
        c.files = 100;
        c.dir_entries = 150;
        c.verify = true;
        c
    };
    for w in Workload::ALL {
        if w == Workload::BuildFarm {
            assert!(run(&cfg(w, SmbDialect::Smb311, false, "Bench-pass-1")).is_err());
            continue;
        }
        let r = check(&cfg(w, SmbDialect::Smb311, false, "Bench-pass-1"));
        let p = &r.phases[0];
        assert_eq!(p.ops, 120, "{}", w.name());
        match w {
            Workload::SeqRead | Workload::SeqWrite => assert_eq!(p.bytes, 120 << 20),
            Workload::RandRead | Workload::RandWrite => assert_eq!(p.bytes, 120 * 4096),
            Workload::Readdir => assert!(p.items >= 150, "a full listing at least"),
            _ => {}
        }
    }
    for d in [SmbDialect::Smb311, SmbDialect::Smb302, SmbDialect::Smb21] {
        for w in [Workload::SeqRead, Workload::Create] {
            check(&cfg(w, d, true, "Bench-pass-1"));
        }
    }
    assert!(run(&cfg(Workload::Stat, SmbDialect::Smb311, false, "wrong")).is_err());
}
