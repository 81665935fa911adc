//! [`Admin`]: every change to users, groups and grants, with the rules, for the
//! CLI and the REST API alike.
//!
//! Each operation is a read-modify-write of one record through the
//! `MetadataStore` identity methods. Two administrators changing the same user
//! at the same moment can lose one change (last write wins); uniqueness of
//! names and numbers is still guaranteed by the store. Every future may be
//! driven with `futures_lite::future::block_on` from a plain thread: no store
//! needs the executor that polls it.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::api_types::{GrantView, GroupView, UserView};
use super::password::{bcrypt_hash, check_password, nt_hash, verify_bcrypt};
use super::rules::{check_group_name, check_id, check_user_name, lowest_free};
use super::{bump_generation, effective_permission, IdentityError};
use crate::config::{Config, IdentityConfig, SharePermission};
use crate::meta::{GroupRecord, MetaError, MetadataStore, UserRecord};

type Result<T> = std::result::Result<T, IdentityError>;

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    pub password: String,
    /// `None`: the lowest free uid in `[identity] uid_min..=uid_max`.
    pub uid: Option<u32>,
    /// Primary gid; `None`: the same number as the uid (a user-private group).
    pub gid: Option<u32>,
    /// Names of existing groups the user joins.
    pub groups: Vec<String>,
}

/// The identity service over one metadata store.
pub struct Admin {
    store: Arc<dyn MetadataStore>,
    policy: IdentityConfig,
    /// Configured shares: (name, default permission).
    shares: Vec<(String, SharePermission)>,
}

impl Admin {
    /// The service for `config`'s shares and `[identity]` policy over `store`
    /// (the identity store: see [`Config::identity_store_name`]).
    pub fn new(store: Arc<dyn MetadataStore>, config: &Config) -> Admin {
        Admin {
            store,
            policy: config.identity.clone(),
            shares: config
                .shares
                .iter()
                .map(|s| (s.name.clone(), s.default_permission))
                .collect(),
        }
    }

    /// The store this service writes to.
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// The configured spelling of `share` (`export`, `/export` and `/EXPORT`
    /// all name `/export`), and its default permission.
    pub fn share(&self, share: &str) -> Result<(String, SharePermission)> {
        let want = share.trim_start_matches('/');
        self.shares
            .iter()
            .find(|(name, _)| name.trim_start_matches('/').eq_ignore_ascii_case(want))
            .cloned()
            .ok_or_else(|| IdentityError::ShareNotFound(share.to_owned()))
    }

