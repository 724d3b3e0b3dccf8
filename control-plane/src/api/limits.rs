//! Rate limits on the doors people knock on: sign-in (per email and per
//! client address), invitation acceptance (per user and per client
//! address), invitations mailed — sent or resent (per acting user or API
//! key, and per client address) — and account mail and links — "forgot password", a fresh
//! verification link, a change of email, a reset form sent (per email or
//! user, and per client address). The address is the real client's, as a trusted gateway
//! reports it. With Redis every control plane counts the same attempts
//! ([`super::limits_shared`]); without, each counts its own traffic.

use super::error::ApiError;
use super::limits_shared::SharedCounter;
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;
use wrnexus_backends::RedisConnection;
use wrnexus_contract::ProblemCode;

/// Requests per minute allowed for each door.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub signin_per_minute: u32,
    pub accept_per_minute: u32,
    /// Invitations mailed (sent or resent), per acting user or API key (an
    /// address gets five times).
    pub invite_per_minute: u32,
    /// Account mail asked for (reset, verification, change of email) and
    /// reset forms sent, per email or user (an address gets five times).
    pub account_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            signin_per_minute: 10,
            accept_per_minute: 10,
            invite_per_minute: 20,
            account_per_minute: 5,
        }
    }
}

/// A door and the key knocking on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    SigninEmail,
    SigninAddress,
    AcceptUser,
    AcceptAddress,
    InviteActor,
    InviteAddress,
    AccountPerson,
    AccountAddress,
}

impl Door {
    /// Its name in Redis keys.
    fn name(self) -> &'static str {
        match self {
            Door::SigninEmail => "signin-email",
            Door::SigninAddress => "signin-address",
            Door::AcceptUser => "accept-user",
            Door::AcceptAddress => "accept-address",
            Door::InviteActor => "invite-actor",
            Door::InviteAddress => "invite-address",
            Door::AccountPerson => "account-person",
            Door::AccountAddress => "account-address",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Door::SigninEmail | Door::SigninAddress => "sign-in",
            Door::AcceptUser | Door::AcceptAddress => "invitation",
            Door::InviteActor | Door::InviteAddress => "invitation mail",
            Door::AccountPerson | Door::AccountAddress => "account",
        }
    }
}

/// The per-process limiters, one per door.
struct Local {
    signin_email: DefaultKeyedRateLimiter<String>,
    signin_ip: DefaultKeyedRateLimiter<String>,
    accept: DefaultKeyedRateLimiter<String>,
    accept_ip: DefaultKeyedRateLimiter<String>,
    invite: DefaultKeyedRateLimiter<String>,
    invite_ip: DefaultKeyedRateLimiter<String>,
    account: DefaultKeyedRateLimiter<String>,
    account_ip: DefaultKeyedRateLimiter<String>,
}

/// The limiters, shared by every handler: in Redis when the control plane
/// has it (every replica counts the same attempts), else in this process.
pub struct Limiters {
    limits: RateLimits,
    local: Local,
    shared: Option<SharedCounter>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("limits", &self.limits)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

fn limited(what: &str, secs: u64) -> ApiError {
    let secs = secs.max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ProblemCode::RateLimited,
        format!("too many {what} attempts; try again in {secs} s"),
    )
    .retry_after(secs)
}

fn check(limiter: &DefaultKeyedRateLimiter<String>, key: &str, what: &str) -> Result<(), ApiError> {
    limiter.check_key(&key.to_string()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        limited(what, wait.as_secs())
    })
}

