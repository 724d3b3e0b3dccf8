//! Decision data: what the gateway needs to decide, as cached and pushed entries.
//!
//! The control plane is the only writer. After every committed change that
//! can alter a decision it writes the new entry (with a higher version) to
//! Redis and publishes an [`Invalidation`]; gateways drop their local copy.

use crate::model::{Role, WorkspaceStatus};
use crate::sign_in::SignInMethods;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Redis pub/sub channel carrying [`Invalidation`]s.
pub const INVALIDATION_CHANNEL: &str = "wrnexus:invalidations";

/// What a decision needs, one key each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKey {
    Membership {
        workspace_id: String,
        user_id: String,
    },
    Workspace(String),
    /// A session, by its user (whose keys it shares a hash tag with) and id.
    Session {
        user_id: String,
        session_id: String,
    },
    User(String),
    /// An API key, by its key id.
    ApiKey(String),
    /// A project, by its id.
    Project(String),
}

impl EntryKey {
    pub fn membership(workspace_id: &str, user_id: &str) -> Self {
        EntryKey::Membership {
            workspace_id: workspace_id.to_string(),
            user_id: user_id.to_string(),
        }
    }

    pub fn session(user_id: &str, session_id: &str) -> Self {
        EntryKey::Session {
            user_id: user_id.to_string(),
            session_id: session_id.to_string(),
        }
    }

    /// The cache key, the same in Redis and in every gateway's local cache.
    /// The part in braces is the Redis Cluster hash tag: a user's session,
    /// user and membership keys share one (one slot, read with one `MGET`);
    /// a workspace, an API key and a project each have their own.
    pub fn cache_key(&self) -> String {
        self.borrowed().cache_key()
    }

    /// The same key over borrowed ids.
    pub fn borrowed(&self) -> EntryKeyRef<'_> {
        match self {
            EntryKey::Membership {
                workspace_id,
                user_id,
            } => EntryKeyRef::Membership {
                workspace_id,
                user_id,
            },
            EntryKey::Workspace(id) => EntryKeyRef::Workspace(id),
            EntryKey::Session {
                user_id,
                session_id,
            } => EntryKeyRef::Session {
                user_id,
                session_id,
            },
            EntryKey::User(id) => EntryKeyRef::User(id),
            EntryKey::ApiKey(id) => EntryKeyRef::ApiKey(id),
            EntryKey::Project(id) => EntryKeyRef::Project(id),
        }
    }
}

/// An [`EntryKey`] over borrowed ids: builds a cache key on the request path
/// without first copying the ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKeyRef<'a> {
    Membership {
        workspace_id: &'a str,
        user_id: &'a str,
    },
    Workspace(&'a str),
    Session {
        user_id: &'a str,
        session_id: &'a str,
    },
    User(&'a str),
    ApiKey(&'a str),
    Project(&'a str),
}

impl<'a> EntryKeyRef<'a> {
    /// The pieces the key is made of, in order.
    fn parts(self) -> [&'a str; 4] {
        match self {
            EntryKeyRef::Membership {
                workspace_id,
                user_id,
            } => ["wrnexus:{u:", user_id, "}:member:", workspace_id],
            EntryKeyRef::Workspace(id) => ["wrnexus:{w:", id, "}:workspace", ""],
            EntryKeyRef::Session {
                user_id,
                session_id,
            } => ["wrnexus:{u:", user_id, "}:session:", session_id],
            EntryKeyRef::User(id) => ["wrnexus:{u:", id, "}:user", ""],
            EntryKeyRef::ApiKey(id) => ["wrnexus:{k:", id, "}:apikey", ""],
            EntryKeyRef::Project(id) => ["wrnexus:{p:", id, "}:project", ""],
        }
    }

    /// See [`EntryKey::cache_key`].
    pub fn cache_key(self) -> String {
        let mut key = String::new();
        self.push_to(&mut key);
        key
    }

    /// Append the cache key to `buf` (several keys can share one buffer).
    pub fn push_to(self, buf: &mut String) {
        let parts = self.parts();
        buf.reserve(parts.iter().map(|p| p.len()).sum());
        for part in parts {
            buf.push_str(part);
        }
    }
}

/// One piece of decision data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// `role: None` means "not a member" (a cached negative answer).
    Membership {
        role: Option<Role>,
        /// The projects the membership is limited to; `None`: all of them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projects: Option<Vec<String>>,
    },
    Workspace {
        status: WorkspaceStatus,
        plan: String,
        /// The methods its sessions may have been signed in with (`sso`
        /// alone: "require SSO"). Absent in entries written before it
        /// existed: every method.
        #[serde(default)]
        sign_in_methods: SignInMethods,
        /// How old (seconds since sign-in) a session may be; `None`: any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_session_age_secs: Option<i64>,
    },
    Session {
        user_id: String,
        revoked: bool,
    },
    User {
        disabled: bool,
        /// The person proved they own their email (Cedar's
        /// `context.email_verified` for their sessions). Absent in entries
        /// written before it existed: not verified.
        #[serde(default)]
        email_verified: bool,
    },
    /// An API key: its one workspace, its role ceiling, and whether it
    /// still works. Only the hash of the secret is ever stored or pushed.
    ApiKey {
        workspace_id: String,
        role_ceiling: Role,
        secret_hash: String,
        /// Unix seconds; `None`: never expires.
        expires_at: Option<i64>,
        revoked: bool,
        /// The projects the key is limited to; `None`: all of them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projects: Option<Vec<String>>,
    },
    /// A project: the one workspace it is in, and whether it is archived
    /// (read-only). A project that does not exist is [`Entry::Missing`].
    Project {
        workspace_id: String,
        archived: bool,
    },
    /// The workspace, session or user does not exist (any more).
    Missing,
}

/// An entry with the version it was read or written at. A writer may only
/// replace an entry with a strictly higher version, so a slow writer cannot
/// put back a stale one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedEntry {
    pub version: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

/// Everything one request needs, keyed by [`EntryKey::cache_key`]: the
/// control plane's answer to a gateway's miss.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionData {
    pub entries: BTreeMap<String, VersionedEntry>,
}

/// A change notice: drop your local copy of `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    pub key: String,
    pub version: i64,
    /// When the control plane published it (Unix ms), to measure lag.
    pub published_at_ms: i64,
}