    async fn user(&self, name: &str) -> Result<UserRecord> {
        self.store
            .get_user(name)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(name.to_owned()))
    }

    async fn group(&self, name: &str) -> Result<GroupRecord> {
        self.store
            .get_group(name)
            .await?
            .ok_or_else(|| IdentityError::GroupNotFound(name.to_owned()))
    }

    async fn put_user(&self, user: &UserRecord) -> Result<()> {
        match self.store.put_user(user).await {
            Ok(()) => {
                bump_generation();
                Ok(())
            }
            Err(MetaError::Exists) => Err(IdentityError::UidInUse(user.uid)),
            Err(e) => Err(e.into()),
        }
    }

    async fn put_group(&self, group: &GroupRecord) -> Result<()> {
        match self.store.put_group(group).await {
            Ok(()) => {
                bump_generation();
                Ok(())
            }
            Err(MetaError::Exists) => Err(IdentityError::GidInUse(group.gid)),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a user with both password hashes.
    pub async fn add_user(&self, new: &NewUser) -> Result<UserView> {
        check_user_name(&new.name)?;
        check_password(&new.password)?;
        if self.store.get_user(&new.name).await?.is_some() {
            return Err(IdentityError::UserExists(new.name.clone()));
        }
        let uid = match new.uid {
            Some(uid) => {
                check_id("uid", uid)?;
                if self.store.get_user_by_uid(uid).await?.is_some() {
                    return Err(IdentityError::UidInUse(uid));
                }
                uid
            }
            None => {
                let used: BTreeSet<u32> = self
                    .store
                    .list_users()
                    .await?
                    .iter()
                    .map(|u| u.uid)
                    .collect();
                lowest_free("uid", self.policy.uid_min, self.policy.uid_max, &used)?
            }
        };
        let gid = new.gid.unwrap_or(uid);
        check_id("gid", gid)?;
        let mut groups = Vec::new();
        for g in &new.groups {
            let gid = self.group(g).await?.gid;
            if !groups.contains(&gid) {
                groups.push(gid);
            }
        }
        let user = UserRecord {
            name: new.name.clone(),
            uid,
            gid,
            groups,
            password_hash: bcrypt_hash(&new.password, self.policy.bcrypt_cost)?,
            nt_hash: Some(nt_hash(&new.password)),
            share_permissions: Vec::new(),
        };
        self.put_user(&user).await?;
        log::info!("identity: added user {} (uid {uid}, gid {gid})", user.name);
        self.user_view(&user).await
    }

    /// Replaces both password hashes of `name`.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let mut user = self.user(name).await?;
        user.password_hash = bcrypt_hash(password, self.policy.bcrypt_cost)?;
        user.nt_hash = Some(nt_hash(password));
        self.put_user(&user).await?;
        log::info!("identity: changed the password of user {name}");
        Ok(())
    }

    /// Removes user `name`.
    pub async fn remove_user(&self, name: &str) -> Result<()> {
        if !self.store.remove_user(name).await? {
            return Err(IdentityError::UserNotFound(name.to_owned()));
        }
        bump_generation();
        log::info!("identity: removed user {name}");
        Ok(())
    }

    /// One user, without hashes.
    pub async fn get_user(&self, name: &str) -> Result<UserView> {
        let user = self.user(name).await?;
        self.user_view(&user).await
    }

    /// Every user, by name, without hashes.
    pub async fn list_users(&self) -> Result<Vec<UserView>> {
        let groups = self.store.list_groups().await?;
        Ok(self
            .store
            .list_users()
            .await?
            .iter()
            .map(|u| view_user(u, &groups))
            .collect())
    }

    async fn user_view(&self, user: &UserRecord) -> Result<UserView> {
        let groups = self.store.list_groups().await?;
        Ok(view_user(user, &groups))
    }

    /// Grants `user` `perm` on `share` (replacing an earlier grant).
    pub async fn grant(&self, user: &str, share: &str, perm: SharePermission) -> Result<()> {
        let (share, _) = self.share(share)?;
        let mut u = self.user(user).await?;
        set_grant(&mut u.share_permissions, &share, perm);
        self.put_user(&u).await?;
        log::info!("identity: user {user} granted {perm:?} on {share}");
        Ok(())
    }

    /// Removes the grant of `user` on `share`.
    pub async fn revoke(&self, user: &str, share: &str) -> Result<()> {
        // A grant on a share since removed from the config can still be revoked.
        let share = self
            .share(share)
            .map_or_else(|_| share.to_owned(), |(s, _)| s);
        let mut u = self.user(user).await?;
        if !drop_grant(&mut u.share_permissions, &share) {
            return Err(IdentityError::NoGrant {
                who: format!("user {user:?}"),
                share,
            });
        }
        self.put_user(&u).await?;
        log::info!("identity: user {user} revoked on {share}");
        Ok(())
    }

    /// Adds `user` to `group` (a no-op when already a member).
    pub async fn join(&self, user: &str, group: &str) -> Result<()> {
        let g = self.group(group).await?;
        let mut u = self.user(user).await?;
        if u.gid != g.gid && !u.groups.contains(&g.gid) {
            u.groups.push(g.gid);
            self.put_user(&u).await?;
            log::info!("identity: user {user} joined group {group}");
        }
        Ok(())
    }

    /// Removes `user` from the supplementary group `group`.
    pub async fn leave(&self, user: &str, group: &str) -> Result<()> {
        let g = self.group(group).await?;
        let mut u = self.user(user).await?;
        let before = u.groups.len();
        u.groups.retain(|gid| *gid != g.gid);
        if u.groups.len() == before {
            return Err(IdentityError::NotMember {
                user: user.to_owned(),
                group: group.to_owned(),
            });
        }
        self.put_user(&u).await?;
        log::info!("identity: user {user} left group {group}");
        Ok(())
    }

    /// Creates a group.
    pub async fn add_group(&self, name: &str, gid: Option<u32>) -> Result<GroupView> {
        check_group_name(name)?;
        if self.store.get_group(name).await?.is_some() {
            return Err(IdentityError::GroupExists(name.to_owned()));
        }
        let gid = match gid {
            Some(gid) => {
                check_id("gid", gid)?;
                if self.store.get_group_by_gid(gid).await?.is_some() {
                    return Err(IdentityError::GidInUse(gid));
                }
                gid
            }
            None => {
                // Skip gids that are some user's private primary group too, so
                // a new group never gains members by accident.
                let mut used: BTreeSet<u32> = self
                    .store
                    .list_groups()
                    .await?
                    .iter()
                    .map(|g| g.gid)
                    .collect();
                used.extend(self.store.list_users().await?.iter().map(|u| u.gid));
                lowest_free("gid", self.policy.gid_min, self.policy.gid_max, &used)?
            }
        };
        let group = GroupRecord {
            name: name.to_owned(),
            gid,
            share_permissions: Vec::new(),
        };
        self.put_group(&group).await?;
        log::info!("identity: added group {name} (gid {gid})");
        let users = self.store.list_users().await?;
        Ok(view_group(&group, &users))
    }

    /// Removes a group and drops it from every user's supplementary groups;
    /// refused while it is some user's primary group.
    pub async fn remove_group(&self, name: &str) -> Result<()> {
        let g = self.group(name).await?;
        let users = self.store.list_users().await?;
        if let Some(u) = users.iter().find(|u| u.gid == g.gid) {
            return Err(IdentityError::GroupInUse {
                group: name.to_owned(),
                user: u.name.clone(),
            });
        }
        for mut u in users.into_iter().filter(|u| u.groups.contains(&g.gid)) {
            u.groups.retain(|gid| *gid != g.gid);
            self.put_user(&u).await?;
        }
        if !self.store.remove_group(name).await? {
            return Err(IdentityError::GroupNotFound(name.to_owned()));
        }
        bump_generation();
        log::info!("identity: removed group {name}");
        Ok(())
    }

    /// One group with its members.
    pub async fn get_group(&self, name: &str) -> Result<GroupView> {
        let g = self.group(name).await?;
        let users = self.store.list_users().await?;
        Ok(view_group(&g, &users))
    }

    /// Every group, by name, with members.
    pub async fn list_groups(&self) -> Result<Vec<GroupView>> {
        let users = self.store.list_users().await?;
        Ok(self
            .store
            .list_groups()
            .await?
            .iter()
            .map(|g| view_group(g, &users))
            .collect())
    }

    /// Grants `group` `perm` on `share` (replacing an earlier grant).
    pub async fn group_grant(&self, group: &str, share: &str, perm: SharePermission) -> Result<()> {
        let (share, _) = self.share(share)?;
        let mut g = self.group(group).await?;
        set_grant(&mut g.share_permissions, &share, perm);
        self.put_group(&g).await?;
        log::info!("identity: group {group} granted {perm:?} on {share}");
        Ok(())
    }

    /// Removes the grant of `group` on `share`.
    pub async fn group_revoke(&self, group: &str, share: &str) -> Result<()> {
        let share = self
            .share(share)
            .map_or_else(|_| share.to_owned(), |(s, _)| s);
        let mut g = self.group(group).await?;
        if !drop_grant(&mut g.share_permissions, &share) {
            return Err(IdentityError::NoGrant {
                who: format!("group {group:?}"),
                share,
            });
        }
        self.put_group(&g).await?;
        log::info!("identity: group {group} revoked on {share}");
        Ok(())
    }

    /// What `user` may do on `share` (see [`effective_permission`]).
    pub async fn effective_permission(&self, user: &str, share: &str) -> Result<SharePermission> {
        let (share, default) = self.share(share)?;
        let u = self.user(user).await?;
        let groups = self.groups_of(&u).await?;
        Ok(effective_permission(Some(&u), &groups, &share, default))
    }

    async fn groups_of(&self, u: &UserRecord) -> Result<Vec<GroupRecord>> {
        let mut out = Vec::new();
        for gid in std::iter::once(u.gid).chain(u.groups.iter().copied()) {
            if let Some(g) = self.store.get_group_by_gid(gid).await? {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
        Ok(out)
    }

    /// Checks a password login (admin API): the user when `password` matches
    /// its bcrypt hash, else `BadCredentials` (also for an unknown user).
    pub async fn verify_password(&self, name: &str, password: &str) -> Result<UserRecord> {
        match self.store.get_user(name).await? {
            Some(u) if verify_bcrypt(password, &u.password_hash) => Ok(u),
            Some(_) => Err(IdentityError::BadCredentials),
            None => {
                // Spend the same time as a wrong password, so timing does not
                // tell which user names exist.
                let _ = verify_bcrypt(password, dummy_hash(self.policy.bcrypt_cost));
                Err(IdentityError::BadCredentials)
            }
        }
    }

    /// Whether `user` is in `[identity] admin_group` (may use the admin API).
    pub async fn is_admin(&self, user: &UserRecord) -> Result<bool> {
        let Some(g) = self.store.get_group(&self.policy.admin_group).await? else {
            return Ok(false);
        };
        Ok(user.gid == g.gid || user.groups.contains(&g.gid))
    }
}

/// A bcrypt hash at the configured cost, for logins of unknown users.
fn dummy_hash(cost: u32) -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| bcrypt_hash("no such user", cost).unwrap_or_default())
}

