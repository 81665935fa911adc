//! The service over a memory store, the resolution table, and the API routes
//! in both directions.

use std::sync::Arc;

use futures_lite::future::block_on;

use super::api::{self, Operation, Outcome};
use super::api_types::{NewGroupRequest, NewUserRequest};
use super::*;
use crate::config::{Config, GuestPolicy, ShareConfig};
use crate::meta::memory::MemoryStore;

fn config() -> Config {
    let mut c = Config::default();
    c.identity.bcrypt_cost = 4;
    c.shares = vec![
        ShareConfig {
            name: "/export".into(),
            ..ShareConfig::default()
        },
        ShareConfig {
            name: "/Media".into(),
            default_permission: SharePermission::Read,
            ..ShareConfig::default()
        },
    ];
    c
}

fn admin() -> Admin {
    Admin::new(Arc::new(MemoryStore::new()), &config())
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        name: name.into(),
        password: "pw-of-".to_owned() + name,
        ..NewUser::default()
    }
}

fn user(name: &str, grants: &[(&str, SharePermission)]) -> UserRecord {
    UserRecord {
        name: name.into(),
        uid: 1000,
        gid: 1000,
        groups: vec![],
        password_hash: String::new(),
        nt_hash: None,
        share_permissions: grants.iter().map(|(s, p)| ((*s).into(), *p)).collect(),
    }
}

fn group(gid: u32, grants: &[(&str, SharePermission)]) -> GroupRecord {
    GroupRecord {
        name: format!("g{gid}"),
        gid,
        share_permissions: grants.iter().map(|(s, p)| ((*s).into(), *p)).collect(),
    }
}

#[test]
fn resolution_table() {
    use SharePermission::*;
    let s = "/export";
    // (user grant, group grants, default) → effective
    let rows: &[(
        Option<SharePermission>,
        &[SharePermission],
        SharePermission,
        SharePermission,
    )] = &[
        // no grant anywhere: the default, whatever it is
        (Option::None, &[], None, None),
        (Option::None, &[], Read, Read),
        (Option::None, &[], ReadWrite, ReadWrite),
        (Option::None, &[], Admin, Admin),
        // groups only: the highest group grant, even below the default
        (Option::None, &[Read], ReadWrite, Read),
        (Option::None, &[Read, Admin, None], Read, Admin),
        (Option::None, &[None], ReadWrite, None),
        (Option::None, &[None, Read], None, Read),
        // the user's own grant wins over groups and default, up and down
        (Some(None), &[Admin], ReadWrite, None),
        (Some(Read), &[ReadWrite], ReadWrite, Read),
        (Some(ReadWrite), &[Read], None, ReadWrite),
        (Some(Admin), &[], None, Admin),
    ];
    for (own, groups, default, want) in rows {
        let u = user("alice", &own.map(|p| vec![(s, p)]).unwrap_or_default());
        let gs: Vec<GroupRecord> = groups
            .iter()
            .enumerate()
            .map(|(i, p)| group(2000 + i as u32, &[(s, *p)]))
            .collect();
        assert_eq!(
            effective_permission(Some(&u), &gs, s, *default),
            *want,
            "own {own:?} groups {groups:?} default {default:?}"
        );
    }
    // Grants on other shares do not count; share names match ignoring case
    // and the leading slash.
    let u = user("bob", &[("/other", Admin)]);
    let g = group(7, &[("/other", Admin)]);
    assert_eq!(effective_permission(Some(&u), &[g], s, Read), Read);
    let u = user("bob", &[("/EXPORT", None)]);
    assert_eq!(effective_permission(Some(&u), &[], "export", Admin), None);
    // An unmapped caller gets the default.
    assert_eq!(effective_permission(Option::None, &[], s, Read), Read);
    // Guests: the default capped by the policy.
    assert_eq!(guest_permission(GuestPolicy::Off, Admin), None);
    assert_eq!(guest_permission(GuestPolicy::Read, ReadWrite), Read);
    assert_eq!(guest_permission(GuestPolicy::ReadWrite, Read), Read);
    assert_eq!(guest_permission(GuestPolicy::ReadWrite, Admin), ReadWrite);
}

