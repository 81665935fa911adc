//! The SMB front end driven by Samba's `smbclient` (a client nobody here wrote)
//! for each max protocol SMB2_02, SMB2_10, SMB3_00 and SMB3_11: put/get of a
//! random file byte-identical (256 MiB over SMB3_11, 8 MiB for the others to
//! keep CI time sane), ls, mkdir, rename, rm, rmdir, and a wrong password
//! refused; signing and encryption required by the client
//! (`--client-protection`). Plus NFS ↔ SMB: a file written over one protocol reads back
//! identical over the other.
//!
//! Users: the server reads accounts from the metadata store
//! ([`dittofs::meta::UserRecord`], NT hash for NTLM); tests add them with the real
//! CLI (`common::add_smb_user`, `dittofs user add`) before the server starts.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::nfs_client::NfsClient;
use common::{
    add_smb_user, dittofs_bin, free_port, lmdb_config, require_tool, run_bounded, Server, TempDir,
};

const USER: &str = "alice";
const PASSWORD: &str = "Secr3t-pass";
const SMB_LIMIT: Duration = Duration::from_secs(300);

/// A server on LMDB + filesystem stores with NFS and SMB enabled and `alice`.
fn start_server(data: &TempDir) -> (Server, u16) {
    add_smb_user(data.path(), USER, PASSWORD, 1000);
    let smb_port = free_port();
    let server = Server::start_on_data(data.path(), move |port, dir| {
        format!(
            // Parallel tests: no fixed-port admin API or metrics listener.
            "{}\n[adapters.smb]\nenabled = true\nport = {smb_port}\n\n[api]\nport = 0\n\n[metrics]\nport = 0\n",
            lmdb_config(port, dir)
        )
    });
    (server, smb_port)
}

/// Runs smbclient commands (`-c`) against share `export`; returns (ok, output).
fn smbclient(port: u16, proto: &str, password: &str, cwd: &Path, cmds: &str) -> (bool, String) {
    let out = run_bounded(
        Command::new("smbclient")
            .current_dir(cwd)
            .arg("//127.0.0.1/export")
            .arg("-p")
            .arg(port.to_string())
            .arg("-U")
            .arg(format!("{USER}%{password}"))
            .arg(format!("--option=client max protocol={proto}"))
            .arg("--option=client min protocol=SMB2_02")
            .arg("-c")
            .arg(cmds),
        SMB_LIMIT,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("NT_STATUS_"), text)
}

fn random_file(path: &Path, bytes: usize, seed: u64) {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(bytes);
    while v.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(bytes);
    fs::write(path, v).expect("write local file");
}

fn round_trip(proto: &str, bytes: usize) {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-data");
    let (_server, port) = start_server(&data);
    let work = TempDir::new("smb-work");
    let local = work.path();
    random_file(&local.join("up.bin"), bytes, bytes as u64 ^ 0x5eed);
    let dir = format!("d_{}", proto.to_lowercase());
    let cmds = format!(
        "mkdir {dir}; cd {dir}; put up.bin data.bin; rename data.bin moved.bin; ls; \
         get moved.bin down.bin; cd ..; ls"
    );
    let (ok, out) = smbclient(port, proto, PASSWORD, local, &cmds);
    assert!(ok, "{proto}: smbclient failed:\n{out}");
    assert!(
        out.contains("moved.bin"),
        "{proto}: ls lacks moved.bin:\n{out}"
    );
    assert!(out.contains(&dir), "{proto}: ls lacks {dir}:\n{out}");
    let up = fs::read(local.join("up.bin")).expect("read up");
    let down = fs::read(local.join("down.bin")).expect("read down");
    assert_eq!(up.len(), down.len(), "{proto}: size differs");
    assert!(up == down, "{proto}: content differs");

    let cmds = format!("cd {dir}; rm moved.bin; cd ..; rmdir {dir}; ls");
    let (ok, out) = smbclient(port, proto, PASSWORD, local, &cmds);
    assert!(ok, "{proto}: rm/rmdir failed:\n{out}");
    assert!(!out.contains(&dir), "{proto}: {dir} still listed:\n{out}");

    let (ok, out) = smbclient(port, proto, "wrong-password", local, "ls");
    assert!(!ok, "{proto}: wrong password accepted:\n{out}");
    assert!(
        out.contains("NT_STATUS_LOGON_FAILURE"),
        "{proto}: wrong password not refused with LOGON_FAILURE:\n{out}"
    );
}

