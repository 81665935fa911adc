//! Where SMB finds a user's NT hash and Unix identity.
//!
//! Why a trait: NTLMv2 needs only the MD4 of the password and the uid/gid/groups
//! the fs core checks permissions with. The identity system (users in the
//! metadata store) is the source in production; keeping the lookup behind
//! [`UserSource`] lets the session code stay independent of how users are
//! administered, and lets unit tests use a fixed table.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::fs::Cred;
use crate::meta::MetadataStore;

/// What SESSION_SETUP needs to know about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmbUser {
    /// Account name as stored.
    pub name: String,
    /// MD4 of the UTF-16LE password.
    pub nt_hash: [u8; 16],
    /// uid, primary gid and supplementary groups.
    pub cred: Cred,
}

/// A future borrowed from the source.
pub type UserFuture<'a> = Pin<Box<dyn Future<Output = Option<SmbUser>> + 'a>>;

/// Looks accounts up by the name the client sent (case-insensitive match is the
/// source's business).
pub trait UserSource {
    /// The account `user`, if it exists and has an NT hash.
    fn lookup<'a>(&'a self, user: &'a str) -> UserFuture<'a>;
}

/// Users kept in the metadata stores of the shares ([`crate::meta::UserRecord`]).
/// Searched in order; the first store that knows the name answers.
pub struct MetaUsers {
    stores: Vec<Arc<dyn MetadataStore>>,
}

impl MetaUsers {
    pub fn new(stores: Vec<Arc<dyn MetadataStore>>) -> MetaUsers {
        MetaUsers { stores }
    }
}

impl UserSource for MetaUsers {
    fn lookup<'a>(&'a self, user: &'a str) -> UserFuture<'a> {
        Box::pin(async move {
            for store in &self.stores {
                let mut found = store.get_user(user).await.ok().flatten();
                if found.is_none() {
                    let lower = user.to_lowercase();
                    if lower != user {
                        found = store.get_user(&lower).await.ok().flatten();
                    }
                }
                if let Some(rec) = found {
                    let nt_hash = rec.nt_hash?;
                    return Some(SmbUser {
                        name: rec.name,
                        nt_hash,
                        cred: Cred {
                            uid: rec.uid,
                            gid: rec.gid,
                            gids: rec.groups,
                        },
                    });
                }
            }
            None
        })
    }
}

/// A fixed table of users (unit tests).
#[derive(Default)]
pub struct StaticUsers {
    users: HashMap<String, SmbUser>,
}

impl StaticUsers {
    pub fn add(&mut self, name: &str, password: &str, cred: Cred) {
        self.users.insert(
            name.to_lowercase(),
            SmbUser {
                name: name.to_owned(),
                nt_hash: dittofs_smb_wire::auth::ntlm::nt_hash(password),
                cred,
            },
        );
    }
}

impl UserSource for StaticUsers {
    fn lookup<'a>(&'a self, user: &'a str) -> UserFuture<'a> {
        let found = self.users.get(&user.to_lowercase()).cloned();
        Box::pin(async move { found })
    }
}