impl Invalidation {
    /// Now, in Unix milliseconds, the clock of `published_at_ms`.
    pub fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_as_flat_json() -> Result<(), serde_json::Error> {
        let entry = VersionedEntry {
            version: 7,
            entry: Entry::Membership {
                role: Some(Role::Viewer),
                projects: None,
            },
        };
        let json = serde_json::to_value(&entry)?;
        assert_eq!(
            json,
            serde_json::json!({"version": 7, "kind": "membership", "role": "viewer"})
        );
        let back: VersionedEntry = serde_json::from_value(json)?;
        assert_eq!(back, entry);
        Ok(())
    }

    #[test]
    fn workspace_entries_without_a_sign_in_policy_allow_every_method()
    -> Result<(), serde_json::Error> {
        let old = serde_json::json!({"version": 3, "kind": "workspace", "status": "active", "plan": "free"});
        let read: VersionedEntry = serde_json::from_value(old)?;
        assert_eq!(
            read.entry,
            Entry::Workspace {
                status: WorkspaceStatus::Active,
                plan: "free".into(),
                sign_in_methods: SignInMethods::ALL,
                max_session_age_secs: None,
            }
        );
        let strict = Entry::Workspace {
            status: WorkspaceStatus::Active,
            plan: "team".into(),
            sign_in_methods: SignInMethods::SSO_ONLY,
            max_session_age_secs: Some(3600),
        };
        let json = serde_json::to_value(&strict)?;
        assert_eq!(json["sign_in_methods"], serde_json::json!(["sso"]));
        assert_eq!(json["max_session_age_secs"], 3600);
        assert_eq!(serde_json::from_value::<Entry>(json)?, strict);
        Ok(())
    }

    #[test]
    fn keys_name_their_kind_and_ids() {
        assert_eq!(
            EntryKey::membership("w1", "u1").cache_key(),
            "wrnexus:{u:u1}:member:w1"
        );
        assert_eq!(
            EntryKey::Workspace("w1".into()).cache_key(),
            "wrnexus:{w:w1}:workspace"
        );
        assert_eq!(
            EntryKey::session("u1", "s1").cache_key(),
            "wrnexus:{u:u1}:session:s1"
        );
        assert_eq!(EntryKeyRef::User("u1").cache_key(), "wrnexus:{u:u1}:user");
        assert_eq!(
            EntryKey::ApiKey("k1".into()).cache_key(),
            "wrnexus:{k:k1}:apikey"
        );
    }

    /// The Redis Cluster hash tag: the text between the first `{` and the
    /// next `}`.
    fn hash_tag(key: &str) -> &str {
        let open = key.find('{').map_or(0, |i| i + 1);
        let close = key[open..].find('}').map_or(key.len(), |i| open + i);
        &key[open..close]
    }

    #[test]
    fn a_users_keys_share_a_cluster_slot_and_workspaces_do_not() {
        let user = [
            EntryKey::session("u1", "s1").cache_key(),
            EntryKey::User("u1".into()).cache_key(),
            EntryKey::membership("w1", "u1").cache_key(),
            EntryKey::membership("w2", "u1").cache_key(),
        ];
        assert!(user.iter().all(|k| hash_tag(k) == "u:u1"), "{user:?}");
        assert_eq!(hash_tag(&EntryKey::User("u2".into()).cache_key()), "u:u2");
        assert_eq!(
            hash_tag(&EntryKey::Workspace("u1".into()).cache_key()),
            "w:u1"
        );
        assert_eq!(
            hash_tag(&EntryKey::Project("p1".into()).cache_key()),
            "p:p1"
        );
    }
}