#[test]
fn smbclient_smb2_02() {
    round_trip("SMB2_02", 8 << 20);
}

#[test]
fn smbclient_smb2_10() {
    round_trip("SMB2_10", 8 << 20);
}

#[test]
fn smbclient_smb3_00() {
    round_trip("SMB3_00", 8 << 20);
}

#[test]
fn smbclient_smb3_11_256mib() {
    round_trip("SMB3_11", 256 << 20);
}

/// A round trip with `--client-protection=sign|encrypt` (signing or encryption
/// required by the client: it refuses unsigned/unencrypted replies).
fn protected_round_trip(proto: &str, protection: &str) {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-data");
    let (_server, port) = start_server(&data);
    let work = TempDir::new("smb-work");
    random_file(&work.path().join("up.bin"), 3 << 20, 77);
    let out = run_bounded(
        Command::new("smbclient")
            .current_dir(work.path())
            .arg("//127.0.0.1/export")
            .args(["-p", &port.to_string(), "-U", &format!("{USER}%{PASSWORD}")])
            .arg(format!("--option=client max protocol={proto}"))
            .arg(format!("--client-protection={protection}"))
            .args(["-c", "put up.bin p.bin; get p.bin down.bin; ls"]),
        SMB_LIMIT,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("NT_STATUS_"),
        "{proto} {protection}: failed:\n{text}"
    );
    let up = fs::read(work.path().join("up.bin")).expect("up");
    let down = fs::read(work.path().join("down.bin")).expect("down");
    assert!(up == down, "{proto} {protection}: round trip differs");
}

#[test]
fn smbclient_smb3_11_encrypted() {
    protected_round_trip("SMB3_11", "encrypt");
}

#[test]
fn smbclient_smb3_00_encrypted() {
    protected_round_trip("SMB3_00", "encrypt");
}

#[test]
fn smbclient_signed_each_dialect() {
    for proto in ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_11"] {
        protected_round_trip(proto, "sign");
    }
}

#[test]
fn nfs_and_smb_see_the_same_bytes() {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-data");
    let (server, port) = start_server(&data);
    let work = TempDir::new("smb-work");
    let local = work.path();

    // NFS → SMB.
    let mut nfs = NfsClient::connect(server.port).expect("NFS connect");
    let root = nfs.root;
    let fh = nfs
        .create(root, "from_nfs.bin")
        .expect("create")
        .expect("create ok");
    random_file(&local.join("nfs_src.bin"), 1 << 20, 4242);
    let src = fs::read(local.join("nfs_src.bin")).expect("src");
    for (i, chunk) in src.chunks(64 << 10).enumerate() {
        let n = nfs
            .write_sync(fh, (i * (64 << 10)) as u64, chunk)
            .expect("write")
            .expect("write ok");
        assert_eq!(n as usize, chunk.len());
    }
    let (ok, out) = smbclient(
        port,
        "SMB3_11",
        PASSWORD,
        local,
        "get from_nfs.bin via_smb.bin",
    );
    assert!(ok, "get over SMB failed:\n{out}");
    assert!(
        fs::read(local.join("via_smb.bin")).expect("via smb") == src,
        "NFS→SMB differs"
    );

    // SMB → NFS.
    random_file(&local.join("smb_src.bin"), (1 << 20) + 12345, 99);
    let (ok, out) = smbclient(
        port,
        "SMB2_10",
        PASSWORD,
        local,
        "put smb_src.bin from_smb.bin",
    );
    assert!(ok, "put over SMB failed:\n{out}");
    let want = fs::read(local.join("smb_src.bin")).expect("smb src");
    let fh = nfs
        .lookup(root, "from_smb.bin")
        .expect("lookup")
        .expect("lookup ok")
        .object;
    let mut got = Vec::new();
    while got.len() < want.len() + 1 {
        let r = nfs
            .read(fh, got.len() as u64, 256 << 10)
            .expect("read")
            .expect("read ok");
        if r.is_empty() {
            break;
        }
        got.extend_from_slice(&r);
    }
    assert!(
        got == want,
        "SMB→NFS differs ({} vs {} bytes)",
        got.len(),
        want.len()
    );
}

