//! The real `dittofs` binary: exit statuses and messages an operator (or a
//! systemd unit) depends on. Every run gets a scratch `$HOME` and no systemd
//! variables, so the default config path never touches the real machine.

use std::path::Path;
use std::process::{Command, Output};

fn dittofs(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dittofs"))
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("INVOCATION_ID")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .output()
        .expect("run dittofs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version() {
    let home = tempfile::tempdir().unwrap();
    let out = dittofs(home.path(), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("dittofs "), "{}", stdout(&out));
}

#[test]
fn check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.toml");
    std::fs::write(&path, "cores = 2\n[adapters.nfs]\nport = 2049\n").unwrap();
    let out = dittofs(
        dir.path(),
        &["config", "check", "--config", path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("config OK: {}", path.display())
    );
}

#[test]
fn check_rejects_a_bad_file_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[shares]]\nname = \"/e\"\nmetadata_store = \"foo\"\n",
    )
    .unwrap();
    let out = dittofs(
        dir.path(),
        &["config", "check", "--config", path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        err.trim(),
        format!(
            "error: {}: shares[0].metadata_store: unknown metadata store \"foo\" (defined: default)",
            path.display()
        )
    );
}

#[test]
fn check_reports_type_errors_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "[adapters.nfs]\nport = \"x\"\n").unwrap();
    let out = dittofs(
        dir.path(),
        &["config", "check", "-c", path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:2:8: adapters.nfs.port: ", path.display())),
        "{err}"
    );
}

#[test]
fn init_writes_a_file_that_check_accepts_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/config.toml");
    let p = path.to_str().unwrap();

    let out = dittofs(dir.path(), &["init", "--config", p]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("[[shares]]"));

    let out = dittofs(dir.path(), &["config", "check", "--config", p]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    std::fs::write(&path, "# mine\n").unwrap();
    let out = dittofs(dir.path(), &["init", "--config", p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    let out = dittofs(dir.path(), &["init", "--config", p, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
}

#[test]
fn init_without_config_uses_the_home_default() {
    let home = tempfile::tempdir().unwrap();
    let out = dittofs(home.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(home.path().join(".config/dittofs/config.toml").is_file());
    let out = dittofs(home.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn check_without_any_file_is_a_config_error() {
    let home = tempfile::tempdir().unwrap();
    let out = dittofs(home.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("dittofs init"), "{}", stderr(&out));
}

#[test]
fn start_with_a_missing_explicit_config_is_a_config_error() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("missing.toml");
    let out = dittofs(
        home.path(),
        &["start", "--config", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn start_names_the_flag_behind_a_bad_value() {
    let home = tempfile::tempdir().unwrap();
    let out = dittofs(home.path(), &["start", "--cores", "5000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cores (set by --cores)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["start", "--nfs-port", "notaport"][..],
        &["start", "--bogus"][..],
        &["frobnicate"][..],
    ] {
        let out = dittofs(home.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
