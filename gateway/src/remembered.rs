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
//! as it should be. A connection only ever remembers what it was itself
//! allowed to learn; nothing crosses connections. With the token cache
//! turned off (`token_cache_capacity = 0`) nothing is remembered.

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
        Remembered {
            token: token.into(),
            claims,
            generation,
            resolved,
            stamp,
        }
    }

    /// The claims and data for `token` in its own workspace (`named`: the
    /// one the path names, if any), if they still hold at `now` (monotonic)
    /// and `unix_secs`.
    pub fn reuse(
        &self,
        token: &str,
        named: Option<&str>,
        keys: &KeyRing,
        resolver: &Resolver,
        now: Instant,
        unix_secs: i64,
    ) -> Option<(&Arc<SessionClaims>, &Resolved)> {
        let holds = *self.token == *token
            && named.is_none_or(|w| w == self.claims.wid)
            && self.generation == keys.generation()
            && unix_secs < self.claims.exp
            && resolver.holds(&self.stamp, now);
        holds.then_some((&self.claims, &self.resolved))
    }
}