/// Sends one SMB2 NEGOTIATE with `message_id`; returns the response bytes, or
/// `None` if the server closed the connection instead.
fn raw_negotiate(port: u16, message_id: u64, garbage_first: bool) -> Option<Vec<u8>> {
    use dittofs_smb_wire::header::{Command as SmbCommand, Header};
    use dittofs_smb_wire::negotiate::{NegotiateRequest, DIALECT_202, DIALECT_210};
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    if garbage_first {
        s.write_all(&[0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])
            .expect("write");
    }
    let mut msg = Vec::new();
    Header {
        command: SmbCommand::Negotiate as u16,
        credits: 1,
        message_id,
        ..Header::default()
    }
    .encode(&mut msg);
    NegotiateRequest {
        security_mode: 1,
        dialects: vec![DIALECT_202, DIALECT_210],
        ..NegotiateRequest::default()
    }
    .encode(&mut msg);
    let mut frame = dittofs_smb_wire::frame::encode_transport_header(msg.len())
        .expect("len")
        .to_vec();
    frame.extend_from_slice(&msg);
    if s.write_all(&frame).is_err() {
        return None;
    }
    let mut head = [0u8; 4];
    s.read_exact(&mut head).ok()?;
    let len = usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

#[test]
fn hostile_frames_close_only_their_connection() {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-data");
    let (_server, port) = start_server(&data);
    let ok_resp = raw_negotiate(port, 0, false).expect("a proper NEGOTIATE is answered");
    let hdr = dittofs_smb_wire::Header::decode(&ok_resp).expect("response header");
    assert_eq!(hdr.status, 0, "NEGOTIATE status");
    assert!(hdr.credits >= 1, "credits granted");
    assert!(
        raw_negotiate(port, 5, false).is_none(),
        "a message id outside the granted window must close the connection"
    );
    assert!(
        raw_negotiate(port, 0, true).is_none(),
        "a non-SMB frame must close the connection"
    );
    let work = TempDir::new("smb-work");
    let (ok, out) = smbclient(port, "SMB3_11", PASSWORD, work.path(), "ls");
    assert!(ok, "server still serves after hostile frames:\n{out}");
}

/// `dittofs user grant NAME SHARE PERMISSION` on the stopped server's store
/// (the config `add_smb_user` wrote).
fn grant(data_dir: &Path, name: &str, share: &str, permission: &str) {
    let out = Command::new(dittofs_bin())
        .args(["user", "grant", name, share, permission, "--config"])
        .arg(data_dir.join("users.toml"))
        .output()
        .expect("run dittofs user grant");
    assert!(out.status.success(), "user grant: {out:?}");
}

/// `smbclient -L` as `user`: the output (share enumeration over IPC$ and the
/// srvsvc pipe: BIND, NetShareEnumAll level 1).
fn list_shares(port: u16, proto: &str, user: &str) -> String {
    let out = run_bounded(
        Command::new("smbclient")
            .arg("-L")
            .arg("//127.0.0.1")
            .args(["-p", &port.to_string(), "-U", &format!("{user}%{PASSWORD}")])
            .arg(format!("--option=client max protocol={proto}"))
            .arg("--option=client min protocol=SMB2_02"),
        SMB_LIMIT,
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the listing has a row `name  type ...`.
fn listed(out: &str, name: &str, ty: &str) -> bool {
    out.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some(name) && w.next() == Some(ty)
    })
}

fn share_listing(proto: &str) {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-data");
    // bob exists but has no permission on /export (his own grant `none`).
    add_smb_user(data.path(), "bob", PASSWORD, 1001);
    grant(data.path(), "bob", "/export", "none");
    let (_server, port) = start_server(&data);
    let out = list_shares(port, proto, USER);
    assert!(listed(&out, "export", "Disk"), "{proto}: no export:\n{out}");
    assert!(listed(&out, "IPC$", "IPC"), "{proto}: no IPC$:\n{out}");
    let out = list_shares(port, proto, "bob");
    assert!(listed(&out, "IPC$", "IPC"), "{proto} bob: no IPC$:\n{out}");
    assert!(
        !listed(&out, "export", "Disk"),
        "{proto}: bob sees a share he may not use:\n{out}"
    );
}

#[test]
fn smbclient_lists_shares_smb2_02() {
    share_listing("SMB2_02");
}

#[test]
fn smbclient_lists_shares_smb3_11() {
    share_listing("SMB3_11");
}
