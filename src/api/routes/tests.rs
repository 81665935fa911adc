//! Every admin API route with and without credentials, bad JSON and unknown
//! names, against the real identity system over an in-memory metadata store.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::super::admin::{AdminOps, IdentityOps};
use super::super::auth::create_token;
use super::super::http::{Request, Response};
use super::super::{ApiContext, Readiness, StoreProbe};
use super::handle;
use crate::config::Config;
use crate::identity::{Admin, NewUser};
use crate::meta::memory::MemoryStore;

fn config() -> Config {
    let mut c = Config::default();
    c.identity.bcrypt_cost = 4;
    c
}

/// The identity system with `boss` (member of the admin group, password
/// "secret") and `bob` (not an admin, password "pw").
fn identity() -> Arc<IdentityOps> {
    let admin = Admin::new(Arc::new(MemoryStore::new()), &config());
    futures_lite::future::block_on(async {
        admin
            .add_group(&config().identity.admin_group, None)
            .await
            .unwrap();
        for (name, password, groups) in [
            ("boss", "secret", vec![config().identity.admin_group]),
            ("bob", "pw", vec![]),
        ] {
            admin
                .add_user(&NewUser {
                    name: name.into(),
                    password: password.into(),
                    groups,
                    ..NewUser::default()
                })
                .await
                .unwrap();
        }
    });
    Arc::new(IdentityOps::new(Arc::new(admin)))
}

struct Api {
    ctx: ApiContext,
    token: String,
    _dir: tempfile::TempDir,
}

fn api(admin: Arc<dyn AdminOps>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "test").unwrap();
    let ctx = ApiContext {
        config: Config::default(),
        readiness: Readiness::new(),
        admin,
        tokens_file: dir.path().join(super::super::auth::TOKENS_FILE),
        cores: 2,
        stores: vec![StoreProbe::custom("metadata", "default", || Ok(()))],
        shares: Arc::new(crate::shares::ShareAdmin::new(None, Config::default())),
    };
    Api {
        ctx,
        token,
        _dir: dir,
    }
}

fn call(api: &Api, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let mut headers = vec![];
    if let Some(a) = auth {
        headers.push(("authorization".to_owned(), a.to_owned()));
    }
    let req = Request {
        method: method.into(),
        path: path.into(),
        headers,
        body: body.as_bytes().to_vec(),
        ..Request::default()
    };
    let resp: Response = handle(&api.ctx, &req);
    let v = if resp.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&resp.body).unwrap()
    };
    (resp.status, v)
}

#[test]
fn health_ready_status_and_shares_need_no_credentials() {
    let api = api(identity());
    assert_eq!(call(&api, "GET", "/health", None, "").0, 200);
    assert_eq!(call(&api, "GET", "/ready", None, "").0, 503);
    api.ctx.readiness.set(true);
    assert_eq!(call(&api, "GET", "/ready", None, "").0, 200);
    let (s, status) = call(&api, "GET", "/api/v1/status", None, "");
    assert_eq!(s, 200);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["cores"], 2);
    assert_eq!(status["stores"][0]["healthy"], true);
    let (s, shares) = call(&api, "GET", "/api/v1/shares", None, "");
    assert_eq!(s, 200);
    assert_eq!(shares[0]["name"], "/export");
    assert_eq!(call(&api, "GET", "/api/v1/shares/export", None, "").0, 200);
    assert_eq!(call(&api, "GET", "/api/v1/shares/nope", None, "").0, 404);
    assert_eq!(call(&api, "POST", "/api/v1/shares", None, "").0, 401);
    assert_eq!(call(&api, "PUT", "/api/v1/shares", None, "").0, 405);
    assert_eq!(call(&api, "GET", "/api/v1/nothing", None, "").0, 404);
}

#[test]
fn ready_is_503_when_a_metadata_store_fails() {
    let mut api = api(identity());
    api.ctx
        .stores
        .push(StoreProbe::custom("metadata", "pg", || {
            Err("connection refused".into())
        }));
    api.ctx.readiness.set(true);
    let (s, v) = call(&api, "GET", "/ready", None, "");
    assert_eq!(s, 503);
    assert!(v["stores"][0]
        .as_str()
        .unwrap()
        .contains("connection refused"));
}

