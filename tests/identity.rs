//! Users, groups and share permissions through the real binary: the CLI on a
//! stopped server's LMDB store, the refusal while a server holds it, and the
//! grants applied to AUTH_SYS callers over NFS by the real server.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::nfs_client::NfsClient;
use common::Server;
use dittofs::nfs::Nfsstat3;

fn config(port: u16, data_dir: &Path) -> String {
    common::lmdb_config(port, data_dir) + "\n[identity]\nbcrypt_cost = 4\n"
}

/// Runs `dittofs ARGS --config CONF` with `stdin` on standard input.
fn dittofs(conf: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(common::dittofs_bin())
        .args(args)
        .arg("--config")
        .arg(conf)
        .env_remove("DITTOFS_API")
        .env_remove("DITTOFS_TOKEN")
        .env_remove("RUST_LOG")
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
    child.wait_with_output().expect("wait dittofs")
}

fn ok(conf: &Path, args: &[&str], stdin: &str) -> String {
    let out = dittofs(conf, args, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "dittofs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cli_manages_users_and_nfs_applies_their_share_permissions() {
    let data = common::TempDir::new("identity");
    let conf = data.path().join("dittofs.toml");
    // The CLI needs only the store part; the port is the server's later.
    let port = common::free_port();
    std::fs::write(&conf, config(port, data.path())).expect("write config");

    ok(
        &conf,
        &["user", "add", "alice", "--uid", "2001", "--password-stdin"],
        "alice pw\n",
    );
    ok(
        &conf,
        &["user", "add", "bob", "--uid", "2002", "--password-stdin"],
        "bob pw\n",
    );
    ok(
        &conf,
        &["user", "add", "carol", "--uid", "2003", "--password-stdin"],
        "carol pw\n",
    );
    ok(&conf, &["group", "add", "readers", "--gid", "3000"], "");
    ok(&conf, &["user", "join", "alice", "readers"], "");
    ok(&conf, &["group", "grant", "readers", "export", "read"], "");
    ok(&conf, &["user", "grant", "bob", "/export", "none"], "");
    // carol: read via the group, but her own grant wins.
    ok(&conf, &["user", "join", "carol", "readers"], "");
    ok(
        &conf,
        &["user", "grant", "carol", "export", "read-write"],
        "",
    );

    let json = ok(&conf, &["user", "list", "--json"], "");
    let users: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let names: Vec<&str> = users
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(users[0]["uid"], 2001);
    assert_eq!(users[0]["groups"][0], "readers");
    assert_eq!(users[1]["grants"][0]["permission"], "none");
    assert!(!json.contains("$2") && !json.contains("password"), "{json}");
    let groups = ok(&conf, &["group", "list"], "");
    assert!(
        groups.contains("readers") && groups.contains("alice,carol"),
        "{groups}"
    );

    // Bad input: a permission that does not exist is a usage error (2); an
    // unknown user a runtime error (1); a duplicate as well.
    assert_eq!(
        dittofs(&conf, &["user", "grant", "alice", "export", "all"], "")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        dittofs(&conf, &["user", "revoke", "nobody-here", "export"], "")
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        dittofs(&conf, &["user", "add", "alice", "--password-stdin"], "x\n")
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        dittofs(
            &conf,
            &["user", "add", "Bad Name", "--password-stdin"],
            "x\n"
        )
        .status
        .code(),
        Some(2)
    );

    // The NT hash lives in the LMDB file: owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.path().join("meta/data.mdb"))
        .expect("data.mdb")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let server = Server::start_on_data(data.path(), config);
    // While the server runs, the CLI refuses to open its LMDB store.
    let out = dittofs(&conf, &["user", "list"], "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("running dittofs server") && err.contains("--server"),
        "{err}"
    );

    // bob (none): MOUNT is refused with MNT3ERR_ACCES.
    let e = NfsClient::connect_as(server.port, 2002, 2002)
        .err()
        .expect("bob's mount must fail");
    assert!(e.to_string().ends_with("MNT failed: 13"), "{e}");

    // root is unmapped: the share default (read-write) applies.
    let mut root = NfsClient::connect(server.port).expect("root mounts");
    let f = root
        .create(root.root, "f")
        .expect("io")
        .expect("root creates");

    // alice (read through her group): mounts and reads, writes are ACCES.
    let mut alice = NfsClient::connect_as(server.port, 2001, 2001).expect("alice mounts");
    alice.getattr(alice.root).expect("io").expect("getattr");
    alice.lookup(alice.root, "f").expect("io").expect("lookup");
    assert_eq!(
        alice.create(alice.root, "g").expect("io").err(),
        Some(Nfsstat3::Acces)
    );
    assert_eq!(
        alice.write_sync(f, 0, b"x").expect("io").err(),
        Some(Nfsstat3::Acces)
    );
    assert_eq!(
        alice.remove(alice.root, "f").expect("io").err(),
        Some(Nfsstat3::Acces)
    );

    // carol (her own read-write grant beats the group's read): writes.
    let mut carol = NfsClient::connect_as(server.port, 2003, 2003).expect("carol mounts");
    carol
        .create(carol.root, "h")
        .expect("io")
        .expect("carol creates");

    // bob's uid with a handle mounted by someone else: every call is ACCES.
    root.set_cred(2002, 2002);
    assert_eq!(
        root.getattr(root.root).expect("io").err(),
        Some(Nfsstat3::Acces)
    );
    assert_eq!(
        root.lookup(root.root, "f").expect("io").err(),
        Some(Nfsstat3::Acces)
    );
}

/// The same CLI commands against a running server: `--server URL --token T`
/// goes through the REST API (the server holds the LMDB store), and the user
/// it adds gets its share permission over NFS at once.
#[test]
fn cli_manages_users_through_a_running_servers_api() {
    let data = common::TempDir::new("identity-api");
    let api_port = common::free_port();
    let with_api =
        move |port: u16, dir: &Path| config(port, dir) + &format!("\n[api]\nport = {api_port}\n");
    let conf = data.path().join("dittofs.toml");
    std::fs::write(&conf, with_api(common::free_port(), data.path())).expect("write config");
    let token = ok(&conf, &["admin", "token", "create"], "");
    let token = token.trim().to_owned();
    assert!(!token.is_empty());

    let server = Server::start_on_data(data.path(), with_api);
    let url = format!("http://127.0.0.1:{api_port}");
    let remote = |args: &[&str], stdin: &str, token: &str| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", url.as_str(), "--token", token]);
        dittofs(&conf, &all, stdin)
    };

    // Without the right token nothing changes.
    let out = remote(
        &["user", "add", "dave", "--uid", "2101", "--password-stdin"],
        "pw\n",
        "wrong",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let out = remote(
        &["user", "add", "dave", "--uid", "2101", "--password-stdin"],
        "pw\n",
        &token,
    );
    assert!(out.status.success(), "{out:?}");
    let out = remote(&["user", "grant", "dave", "/export", "none"], "", &token);
    assert!(out.status.success(), "{out:?}");
    let out = remote(&["user", "list", "--json"], "", &token);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && list.contains("\"dave\""), "{out:?}");
    assert!(
        !list.contains("hash\":\""),
        "no hashes over the API: {list}"
    );

    // dave's uid is refused over NFS right away (the API bumped the identity
    // generation the per-core permission caches check).
    let e = NfsClient::connect_as(server.port, 2101, 2101)
        .err()
        .expect("dave's mount must fail");
    assert!(e.to_string().ends_with("MNT failed: 13"), "{e}");
}
