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
//! made) is kept, as it follows from the claims and the data alone. A connection only ever remembers what it was itself
//! allowed to learn; nothing crosses connections. With the token cache
//! turned off (`token_cache_capacity = 0`) nothing is remembered.

use crate::identity::{Identity, Who};
use crate::keys::KeyRing;
use crate::resolve::{Resolved, Resolver, Stamp};
use std::sync::Arc;
use std::time::Instant;
use wrnexus_policies::SessionClaims;

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
            let who = Who::User(claims.sub.clone());
            let session = Some(claims.sid.clone());
            Identity::new(who, claims.wid.clone(), role, session)
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
        token: &str,
        named: Option<&str>,
        keys: &KeyRing,
        resolver: &Resolver,
        now: Instant,
        unix_secs: i64,
    ) -> Option<&Self> {
        let holds = *self.token == *token
            && named.is_none_or(|w| w == self.claims.wid)
            && self.generation == keys.generation()
            && unix_secs < self.claims.exp
            && resolver.holds(&self.stamp, now);
        holds.then_some(self)
    }
}