#[test]
fn users_are_created_with_both_hashes_and_free_uids() {
    let a = admin();
    block_on(async {
        let alice = a.add_user(&new_user("alice")).await.unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert!(alice.has_nt_hash);
        let rec = a.store().get_user("alice").await.unwrap().unwrap();
        assert!(verify_bcrypt("pw-of-alice", &rec.password_hash));
        assert_eq!(rec.nt_hash, Some(nt_hash("pw-of-alice")));
        let bob = a
            .add_user(&NewUser {
                uid: Some(1001),
                gid: Some(100),
                ..new_user("bob")
            })
            .await
            .unwrap();
        assert_eq!((bob.uid, bob.gid), (1001, 100));
        assert_eq!(a.add_user(&new_user("carol")).await.unwrap().uid, 1002);
        // Refusals.
        assert!(matches!(
            a.add_user(&new_user("alice")).await,
            Err(IdentityError::UserExists(_))
        ));
        assert!(matches!(
            a.add_user(&NewUser {
                uid: Some(1000),
                ..new_user("dave")
            })
            .await,
            Err(IdentityError::UidInUse(1000))
        ));
        assert!(matches!(
            a.add_user(&NewUser {
                uid: Some(0),
                ..new_user("dave")
            })
            .await,
            Err(IdentityError::InvalidId { .. })
        ));
        assert!(matches!(
            a.add_user(&new_user("root")).await,
            Err(IdentityError::InvalidName { .. })
        ));
        assert!(matches!(
            a.add_user(&NewUser {
                password: String::new(),
                ..new_user("dave")
            })
            .await,
            Err(IdentityError::InvalidPassword(_))
        ));
        assert!(matches!(
            a.add_user(&NewUser {
                groups: vec!["nope".into()],
                ..new_user("dave")
            })
            .await,
            Err(IdentityError::GroupNotFound(_))
        ));
        assert_eq!(a.list_users().await.unwrap().len(), 3);

        a.set_password("alice", "new one").await.unwrap();
        assert!(a.verify_password("alice", "new one").await.is_ok());
        assert!(matches!(
            a.verify_password("alice", "pw-of-alice").await,
            Err(IdentityError::BadCredentials)
        ));
        assert!(matches!(
            a.verify_password("nobody-here", "x").await,
            Err(IdentityError::BadCredentials)
        ));
        a.remove_user("carol").await.unwrap();
        assert!(matches!(
            a.remove_user("carol").await,
            Err(IdentityError::UserNotFound(_))
        ));
        // The freed uid is the lowest free again.
        assert_eq!(a.add_user(&new_user("erin")).await.unwrap().uid, 1002);
    });
}

#[test]
fn uid_range_exhaustion() {
    let mut c = config();
    c.identity.uid_min = 5000;
    c.identity.uid_max = 5001;
    let a = Admin::new(Arc::new(MemoryStore::new()), &c);
    block_on(async {
        a.add_user(&new_user("a")).await.unwrap();
        a.add_user(&new_user("b")).await.unwrap();
        assert!(matches!(
            a.add_user(&new_user("c")).await,
            Err(IdentityError::RangeExhausted { .. })
        ));
        // An explicit uid outside the range is fine.
        a.add_user(&NewUser {
            uid: Some(7),
            ..new_user("c")
        })
        .await
        .unwrap();
    });
}

