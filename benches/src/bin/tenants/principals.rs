//! The seeded principals a run presents: sessions drawn across the whole
//! table, their tokens minted with the control plane's stored key, and the
//! checks that the seeded rows really are valid principals to the stack.

use crate::fleet::{Fleet, e2e};
use crate::seed::{SESSION_TTL_SECS, sessions_per_user, unix_now};
use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};
use wrnexus_e2e::client::{self, COOKIE_NAME, PASSWORD};
use wrnexus_e2e::minter::Minter;

/// One seeded session and its token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub index: u64,
    pub user_id: String,
    pub workspace_id: String,
    pub token: String,
}

impl Principal {
    pub fn cookie(&self) -> String {
        format!("{COOKIE_NAME}={}", self.token)
    }
}

/// A small deterministic generator (xorshift64*), seeded per run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// `count` distinct session numbers spread over `1..=total`: one drawn at
/// random from each of `count` equal slices.
pub fn spread(total: u64, count: u64, rng: &mut Rng) -> Vec<u64> {
    let count = count.min(total);
    (0..count)
        .map(|k| {
            let start = k * total / count;
            let end = (k + 1) * total / count;
            start + 1 + rng.below(end - start)
        })
        .collect()
}

/// The principals of session numbers `indices` at `scale`, read from the
/// database (so only rows that exist are used) and minted a token each.
pub async fn load(database_url: &str, scale: u64, indices: &[u64]) -> Result<Vec<Principal>> {
    let minter = e2e(Minter::load(database_url).await).context("reading the signing key")?;
    let mut conn = PgConnection::connect(database_url).await?;
    let per_user = i64::try_from(sessions_per_user(scale))?;
    let list = indices
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let rows = sqlx::query(
        "SELECT j, s.id AS sid, s.user_id, m.workspace_id \
         FROM unnest(string_to_array($1, ',')::bigint[]) AS j \
         JOIN sessions s ON s.id = md5('tenants-session-' || j)::uuid::text \
         JOIN memberships m ON m.user_id = s.user_id \
          AND m.workspace_id = md5('tenants-ws-' || ((j - 1) / $2 + 1))::uuid::text",
    )
    .bind(&list)
    .bind(per_user)
    .fetch_all(&mut conn)
    .await?;
    if rows.len() != indices.len() {
        bail!(
            "{} of {} chosen sessions found with their memberships",
            rows.len(),
            indices.len()
        );
    }
    let now = unix_now();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (sid, sub, wid): (String, String, String) = (
            row.try_get("sid")?,
            row.try_get("user_id")?,
            row.try_get("workspace_id")?,
        );
        let claims = json!({
            "iss": "wrnexus", "aud": "wrnexus-gateway",
            "sub": sub, "wid": wid, "sid": sid,
            "iat": now, "exp": now + SESSION_TTL_SECS,
            "amr": ["pwd"], "auth_time": now,
        });
        let token = e2e(minter.mint(&claims))?;
        out.push(Principal {
            index: u64::try_from(row.try_get::<i64, _>("j")?)?,
            user_id: sub,
            workspace_id: wid,
            token,
        });
    }
    Ok(out)
}

/// The seeded rows work: `sample`'s minted sessions are allowed, a
/// session id that is not in the table is refused, and seeded users sign
/// in with a password (a real hash copied onto them) and are allowed.
pub async fn validate(fleet: &Fleet, sample: &[Principal]) -> Result<()> {
    let c = client::http();
    let gw = &fleet.stack.gateway;
    let url = format!("{gw}/app/items");
    for p in sample {
        let status = c
            .get(&url)
            .header("cookie", p.cookie())
            .send()
            .await?
            .status();
        if status != StatusCode::OK {
            bail!("seeded session {} answered {status}", p.index);
        }
    }
    let Some(first) = sample.first() else {
        bail!("no principals to check");
    };
    let minter = e2e(Minter::load(&fleet.stack.database_url).await)?;
    let mut claims = e2e(wrnexus_e2e::tokens::claims_of(&first.token))?;
    claims["sid"] = json!(uuid::Uuid::new_v4().to_string());
    let ghost = e2e(minter.mint(&claims))?;
    let status = c
        .get(&url)
        .header("cookie", format!("{COOKIE_NAME}={ghost}"))
        .send()
        .await?
        .status();
    if status != StatusCode::UNAUTHORIZED {
        bail!("a session not in the table answered {status}, not 401");
    }

    // A real password hash, from a real sign-up, onto seeded users.
    let probe = e2e(client::sign_up(&c, gw, &client::email("tenants-probe")).await)?;
    let mut conn = PgConnection::connect(&fleet.stack.database_url).await?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(&probe.id)
        .fetch_one(&mut conn)
        .await?;
    for p in sample.iter().take(3) {
        let email: String =
            sqlx::query_scalar("UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING email")
                .bind(&hash)
                .bind(&p.user_id)
                .fetch_one(&mut conn)
                .await?;
        let response = c
            .post(format!("{gw}/.wrnexus/signin"))
            .header("accept", "application/json")
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await?;
        let cookie = client::session_set_cookie(&response)
            .and_then(|s| s.split(';').next().map(str::to_string));
        let (status, body) = e2e(client::json_body(response).await)?;
        let Some(cookie) = cookie.filter(|_| status == StatusCode::OK) else {
            bail!("seeded user {email} could not sign in ({status}): {body}");
        };
        if body["workspace"]["id"] != json!(p.workspace_id) {
            bail!(
                "{email} signed in to {}, not their workspace",
                body["workspace"]["id"]
            );
        }
        let status = c.get(&url).header("cookie", cookie).send().await?.status();
        if status != StatusCode::OK {
            bail!("{email}, signed in, answered {status}");
        }
    }
    Ok(())
}