fn set_grant(grants: &mut Vec<(String, SharePermission)>, share: &str, perm: SharePermission) {
    grants.retain(|(s, _)| !s.eq_ignore_ascii_case(share));
    grants.push((share.to_owned(), perm));
    grants.sort();
}

fn drop_grant(grants: &mut Vec<(String, SharePermission)>, share: &str) -> bool {
    let before = grants.len();
    let want = share.trim_start_matches('/');
    grants.retain(|(s, _)| !s.trim_start_matches('/').eq_ignore_ascii_case(want));
    grants.len() != before
}

fn grant_views(grants: &[(String, SharePermission)]) -> Vec<GrantView> {
    grants
        .iter()
        .map(|(share, permission)| GrantView {
            share: share.clone(),
            permission: *permission,
        })
        .collect()
}

fn group_name(gid: u32, groups: &[GroupRecord]) -> String {
    groups
        .iter()
        .find(|g| g.gid == gid)
        .map_or_else(|| gid.to_string(), |g| g.name.clone())
}

fn view_user(u: &UserRecord, groups: &[GroupRecord]) -> UserView {
    UserView {
        name: u.name.clone(),
        uid: u.uid,
        gid: u.gid,
        primary_group: groups
            .iter()
            .find(|g| g.gid == u.gid)
            .map(|g| g.name.clone()),
        groups: u
            .groups
            .iter()
            .map(|gid| group_name(*gid, groups))
            .collect(),
        gids: u.groups.clone(),
        grants: grant_views(&u.share_permissions),
        has_nt_hash: u.nt_hash.is_some(),
    }
}

fn view_group(g: &GroupRecord, users: &[UserRecord]) -> GroupView {
    GroupView {
        name: g.name.clone(),
        gid: g.gid,
        members: users
            .iter()
            .filter(|u| u.gid == g.gid || u.groups.contains(&g.gid))
            .map(|u| u.name.clone())
            .collect(),
        grants: grant_views(&g.share_permissions),
    }
}