#[test]
fn groups_membership_and_grants() {
    let a = admin();
    block_on(async {
        a.add_user(&new_user("alice")).await.unwrap(); // uid/gid 1000
                                                       // Auto gid skips 1000 (alice's private primary gid).
        let staff = a.add_group("staff", None).await.unwrap();
        assert_eq!(staff.gid, 1001);
        assert!(matches!(
            a.add_group("staff", None).await,
            Err(IdentityError::GroupExists(_))
        ));
        assert!(matches!(
            a.add_group("other", Some(1001)).await,
            Err(IdentityError::GidInUse(1001))
        ));
        a.join("alice", "staff").await.unwrap();
        a.join("alice", "staff").await.unwrap(); // idempotent
        assert_eq!(a.get_user("alice").await.unwrap().groups, vec!["staff"]);
        assert_eq!(a.get_group("staff").await.unwrap().members, vec!["alice"]);

        // Default of /export is read-write; the group lowers it to read.
        let gen = generation();
        a.group_grant("staff", "export", SharePermission::Read)
            .await
            .unwrap();
        assert!(generation() > gen, "a change bumps the generation");
        assert_eq!(
            a.effective_permission("alice", "/export").await.unwrap(),
            SharePermission::Read
        );
        // The user's own grant wins; share names are matched ignoring case.
        a.grant("alice", "/EXPORT", SharePermission::None)
            .await
            .unwrap();
        let view = a.get_user("alice").await.unwrap();
        assert_eq!(view.grants[0].share, "/export");
        assert_eq!(
            a.effective_permission("alice", "export").await.unwrap(),
            SharePermission::None
        );
        a.revoke("alice", "export").await.unwrap();
        assert!(matches!(
            a.revoke("alice", "export").await,
            Err(IdentityError::NoGrant { .. })
        ));
        assert!(matches!(
            a.grant("alice", "nope", SharePermission::Read).await,
            Err(IdentityError::ShareNotFound(_))
        ));
        // /Media defaults to read; no grants there.
        assert_eq!(
            a.effective_permission("alice", "media").await.unwrap(),
            SharePermission::Read
        );
        a.leave("alice", "staff").await.unwrap();
        assert!(matches!(
            a.leave("alice", "staff").await,
            Err(IdentityError::NotMember { .. })
        ));
        assert_eq!(
            a.effective_permission("alice", "export").await.unwrap(),
            SharePermission::ReadWrite
        );
        // A primary group cannot be removed; a supplementary one is dropped
        // from its members.
        a.add_group("alice", Some(1000)).await.unwrap();
        assert!(matches!(
            a.remove_group("alice").await,
            Err(IdentityError::GroupInUse { .. })
        ));
        a.join("alice", "staff").await.unwrap();
        a.remove_group("staff").await.unwrap();
        assert!(a.get_user("alice").await.unwrap().gids.is_empty());
        assert_eq!(a.list_groups().await.unwrap().len(), 1);
        // Admin API membership.
        let rec = a.store().get_user("alice").await.unwrap().unwrap();
        assert!(!a.is_admin(&rec).await.unwrap());
        a.add_group("dittofs-admins", None).await.unwrap();
        a.join("alice", "dittofs-admins").await.unwrap();
        let rec = a.store().get_user("alice").await.unwrap().unwrap();
        assert!(a.is_admin(&rec).await.unwrap());
    });
}

#[test]
fn permission_cache_follows_changes() {
    let a = admin();
    let cache = PermissionCache::new(a.store().clone());
    block_on(async {
        let rw = SharePermission::ReadWrite;
        // Unknown uid and root: the default.
        assert_eq!(cache.permission(1000, "/export", rw).await.unwrap(), rw);
        assert_eq!(cache.permission(0, "/export", rw).await.unwrap(), rw);
        a.add_user(&new_user("alice")).await.unwrap();
        a.grant("alice", "/export", SharePermission::None)
            .await
            .unwrap();
        // The generation changed, so the cached miss is not used.
        assert_eq!(
            cache.permission(1000, "/export", rw).await.unwrap(),
            SharePermission::None
        );
        a.add_group("ro", Some(3000)).await.unwrap();
        a.group_grant("ro", "/Media", SharePermission::Admin)
            .await
            .unwrap();
        a.join("alice", "ro").await.unwrap();
        assert_eq!(
            cache
                .permission(1000, "/Media", SharePermission::Read)
                .await
                .unwrap(),
            SharePermission::Admin
        );
    });
}

