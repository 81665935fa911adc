//! Share permissions, `allowed_clients` and the guest policy on the SMB side,
//! driven by Samba's `smbclient` against the real server, with users and
//! grants made by the real CLI (`dittofs user add|grant`); and SIGHUP
//! reloading a share's `default_permission` and `allowed_clients` for SMB and
//! NFS without a restart.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::nfs_client::NfsClient;
use common::{dittofs_bin, free_port, lmdb_config, require_tool, run_bounded, Server, TempDir};

const PASSWORD: &str = "Secr3t-pass";
const SMB_LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(60);

/// The server config: LMDB stores under `dir`, SMB on `smb_port`, the share
/// settings `share_extra` appended to `[[shares]]`, `identity_extra` in
/// `[identity]`.
fn config(port: u16, dir: &Path, smb_port: u16, share_extra: &str, identity_extra: &str) -> String {
    format!(
        "{}{share_extra}\n[adapters.smb]\nenabled = true\nport = {smb_port}\n\n[api]\nport = 0\n\n\
         [metrics]\nport = 0\n\n[identity]\nbcrypt_cost = 4\n{identity_extra}\n",
        lmdb_config(port, dir)
    )
}

/// Runs `dittofs ARGS --config CONF` on the stopped server's store.
fn cli(conf: &Path, args: &[&str], stdin: &str) {
    let mut child = Command::new(dittofs_bin())
        .args(args)
        .arg("--config")
        .arg(conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dittofs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait dittofs");
    assert!(out.status.success(), "dittofs {args:?}: {out:?}");
}

/// Adds `users` (name, uid, grant on `export` or "" for none) with the CLI.
fn add_users(data: &Path, users: &[(&str, u32, &str)]) {
    let conf = data.join("users.toml");
    fs::write(&conf, config(free_port(), data, free_port(), "", "")).expect("write config");
    for (name, uid, grant) in users {
        cli(
            &conf,
            &[
                "user",
                "add",
                name,
                "--uid",
                &uid.to_string(),
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        if !grant.is_empty() {
            cli(&conf, &["user", "grant", name, "export", grant], "");
        }
    }
}

/// smbclient as `user` (None: anonymous, `-N`) on //127.0.0.1/export; returns
/// (succeeded without an NT_STATUS error, output).
fn smbclient(port: u16, user: Option<&str>, cwd: &Path, cmds: &str) -> (bool, String) {
    let mut cmd = Command::new("smbclient");
    cmd.current_dir(cwd)
        .arg("//127.0.0.1/export")
        .arg("-p")
        .arg(port.to_string())
        .arg("--option=client min protocol=SMB2_02")
        .arg("-c")
        .arg(cmds);
    match user {
        Some(u) => cmd.arg("-U").arg(format!("{u}%{PASSWORD}")),
        None => cmd.arg("-N"),
    };
    let out = run_bounded(&mut cmd, SMB_LIMIT);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("NT_STATUS_"), text)
}

fn start(data: &Path, smb_port: u16, share_extra: &str, identity_extra: &str) -> Server {
    let (share_extra, identity_extra) = (share_extra.to_owned(), identity_extra.to_owned());
    Server::start_on_data(data, move |port, dir| {
        config(port, dir, smb_port, &share_extra, &identity_extra)
    })
}

#[test]
fn read_grant_gets_but_cannot_put_none_cannot_connect_guest_off_refused() {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-access");
    add_users(
        data.path(),
        &[
            ("writer", 2001, ""),
            ("reader", 2002, "read"),
            ("locked", 2003, "none"),
        ],
    );
    let smb_port = free_port();
    let server = start(
        data.path(),
        smb_port,
        "default_permission = \"read-write\"\n",
        "",
    );
    let work = TempDir::new("smb-access-work");
    let local = work.path();
    fs::write(local.join("up.txt"), b"hello from writer\n").unwrap();

    // No grant: the share default (read-write).
    let (ok, out) = smbclient(smb_port, Some("writer"), local, "put up.txt f.txt");
    assert!(ok, "writer put:\n{out}");

    // read: get works, put, mkdir, rm and rename are refused.
    let (ok, out) = smbclient(smb_port, Some("reader"), local, "get f.txt down.txt");
    assert!(ok, "reader get:\n{out}");
    assert_eq!(
        fs::read(local.join("down.txt")).unwrap(),
        b"hello from writer\n"
    );
    for cmds in [
        "put up.txt g.txt",
        "mkdir d",
        "rm f.txt",
        "rename f.txt h.txt",
    ] {
        let (ok, out) = smbclient(smb_port, Some("reader"), local, cmds);
        assert!(
            !ok && out.contains("NT_STATUS_ACCESS_DENIED"),
            "reader {cmds:?} not refused:\n{out}"
        );
    }
    let (ok, out) = smbclient(smb_port, Some("reader"), local, "ls");
    assert!(ok && out.contains("f.txt"), "reader ls:\n{out}");
    assert!(!out.contains("g.txt") && !out.contains("h.txt"), "{out}");

    // none: the tree connect is refused.
    let (ok, out) = smbclient(smb_port, Some("locked"), local, "ls");
    assert!(
        !ok && out.contains("NT_STATUS_ACCESS_DENIED"),
        "locked connected:\n{out}"
    );

    // guest = "off" (the default): anonymous and unknown users are refused.
    let (ok, out) = smbclient(smb_port, None, local, "ls");
    assert!(
        !ok && out.contains("NT_STATUS_LOGON_FAILURE"),
        "anonymous:\n{out}"
    );
    let (ok, out) = smbclient(smb_port, Some("nosuchuser"), local, "ls");
    assert!(
        !ok && out.contains("NT_STATUS_LOGON_FAILURE"),
        "unknown user:\n{out}"
    );
    drop(server);

    // guest = "read": anonymous lists and reads, cannot write.
    let server = start(
        data.path(),
        smb_port,
        "default_permission = \"read-write\"\n",
        "guest = \"read\"",
    );
    let (ok, out) = smbclient(smb_port, None, local, "ls; get f.txt guest.txt");
    assert!(
        ok && out.contains("f.txt"),
        "anonymous with guest=read:\n{out}"
    );
    assert_eq!(
        fs::read(local.join("guest.txt")).unwrap(),
        b"hello from writer\n"
    );
    let (ok, out) = smbclient(smb_port, None, local, "put up.txt guest-put.txt");
    assert!(
        !ok && out.contains("NT_STATUS_ACCESS_DENIED"),
        "guest put:\n{out}"
    );
    // A known user with a wrong password is not turned into a guest.
    let (ok, out) = run_wrong_password(smb_port, local);
    assert!(!ok && out.contains("NT_STATUS_LOGON_FAILURE"), "{out}");
    let log = server.log_text();
    assert!(log.contains("SMB guest session"), "{log}");
}

fn run_wrong_password(port: u16, cwd: &Path) -> (bool, String) {
    let out = run_bounded(
        Command::new("smbclient")
            .current_dir(cwd)
            .arg("//127.0.0.1/export")
            .arg("-p")
            .arg(port.to_string())
            .arg("-U")
            .arg("writer%wrong")
            .arg("-c")
            .arg("ls"),
        SMB_LIMIT,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("NT_STATUS_"), text)
}

/// Sends SIGHUP to the server and returns the reload log line that follows
/// the `seen` earlier ones.
fn sighup(server: &Server, seen: usize) -> String {
    let pid = libc::pid_t::try_from(server.pid()).unwrap();
    // SAFETY: kill(2) takes plain integers; `pid` is our own running child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + WAIT;
    loop {
        let log = server.log_text();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("reload: ")).collect();
        if lines.len() > seen {
            return lines[seen].to_owned();
        }
        assert!(Instant::now() < deadline, "no reload line:\n{log}");
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_default_permission_and_allowed_clients() {
    require_tool("smbclient", "smbclient");
    let dir = TempDir::new("smb-reload");
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    add_users(&data, &[("carol", 2001, "")]);
    let (port, smb_port) = (free_port(), free_port());
    let conf = dir.path().join("dittofs.toml");
    let write_conf = |share_extra: &str| {
        fs::write(&conf, config(port, &data, smb_port, share_extra, "")).unwrap();
    };
    write_conf("default_permission = \"read\"\n");
    let mut cmd = Command::new(dittofs_bin());
    cmd.arg("start").arg("--config").arg(&conf);
    cmd.env_remove("RUST_LOG");
    let server = Server::start_command(&mut cmd, port);
    let work = TempDir::new("smb-reload-work");
    let local = work.path();
    fs::write(local.join("up.txt"), b"x\n").unwrap();

    // default read: carol (no grant) cannot put; an NFS caller cannot create.
    let (ok, out) = smbclient(smb_port, Some("carol"), local, "put up.txt a.txt");
    assert!(!ok && out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    let mut nfs = NfsClient::connect_as(port, 2001, 2001).unwrap();
    let root = nfs.root;
    assert!(
        nfs.create(root, "n1").unwrap().is_err(),
        "NFS create at read"
    );

    // default read-write, live: a new SMB connection puts, the NFS
    // connection made before the reload creates at its next request.
    write_conf("default_permission = \"read-write\"\n");
    let line = sighup(&server, 0);
    assert!(
        line.contains("applied: shares[0].default_permission (/export)")
            && !line.contains("needs a restart (running values kept): shares"),
        "{line}"
    );
    let (ok, out) = smbclient(smb_port, Some("carol"), local, "put up.txt a.txt");
    assert!(ok, "put after reload:\n{out}");
    assert!(nfs.create(root, "n1").unwrap().is_ok(), "NFS create at rw");

    // allowed_clients without loopback: SMB tree connect and NFS, the
    // existing connection included, are refused.
    write_conf("default_permission = \"read-write\"\nallowed_clients = [\"10.0.0.0/8\"]\n");
    let line = sighup(&server, 1);
    assert!(
        line.contains("applied: shares[0].allowed_clients (/export)"),
        "{line}"
    );
    let (ok, out) = smbclient(smb_port, Some("carol"), local, "ls");
    assert!(!ok && out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    assert!(
        nfs.getattr(root).unwrap().is_err(),
        "NFS after allowed_clients"
    );
    assert!(
        NfsClient::connect_as(port, 2001, 2001).is_err(),
        "MNT allowed"
    );

    // Something else in the share still needs a restart.
    write_conf(
        "default_permission = \"read-write\"\nallowed_clients = [\"10.0.0.0/8\"]\nanon_uid = 1234\n",
    );
    let line = sighup(&server, 2);
    assert!(
        line.contains("needs a restart (running values kept): shares[0] (/export)"),
        "{line}"
    );
}
