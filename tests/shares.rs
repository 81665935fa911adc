//! Share administration through the real binary and a running server:
//! `dittofs share update --server` changes the live access policy (NFS sees
//! it at the next request) and the server's configuration file; every share
//! endpoint with and without credentials, bad JSON, unknown names.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::nfs_client::NfsClient;
use common::Server;
use dittofs::nfs::Nfsstat3;

fn dittofs(args: &[&str]) -> Output {
    Command::new(common::dittofs_bin())
        .args(args)
        .env_remove("DITTOFS_API")
        .env_remove("DITTOFS_TOKEN")
        .env_remove("RUST_LOG")
        .output()
        .expect("run dittofs")
}

/// One API call: (status, body).
fn http(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut req = ureq::request(method, url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let answer = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    match answer {
        Ok(r) => (r.status(), r.into_string().expect("body")),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

#[test]
fn share_update_through_the_api_applies_live_and_saves_the_file() {
    let data = common::TempDir::new("shares-api");
    let api_port = common::free_port();
    let with_api = move |port: u16, dir: &Path| {
        common::lmdb_config(port, dir) + &format!("\n[api]\nport = {api_port}\n")
    };
    let conf = data.path().join("token.toml");
    std::fs::write(&conf, with_api(common::free_port(), data.path())).expect("write config");
    let out = dittofs(&[
        "admin",
        "token",
        "create",
        "--config",
        conf.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let server = Server::start_on_data(data.path(), with_api);
    let server_conf = server.dir.path().join("dittofs.toml");
    let url = format!("http://127.0.0.1:{api_port}");

    // Before: root (no user, so the share default read-write applies) writes.
    let mut root = NfsClient::connect(server.port).expect("root mounts");
    root.create(root.root, "before")
        .expect("io")
        .expect("root creates while read-write");

    // A wrong token changes nothing.
    let out = dittofs(&[
        "share",
        "update",
        "/export",
        "--default-permission",
        "read",
        "--server",
        &url,
        "--token",
        "wrong",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    root.create(root.root, "still")
        .expect("io")
        .expect("still read-write");

    let out = dittofs(&[
        "share",
        "update",
        "/export",
        "--default-permission",
        "read",
        "--server",
        &url,
        "--token",
        &token,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("default_permission"), "{stdout}");

    // The same NFS connection sees it at its next request, and a new one too.
    assert_eq!(
        root.create(root.root, "after").expect("io").err(),
        Some(Nfsstat3::Acces)
    );
    let mut again = NfsClient::connect(server.port).expect("root mounts");
    assert_eq!(
        again.create(again.root, "after2").expect("io").err(),
        Some(Nfsstat3::Acces)
    );
    let saved = std::fs::read_to_string(&server_conf).expect("read server config");
    assert!(saved.contains("default_permission = \"read\""), "{saved}");

    // The CLI reads it back through the API and from the file.
    let out = dittofs(&[
        "share", "show", "export", "--server", &url, "--token", &token,
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"read\""),
        "{out:?}"
    );
    let file = server_conf.to_str().expect("utf8");
    let out = dittofs(&["share", "list", "--config", file]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && list.contains("/export") && list.contains("read "),
        "{out:?}"
    );

    // Every endpoint: without credentials 401, bad JSON 400, unknown 404,
    // invalid value 400, conflict 409.
    let shares = format!("{url}/api/v1/shares");
    let export = format!("{shares}/export");
    let new = r#"{"name":"/media","metadata_store":"default","block_store":"default"}"#;
    assert_eq!(http("POST", &shares, None, Some(new)).0, 401);
    assert_eq!(http("POST", &shares, Some("wrong"), Some(new)).0, 401);
    assert_eq!(http("PUT", &export, None, Some("{}")).0, 401);
    assert_eq!(http("PATCH", &export, None, Some("{}")).0, 401);
    assert_eq!(http("DELETE", &export, None, None).0, 401);
    assert_eq!(
        http("POST", &shares, Some(&token), Some("{not json")).0,
        400
    );
    assert_eq!(
        http("PUT", &export, Some(&token), Some("{\"read_only\":\"x\"}")).0,
        400
    );
    let (s, body) = http(
        "PUT",
        &export,
        Some(&token),
        Some(r#"{"allowed_clients":["10.0.0.0/99"]}"#),
    );
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("allowed_clients"), "{body}");
    assert_eq!(
        http("PUT", &format!("{shares}/nope"), Some(&token), Some("{}")).0,
        404
    );
    assert_eq!(
        http("DELETE", &format!("{shares}/nope"), Some(&token), None).0,
        404
    );
    assert_eq!(http("GET", &format!("{shares}/nope"), None, None).0, 404);
    let bad_store = r#"{"name":"/m2","metadata_store":"nope","block_store":"default"}"#;
    assert_eq!(http("POST", &shares, Some(&token), Some(bad_store)).0, 400);

    let (s, body) = http("POST", &shares, Some(&token), Some(new));
    assert_eq!(s, 202, "{body}");
    assert!(body.contains("next restart"), "{body}");
    assert_eq!(http("POST", &shares, Some(&token), Some(new)).0, 409);
    let (s, body) = http("GET", &shares, None, None);
    assert!(s == 200 && body.contains("/media"), "{body}");
    assert!(std::fs::read_to_string(&server_conf)
        .expect("read")
        .contains("\"/media\""));
    let (s, body) = http("DELETE", &format!("{shares}/media"), Some(&token), None);
    assert_eq!(s, 202, "{body}");
    assert!(!std::fs::read_to_string(&server_conf)
        .expect("read")
        .contains("/media"));
    // PATCH works like PUT; read-write again lets root write.
    let (s, body) = http(
        "PATCH",
        &export,
        Some(&token),
        Some(r#"{"default_permission":"read-write"}"#),
    );
    assert_eq!(s, 200, "{body}");
    root.create(root.root, "back")
        .expect("io")
        .expect("read-write again");
}