#[test]
fn api_routes_round_trip_and_execute() {
    let ops = vec![
        Operation::ListUsers,
        Operation::GetUser("alice".into()),
        Operation::AddUser(NewUserRequest {
            name: "alice".into(),
            password: "pw".into(),
            uid: Some(5),
            gid: None,
            groups: vec!["staff".into()],
        }),
        Operation::RemoveUser("alice".into()),
        Operation::SetPassword {
            user: "alice".into(),
            password: "p w".into(),
        },
        Operation::Grant {
            user: "alice".into(),
            share: "/my share".into(),
            permission: SharePermission::ReadWrite,
        },
        Operation::Revoke {
            user: "alice".into(),
            share: "/export".into(),
        },
        Operation::Join {
            user: "alice".into(),
            group: "staff".into(),
        },
        Operation::Leave {
            user: "alice".into(),
            group: "staff".into(),
        },
        Operation::ListGroups,
        Operation::GetGroup("staff".into()),
        Operation::AddGroup(NewGroupRequest {
            name: "staff".into(),
            gid: Some(9),
        }),
        Operation::RemoveGroup("staff".into()),
        Operation::GroupGrant {
            group: "staff".into(),
            share: "/export".into(),
            permission: SharePermission::Admin,
        },
        Operation::GroupRevoke {
            group: "staff".into(),
            share: "/export".into(),
        },
    ];
    for op in ops {
        let req = op.to_http();
        let body = req.body.clone().unwrap_or_default();
        assert_eq!(
            Operation::from_http(req.method, &req.path, body.as_bytes()).unwrap(),
            op,
            "{req:?}"
        );
    }
    assert_eq!(
        Operation::from_http("GET", "/api/v1/usersx", b""),
        Err(api::RouteError::NoRoute)
    );
    assert_eq!(
        Operation::from_http("PATCH", "/api/v1/users", b""),
        Err(api::RouteError::MethodNotAllowed)
    );
    assert!(matches!(
        Operation::from_http("POST", "/api/v1/users", b"{not json"),
        Err(api::RouteError::BadBody(_))
    ));

    let a = admin();
    block_on(async {
        let r = api::handle(
            &a,
            "POST",
            "/api/v1/users",
            br#"{"name":"alice","password":"secret"}"#,
        )
        .await;
        assert_eq!(r.status, 201, "{r:?}");
        assert!(
            !r.body.contains("hash\":\"") && !r.body.contains("$2"),
            "{}",
            r.body
        );
        let r = api::handle(
            &a,
            "POST",
            "/api/v1/users",
            br#"{"name":"alice","password":"x"}"#,
        )
        .await;
        assert_eq!(r.status, 409);
        assert!(r.body.contains("\"code\":\"exists\""), "{}", r.body);
        let r = api::handle(&a, "GET", "/api/v1/users/nobody-here", b"").await;
        assert_eq!(r.status, 404);
        let r = api::handle(
            &a,
            "PUT",
            "/api/v1/users/alice/grants/export",
            br#"{"permission":"read"}"#,
        )
        .await;
        assert_eq!(r.status, 204, "{r:?}");
        let r = api::handle(&a, "GET", "/api/v1/users", b"").await;
        let Outcome::Users(users) = Outcome::from_http(&Operation::ListUsers, &r.body).unwrap()
        else {
            panic!("not users");
        };
        assert_eq!(users[0].grants[0].permission, SharePermission::Read);
        let r = api::handle(
            &a,
            "PUT",
            "/api/v1/users/alice/grants/export",
            br#"{"permission":"all"}"#,
        )
        .await;
        assert_eq!(r.status, 400);
    });
}
