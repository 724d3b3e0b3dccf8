//! Rate limits on the doors people knock on: sign-in (per email and per
//! client address) and invitation acceptance (per user). Per process: each
//! control plane counts its own traffic.

use super::error::ApiError;
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// Requests per minute allowed for each door.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub signin_per_minute: u32,
    pub accept_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            signin_per_minute: 10,
            accept_per_minute: 10,
        }
    }
}

/// The limiters, shared by every handler.
pub struct Limiters {
    signin_email: DefaultKeyedRateLimiter<String>,
    signin_ip: DefaultKeyedRateLimiter<String>,
    accept: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters").finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

fn check(limiter: &DefaultKeyedRateLimiter<String>, key: &str, what: &str) -> Result<(), ApiError> {
    limiter.check_key(&key.to_string()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = wait.as_secs().max(1);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many {what} attempts; try again in {secs} s"),
        )
        .retry_after(secs)
    })
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        let signin = per_minute(limits.signin_per_minute);
        Limiters {
            signin_email: RateLimiter::keyed(signin),
            // One address may serve many people (an office): more room.
            signin_ip: RateLimiter::keyed(per_minute(limits.signin_per_minute.saturating_mul(5))),
            accept: RateLimiter::keyed(per_minute(limits.accept_per_minute)),
        }
    }

    /// A sign-in attempt for `email` from `ip`.
    pub fn signin(&self, email: &str, ip: Option<&str>) -> Result<(), ApiError> {
        check(&self.signin_email, email, "sign-in")?;
        if let Some(ip) = ip {
            check(&self.signin_ip, ip, "sign-in")?;
        }
        Ok(())
    }

    /// An invitation acceptance by `user_id`.
    pub fn accept(&self, user_id: &str) -> Result<(), ApiError> {
        check(&self.accept, user_id, "invitation")
    }

    /// Drop idle keys so the maps stay small.
    pub fn retain_recent(&self) {
        self.signin_email.retain_recent();
        self.signin_ip.retain_recent();
        self.accept.retain_recent();
    }
}
