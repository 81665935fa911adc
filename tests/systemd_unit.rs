//! The systemd unit and the installer: `systemd-analyze verify` passes on the
//! unit (pointed at the built binary, since verify checks that ExecStart
//! exists), and scripts/install.sh stages binary, unit, example config and the
//! user declaration into a temporary root, idempotently, and changes nothing
//! with --dry-run.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{dittofs_bin, require_tool, run_bounded, TempDir};

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    require_tool("systemd-analyze", "systemd");
    let dir = TempDir::new("unit");
    let unit = fs::read_to_string(repo().join("systemd/dittofs.service")).unwrap();
    for key in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "StateDirectory=dittofs",
        "ConfigurationDirectory=dittofs",
        "io_uring_setup io_uring_enter io_uring_register",
    ] {
        assert!(unit.contains(key), "unit lacks {key}");
    }
    let bin = dittofs_bin();
    let path = dir.path().join("dittofs.service");
    fs::write(
        &path,
        unit.replace("/usr/local/bin/dittofs", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = run_bounded(
        Command::new("systemd-analyze").arg("verify").arg(&path),
        TOOL_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stderr}");
    assert!(
        !stderr.contains("dittofs.service:"),
        "verify warned about the unit: {stderr}"
    );
}

fn install(args: &[&str]) -> std::process::Output {
    let out = run_bounded(
        Command::new(repo().join("scripts/install.sh"))
            .args(args)
            .arg("--bin")
            .arg(dittofs_bin()),
        TOOL_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "install.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn install_sh_stages_a_root_idempotently() {
    let dir = TempDir::new("install");
    let root = dir.path().join("root");
    let root_s = root.to_str().unwrap();
    install(&["--destdir", root_s, "--prefix", "/opt/dittofs"]);
    let bin = root.join("opt/dittofs/bin/dittofs");
    assert_eq!(fs::read(&bin).unwrap(), fs::read(dittofs_bin()).unwrap());
    let unit = fs::read_to_string(root.join("etc/systemd/system/dittofs.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/opt/dittofs/bin/dittofs start"),
        "{unit}"
    );
    let config = root.join("etc/dittofs/config.toml");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        dittofs::config::EXAMPLE_TOML
    );
    assert!(root
        .join("opt/dittofs/share/doc/dittofs/config.toml.example")
        .exists());
    let sysusers = fs::read_to_string(root.join("usr/lib/sysusers.d/dittofs.conf")).unwrap();
    assert!(sysusers.starts_with("u dittofs "), "{sysusers}");

    // Again, after the operator edited the config: it is kept.
    fs::write(&config, "cores = 3\n").unwrap();
    let out = install(&["--destdir", root_s, "--prefix", "/opt/dittofs"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("exists; left as it is"));
    assert_eq!(fs::read_to_string(&config).unwrap(), "cores = 3\n");

    // --dry-run writes nothing.
    let dry = dir.path().join("dry");
    let out = install(&["--destdir", dry.to_str().unwrap(), "--dry-run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would run: install"));
    assert!(!dry.exists(), "--dry-run created {}", dry.display());
}