/// What a client address is counted as: an IPv4 address (also written
/// inside IPv6) as itself, an IPv6 address by its /64 — one subscriber
/// holds a whole /64 and could otherwise count afresh from each address.
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>().map(|a| a.to_canonical()) {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// One address may serve many people (an office): it gets this many times
/// a person's allowance.
const PER_ADDRESS: u32 = 5;

const WINDOW: Duration = Duration::from_secs(60);

impl Limiters {
    /// Limiters counting in this process only.
    pub fn new(limits: RateLimits) -> Self {
        let signin = per_minute(limits.signin_per_minute);
        let accept = per_minute(limits.accept_per_minute);
        let invite = per_minute(limits.invite_per_minute);
        let account = per_minute(limits.account_per_minute);
        Limiters {
            limits,
            local: Local {
                signin_email: RateLimiter::keyed(signin),
                signin_ip: RateLimiter::keyed(per_minute(
                    limits.signin_per_minute.saturating_mul(PER_ADDRESS),
                )),
                accept: RateLimiter::keyed(accept),
                accept_ip: RateLimiter::keyed(per_minute(
                    limits.accept_per_minute.saturating_mul(PER_ADDRESS),
                )),
                invite: RateLimiter::keyed(invite),
                invite_ip: RateLimiter::keyed(per_minute(
                    limits.invite_per_minute.saturating_mul(PER_ADDRESS),
                )),
                account: RateLimiter::keyed(account),
                account_ip: RateLimiter::keyed(per_minute(
                    limits.account_per_minute.saturating_mul(PER_ADDRESS),
                )),
            },
            shared: None,
        }
    }

    /// Count in Redis, shared by every replica of the deployment named by
    /// `namespace` (see [`SharedCounter`]); this process's own limiters
    /// stand in while Redis does not answer.
    pub fn with_redis(mut self, conn: RedisConnection, namespace: &str) -> Self {
        self.shared = Some(SharedCounter::new(conn, namespace));
        self
    }

    fn allowance(&self, door: Door) -> u32 {
        let limit = match door {
            Door::SigninEmail | Door::SigninAddress => self.limits.signin_per_minute,
            Door::AcceptUser | Door::AcceptAddress => self.limits.accept_per_minute,
            Door::InviteActor | Door::InviteAddress => self.limits.invite_per_minute,
            Door::AccountPerson | Door::AccountAddress => self.limits.account_per_minute,
        };
        match door {
            Door::SigninAddress
            | Door::AcceptAddress
            | Door::InviteAddress
            | Door::AccountAddress => limit.saturating_mul(PER_ADDRESS),
            Door::SigninEmail | Door::AcceptUser | Door::InviteActor | Door::AccountPerson => limit,
        }
        .max(1)
    }

    fn local(&self, door: Door) -> &DefaultKeyedRateLimiter<String> {
        match door {
            Door::SigninEmail => &self.local.signin_email,
            Door::SigninAddress => &self.local.signin_ip,
            Door::AcceptUser => &self.local.accept,
            Door::AcceptAddress => &self.local.accept_ip,
            Door::InviteActor => &self.local.invite,
            Door::InviteAddress => &self.local.invite_ip,
            Door::AccountPerson => &self.local.account,
            Door::AccountAddress => &self.local.account_ip,
        }
    }

    async fn knock(&self, door: Door, key: &str) -> Result<(), ApiError> {
        if let Some(shared) = &self.shared {
            match shared.hit(door.name(), key, WINDOW).await {
                Ok(count) if count.attempts <= u64::from(self.allowance(door)) => return Ok(()),
                Ok(count) => {
                    let secs = count.window_left.as_millis().div_ceil(1000);
                    return Err(limited(door.what(), u64::try_from(secs).unwrap_or(60)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate limit unavailable; counting in this process");
                }
            }
        }
        check(self.local(door), key, door.what())
    }

    /// A sign-in attempt for `email` from `ip`.
    pub async fn signin(&self, email: &str, ip: Option<&str>) -> Result<(), ApiError> {
        self.knock(Door::SigninEmail, email).await?;
        if let Some(ip) = ip {
            self.knock(Door::SigninAddress, &address_key(ip)).await?;
        }
        Ok(())
    }

    /// A sign-in sent to an identity provider from `ip` (each writes an
    /// attempt): counted with the address's password sign-ins.
    pub async fn sso_start(&self, ip: Option<&str>) -> Result<(), ApiError> {
        match ip {
            Some(ip) => self.knock(Door::SigninAddress, &address_key(ip)).await,
            None => Ok(()),
        }
    }

    /// An invitation acceptance by `user_id` from `ip`.
    pub async fn accept(&self, user_id: &str, ip: Option<&str>) -> Result<(), ApiError> {
        self.knock(Door::AcceptUser, user_id).await?;
        if let Some(ip) = ip {
            self.knock(Door::AcceptAddress, &address_key(ip)).await?;
        }
        Ok(())
    }

    /// An invitation mailed (sent or resent) by `actor` (a user's or an API
    /// key's id) from `ip`.
    pub async fn invite(&self, actor: &str, ip: Option<&str>) -> Result<(), ApiError> {
        self.knock(Door::InviteActor, actor).await?;
        if let Some(ip) = ip {
            self.knock(Door::InviteAddress, &address_key(ip)).await?;
        }
        Ok(())
    }

    /// Account mail or a reset form for `person` (an email, or `user:<id>`)
    /// from `ip`; `None` counts the address alone (a reset form, whose
    /// person is not known before its link is checked).
    pub async fn account(&self, person: Option<&str>, ip: Option<&str>) -> Result<(), ApiError> {
        if let Some(person) = person {
            self.knock(Door::AccountPerson, person).await?;
        }
        if let Some(ip) = ip {
            self.knock(Door::AccountAddress, &address_key(ip)).await?;
        }
        Ok(())
    }

    /// Drop idle keys so the maps stay small.
    pub fn retain_recent(&self) {
        self.local.signin_email.retain_recent();
        self.local.signin_ip.retain_recent();
        self.local.accept.retain_recent();
        self.local.accept_ip.retain_recent();
        self.local.invite.retain_recent();
        self.local.invite_ip.retain_recent();
        self.local.account.retain_recent();
        self.local.account_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::{Limiters, RateLimits, address_key};

    /// Invitations mailed are counted per acting user or key, and per
    /// address across them; the refusal says when to try again.
    #[tokio::test]
    async fn invitation_mail_is_limited_per_actor_and_address() {
        let limits = Limiters::new(RateLimits {
            invite_per_minute: 2,
            ..RateLimits::default()
        });
        for _ in 0..2 {
            assert!(limits.invite("u1", Some("192.0.2.1")).await.is_ok());
        }
        let refused = limits.invite("u1", Some("192.0.2.1")).await.err();
        let refused = refused.map(|e| (e.status.as_u16(), e.code));
        assert_eq!(refused, Some((429, "rate_limited")));
        // Another actor from another address is not held back by u1.
        assert!(limits.invite("key-1", Some("192.0.2.2")).await.is_ok());
        // One address, many actors: five times a person's allowance.
        for n in 0..10 {
            let actor = format!("a{n}");
            assert!(limits.invite(&actor, Some("198.51.100.9")).await.is_ok());
        }
        assert!(limits.invite("a10", Some("198.51.100.9")).await.is_err());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            address_key("2001:db8:1:2::9")
        );
        assert_ne!(
            address_key("2001:db8:1:3::1"),
            address_key("2001:db8:1:2::1")
        );
        assert_eq!(address_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
    }
}