#[test]
fn identity_endpoints_refuse_missing_and_wrong_credentials() {
    let api = api(identity());
    let basic = |up: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(up)
        )
    };
    for (method, path, body) in [
        ("GET", "/api/v1/users", ""),
        ("POST", "/api/v1/users", r#"{"name":"a","password":"p"}"#),
        ("DELETE", "/api/v1/users/bob", ""),
        ("PUT", "/api/v1/users/bob/password", r#"{"password":"x"}"#),
        ("GET", "/api/v1/groups", ""),
        ("POST", "/api/v1/groups", r#"{"name":"g"}"#),
        (
            "PUT",
            "/api/v1/users/bob/grants/export",
            r#"{"permission":"read"}"#,
        ),
    ] {
        assert_eq!(
            call(&api, method, path, None, body).0,
            401,
            "{method} {path}"
        );
        assert_eq!(
            call(&api, method, path, Some("Bearer dfs_wrong"), body).0,
            401
        );
        assert_eq!(
            call(&api, method, path, Some(&basic("boss:bad")), body).0,
            401
        );
        assert_eq!(
            call(&api, method, path, Some(&basic("bob:pw")), body).0,
            403
        );
    }
    let bearer = format!("Bearer {}", api.token);
    let (_, users) = call(&api, "GET", "/api/v1/users", Some(&bearer), "");
    assert_eq!(users.as_array().unwrap().len(), 2, "nothing was created");
    assert_eq!(
        api.ctx.admin.check_basic("bob", "pw"),
        super::super::BasicAuth::NotAdmin,
        "bob's password was not changed"
    );
}

#[test]
fn users_groups_and_grants_round_trip_with_a_token() {
    let api = api(identity());
    let bearer = format!("Bearer {}", api.token);
    let auth = Some(bearer.as_str());
    let (s, u) = call(
        &api,
        "POST",
        "/api/v1/users",
        auth,
        r#"{"name":"alice","password":"pw","uid":1500}"#,
    );
    assert_eq!((s, u["uid"].clone()), (201, json!(1500)));
    assert!(
        u.get("password_hash").is_none() && u.get("nt_hash").is_none(),
        "{u}"
    );
    let again = r#"{"name":"alice","password":"pw"}"#;
    assert_eq!(call(&api, "POST", "/api/v1/users", auth, again).0, 409);
    assert_eq!(
        call(&api, "POST", "/api/v1/users", auth, r#"{"name":"#).0,
        400
    );
    let typo = r#"{"name":"x","pasword":"typo"}"#;
    assert_eq!(call(&api, "POST", "/api/v1/users", auth, typo).0, 400);
    let (s, list) = call(&api, "GET", "/api/v1/users", auth, "");
    assert_eq!((s, list.as_array().unwrap().len()), (200, 3));
    assert_eq!(call(&api, "GET", "/api/v1/users/alice", auth, "").0, 200);
    assert_eq!(call(&api, "GET", "/api/v1/users/nobody", auth, "").0, 404);
    let pw = r#"{"password":"new"}"#;
    let path = "/api/v1/users/alice/password";
    assert_eq!(call(&api, "PUT", path, auth, pw).0, 204);
    assert_eq!(
        api.ctx.admin.check_basic("alice", "new"),
        super::super::BasicAuth::NotAdmin
    );
    assert_eq!(
        call(&api, "PUT", "/api/v1/users/nobody/password", auth, pw).0,
        404
    );
    // Basic as an admin user works too.
    let boss = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("boss:secret")
    );
    let grant = "/api/v1/users/alice/grants/export";
    let read = r#"{"permission":"read"}"#;
    assert_eq!(call(&api, "PUT", grant, Some(&boss), read).0, 204);
    let (_, u) = call(&api, "GET", "/api/v1/users/alice", auth, "");
    assert_eq!(u["grants"][0]["permission"], "read", "{u}");
    assert_eq!(call(&api, "PUT", grant, auth, r#"{}"#).0, 400);
    assert_eq!(
        call(&api, "PUT", "/api/v1/users/ghost/grants/export", auth, read).0,
        404
    );
    assert_eq!(
        call(&api, "PUT", "/api/v1/users/alice/grants/nope", auth, read).0,
        404
    );
    assert_eq!(call(&api, "DELETE", grant, auth, "").0, 204);
    let (_, u) = call(&api, "GET", "/api/v1/users/alice", auth, "");
    assert!(u["grants"].as_array().unwrap().is_empty(), "{u}");
    let staff = r#"{"name":"staff","gid":5000}"#;
    assert_eq!(call(&api, "POST", "/api/v1/groups", auth, staff).0, 201);
    assert_eq!(
        call(&api, "GET", "/api/v1/groups/staff", auth, "").1["gid"],
        5000
    );
    assert_eq!(
        call(&api, "DELETE", "/api/v1/groups/staff", auth, "").0,
        204
    );
    assert_eq!(
        call(&api, "DELETE", "/api/v1/groups/staff", auth, "").0,
        404
    );
    assert_eq!(call(&api, "DELETE", "/api/v1/users/alice", auth, "").0, 204);
    assert_eq!(call(&api, "DELETE", "/api/v1/users/alice", auth, "").0, 404);
}

#[test]
fn without_identity_the_routes_answer_501() {
    let api = api(Arc::new(super::super::NoIdentity));
    let bearer = format!("Bearer {}", api.token);
    let (s, v) = call(&api, "GET", "/api/v1/users", Some(&bearer), "");
    assert_eq!(s, 501);
    assert!(v["error"].as_str().unwrap().contains("not available"));
}
