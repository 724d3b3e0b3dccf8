//! What a keep-alive connection remembers of its last session request: the
//! verified claims of its token and the decision data resolved for them.
//! The next request on the same connection reuses them, skipping the token
//! hash and the cache lookups, only when it presents the very same token
//! for the same workspace and nothing they rest on has changed since:
//!
//! - the signing keys (their generation),
//! - the token's expiry (`now < exp`, as the token cache serves),
//! - the local cache (its epoch: any invalidation, fetch or eviction, from
//!   any connection, voids every memory), and the freshness bound of the
//!   oldest entry read (which shrinks while invalidations are not arriving).
//!
//! The decision itself is made afresh each time (the policy engine's own
//! memo answers it), so a different path, method or policy set is decided
//! as it should be; only the identity an allow forwards (its header values
//! made) is kept, as it follows from the claims and the data alone. A
//! connection only ever remembers what it was itself allowed to learn;
//! nothing crosses connections. With the token cache
//! turned off (`token_cache_capacity = 0`) nothing is remembered.
//!
//! An API key is remembered alike ([`RememberedKey`]): the very same
//! `Authorization` token, its checked grant and its workspace's state, while
//! the local cache (which any change of the key — revoked, expired, deleted
//! — or of its workspace moves) is unchanged, the data fresh and the key
//! not past its expiry.

use crate::authn::api_key::KeyGrant;
use crate::authn::keys::KeyRing;
use crate::data::resolve::{Resolved, Resolver, Stamp};
use crate::upstream::identity::Identity;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;
use wrnexus_policies::{Principal, SessionClaims};

/// What a connection carries from one request to the next.
#[derive(Debug)]
pub struct ConnectionMemory {
    pub session: Option<Arc<Remembered>>,
    pub key: Option<Arc<RememberedKey>>,
}

/// The previous session request's verified claims and resolved data.
#[derive(Debug)]
pub struct Remembered {
    token: Box<str>,
    claims: Arc<SessionClaims>,
    generation: u64,
    resolved: Resolved,
    stamp: Stamp,
    /// What an allow forwards, for a member.
    identity: Option<Arc<Identity>>,
}

impl Remembered {
    /// Remember a resolution of `token` in the token's own workspace.
    pub fn new(
        token: &str,
        claims: Arc<SessionClaims>,
        generation: u64,
        resolved: Resolved,
        stamp: Stamp,
    ) -> Self {
        let identity = resolved.role.and_then(|role| {
            let who = Principal::User(&claims.sub);
            Identity::new(who, &claims.wid, role, Some(&claims.sid))
                .ok()
                .map(Arc::new)
        });
        Remembered {
            token: token.into(),
            claims,
            generation,
            resolved,
            stamp,
            identity,
        }
    }

    /// The session token, as text.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The token's verified claims.
    pub fn claims(&self) -> &Arc<SessionClaims> {
        &self.claims
    }

    /// The decision data resolved for them, in the token's workspace.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    /// The identity an allow forwards (`None` for a non-member).
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        self.identity.as_ref()
    }

    /// This memory, for `token` in its own workspace (`named`: the one the
    /// path names, if any), if it still holds at `now` (monotonic) and
    /// `unix_secs`.
    pub fn reuse(
        &self,
        token: &[u8],
        named: Option<&str>,
        keys: &KeyRing,
        resolver: &Resolver,
        now: Instant,
        unix_secs: i64,
    ) -> Option<&Self> {
        let holds = self.token.as_bytes() == token
            && named.is_none_or(|w| w == self.claims.wid)
            && self.generation == keys.generation()
            && unix_secs < self.claims.exp
            && resolver.holds(&self.stamp, now);
        holds.then_some(self)
    }
}

/// The previous API key request's checked key and its workspace's data.
#[derive(Debug)]
pub struct RememberedKey {
    token: Box<str>,
    grant: KeyGrant,
    resolved: Resolved,
    stamp: Stamp,
    /// What an allow in the key's own workspace forwards.
    identity: Option<Arc<Identity>>,
    /// The last second this connection reported the key's use.
    last_use: AtomicI64,
}

impl RememberedKey {
    /// Remember `token` (key `key_id`), checked into `grant`, with its
    /// workspace's data `resolved`, used at `unix_secs`.
    pub fn new(
        token: &str,
        key_id: &str,
        grant: KeyGrant,
        resolved: Resolved,
        stamp: Stamp,
        unix_secs: i64,
    ) -> Self {
        let key = Principal::ApiKey {
            id: key_id,
            workspace_id: &grant.workspace_id,
        };
        let identity = Identity::new(key, &grant.workspace_id, grant.role_ceiling, None)
            .ok()
            .map(Arc::new);
        RememberedKey {
            token: token.into(),
            grant,
            resolved,
            stamp,
            identity,
            last_use: AtomicI64::new(unix_secs),
        }
    }

    /// This memory, for the very same `token`, if it still holds at `now`
    /// (monotonic) and `unix_secs`.
    pub fn reuse(
        &self,
        token: &str,
        resolver: &Resolver,
        now: Instant,
        unix_secs: i64,
    ) -> Option<&Self> {
        let holds = *self.token == *token
            && self.grant.expires_at.is_none_or(|e| unix_secs < e)
            && resolver.holds(&self.stamp, now);
        holds.then_some(self)
    }

    /// What the key may do.
    pub fn grant(&self) -> &KeyGrant {
        &self.grant
    }

    /// Its workspace's data, as a decision reads it.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    /// The identity an allow in the key's own workspace forwards.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        self.identity.as_ref()
    }

    /// Whether this is the connection's first use of the key in second
    /// `unix_secs` (a key's last use is kept to the second).
    pub fn first_use_in(&self, unix_secs: i64) -> bool {
        self.last_use.fetch_max(unix_secs, Ordering::Relaxed) < unix_secs
    }
}
