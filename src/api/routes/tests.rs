//! Every admin API route with and without credentials, bad JSON and unknown
//! ids, against an in-memory [`AdminOps`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{json, Value};

use super::super::admin::{AdminError, AdminOps, BasicAuth, GroupView, UserView};
use super::super::auth::create_token;
use super::super::http::{Request, Response};
use super::super::{ApiContext, Readiness, StoreProbe};
use super::handle;
use crate::config::Config;

#[derive(Default)]
struct Fake {
    users: Mutex<BTreeMap<String, UserView>>,
    groups: Mutex<BTreeMap<String, GroupView>>,
}

impl AdminOps for Fake {
    fn list_users(&self) -> Result<Vec<UserView>, AdminError> {
        Ok(self.users.lock().unwrap().values().cloned().collect())
    }
    fn add_user(
        &self,
        name: &str,
        _: &str,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<UserView, AdminError> {
        let mut users = self.users.lock().unwrap();
        if users.contains_key(name) {
            return Err(AdminError::Conflict(format!("user {name} exists")));
        }
        let u = UserView {
            name: name.into(),
            uid: uid.unwrap_or(1000),
            gid: gid.unwrap_or(1000),
            groups: vec![],
            admin: false,
            grants: BTreeMap::new(),
        };
        users.insert(name.into(), u.clone());
        Ok(u)
    }
    fn set_password(&self, name: &str, _: &str) -> Result<(), AdminError> {
        self.users
            .lock()
            .unwrap()
            .get(name)
            .map(|_| ())
            .ok_or(AdminError::NotFound(format!("no user {name}")))
    }
    fn remove_user(&self, name: &str) -> Result<(), AdminError> {
        self.users
            .lock()
            .unwrap()
            .remove(name)
            .map(|_| ())
            .ok_or(AdminError::NotFound(format!("no user {name}")))
    }
    fn grant(&self, user: &str, share: &str, perm: &str) -> Result<(), AdminError> {
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or(AdminError::NotFound(format!("no user {user}")))?;
        u.grants.insert(share.into(), perm.into());
        Ok(())
    }
    fn revoke(&self, user: &str, share: &str) -> Result<(), AdminError> {
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or(AdminError::NotFound(format!("no user {user}")))?;
        u.grants.remove(share);
        Ok(())
    }
    fn list_groups(&self) -> Result<Vec<GroupView>, AdminError> {
        Ok(self.groups.lock().unwrap().values().cloned().collect())
    }
    fn add_group(&self, name: &str, gid: Option<u32>) -> Result<GroupView, AdminError> {
        let g = GroupView {
            name: name.into(),
            gid: gid.unwrap_or(2000),
            grants: BTreeMap::new(),
        };
        self.groups.lock().unwrap().insert(name.into(), g.clone());
        Ok(g)
    }
    fn remove_group(&self, name: &str) -> Result<(), AdminError> {
        self.groups
            .lock()
            .unwrap()
            .remove(name)
            .map(|_| ())
            .ok_or(AdminError::NotFound(format!("no group {name}")))
    }
    fn check_basic(&self, user: &str, password: &str) -> BasicAuth {
        match (user, password) {
            ("root", "secret") => BasicAuth::Admin,
            ("bob", "pw") => BasicAuth::NotAdmin,
            _ => BasicAuth::Invalid,
        }
    }
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
    let api = api(Arc::new(Fake::default()));
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
    assert_eq!(call(&api, "POST", "/api/v1/shares", None, "").0, 405);
    assert_eq!(call(&api, "GET", "/api/v1/nothing", None, "").0, 404);
}

#[test]
fn ready_is_503_when_a_metadata_store_fails() {
    let mut api = api(Arc::new(Fake::default()));
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
    let api = api(Arc::new(Fake::default()));
    let basic = |up: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(up)
        )
    };
    for (method, path, body) in [
        ("GET", "/api/v1/users", ""),
        ("POST", "/api/v1/users", r#"{"name":"a","password":"p"}"#),
        ("DELETE", "/api/v1/users/a", ""),
        ("PATCH", "/api/v1/users/a", r#"{"password":"x"}"#),
        ("GET", "/api/v1/groups", ""),
        ("POST", "/api/v1/groups", r#"{"name":"g"}"#),
        ("DELETE", "/api/v1/groups/g", ""),
        (
            "POST",
            "/api/v1/grants",
            r#"{"user":"a","share":"/export","permission":"read"}"#,
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
            call(&api, method, path, Some(&basic("root:bad")), body).0,
            401
        );
        assert_eq!(
            call(&api, method, path, Some(&basic("bob:pw")), body).0,
            403
        );
    }
    assert!(
        api.ctx.admin.list_users().unwrap().is_empty(),
        "nothing was created"
    );
}

#[test]
fn users_groups_and_grants_round_trip_with_a_token() {
    let api = api(Arc::new(Fake::default()));
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
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/users",
            auth,
            r#"{"name":"alice","password":"pw"}"#
        )
        .0,
        409
    );
    assert_eq!(
        call(&api, "POST", "/api/v1/users", auth, r#"{"name":"#).0,
        400
    );
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/users",
            auth,
            r#"{"name":"x","pasword":"typo"}"#
        )
        .0,
        400
    );
    let (s, list) = call(&api, "GET", "/api/v1/users", auth, "");
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));
    assert_eq!(call(&api, "GET", "/api/v1/users/alice", auth, "").0, 200);
    assert_eq!(call(&api, "GET", "/api/v1/users/nobody", auth, "").0, 404);
    assert_eq!(
        call(
            &api,
            "PATCH",
            "/api/v1/users/alice",
            auth,
            r#"{"password":"new"}"#
        )
        .0,
        204
    );
    assert_eq!(
        call(
            &api,
            "PATCH",
            "/api/v1/users/nobody",
            auth,
            r#"{"password":"new"}"#
        )
        .0,
        404
    );
    // Basic as an admin user works too.
    let root = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("root:secret")
    );
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/grants",
            Some(&root),
            r#"{"user":"alice","share":"/export","permission":"read"}"#
        )
        .0,
        204
    );
    let (_, u) = call(&api, "GET", "/api/v1/users/alice", auth, "");
    assert_eq!(u["grants"]["/export"], "read");
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/grants",
            auth,
            r#"{"user":"alice","share":"/export"}"#
        )
        .0,
        400
    );
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/grants",
            auth,
            r#"{"user":"a","group":"b","share":"/export","permission":"read"}"#
        )
        .0,
        400
    );
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/grants",
            auth,
            r#"{"user":"ghost","share":"/export","permission":"read"}"#
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &api,
            "DELETE",
            "/api/v1/grants",
            auth,
            r#"{"user":"alice","share":"/export"}"#
        )
        .0,
        204
    );
    let (_, u) = call(&api, "GET", "/api/v1/users/alice", auth, "");
    assert!(u["grants"].as_object().unwrap().is_empty());
    assert_eq!(
        call(
            &api,
            "POST",
            "/api/v1/groups",
            auth,
            r#"{"name":"staff","gid":50}"#
        )
        .0,
        201
    );
    assert_eq!(
        call(&api, "GET", "/api/v1/groups/staff", auth, "").1["gid"],
        50
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
    assert_eq!(call(&api, "PUT", "/api/v1/groups", auth, "").0, 405);
}

#[test]
fn without_identity_the_routes_answer_501() {
    let api = api(Arc::new(super::super::NoIdentity));
    let bearer = format!("Bearer {}", api.token);
    let (s, v) = call(&api, "GET", "/api/v1/users", Some(&bearer), "");
    assert_eq!(s, 501);
    assert!(v["error"].as_str().unwrap().contains("not available"));
}
