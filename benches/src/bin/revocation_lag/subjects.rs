//! The subjects of the changes: members to remove, API keys to revoke and
//! workspaces to suspend, each with the credential that loses access, and
//! the allowed credentials the background load uses.

use crate::fleet::{Fleet, e2e};
use anyhow::{Context, Result, bail};
use reqwest::{Client, Method, RequestBuilder};
use std::sync::Arc;
use tokio::task::JoinSet;
use wrnexus_e2e::client::{self, User, add_member, create_api_key, sign_up, switch};
use wrnexus_e2e::stack::OPERATOR_TOKEN;

/// Subjects prepared at once (sign-ups hash passwords: the control plane's
/// CPU bounds this).
const PARALLEL: usize = 4;

/// What a request presents to a gateway.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `name=value` of a session cookie.
    Cookie(String),
    /// A `wrn_…` API key.
    Key(String),
}

impl Credential {
    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Cookie(cookie) => request.header(reqwest::header::COOKIE, cookie),
            Credential::Key(key) => request.bearer_auth(key),
        }
    }
}

/// The three kinds of change measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Removal,
    Revocation,
    Suspension,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Removal, Kind::Revocation, Kind::Suspension];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Removal => "membership removal",
            Kind::Revocation => "API key revocation",
            Kind::Suspension => "workspace suspension",
        }
    }

    /// How the probe asks: a read, or (a suspended workspace still reads) a
    /// write.
    pub fn probe_method(self) -> Method {
        match self {
            Kind::Removal | Kind::Revocation => Method::GET,
            Kind::Suspension => Method::POST,
        }
    }

    /// The refusal the change must bring: status and problem `code`.
    pub fn expected(self) -> (u16, &'static str) {
        match self {
            Kind::Removal => (403, "not_a_member"),
            Kind::Revocation => (401, "invalid_api_key"),
            Kind::Suspension => (403, "workspace_read_only"),
        }
    }
}

/// One change to make: the API call, and the credential it cuts off.
#[derive(Debug, Clone)]
pub struct Subject {
    pub kind: Kind,
    pub credential: Credential,
    pub method: Method,
    pub url: String,
    pub bearer: String,
}

/// Everything prepared before the load starts.
#[derive(Debug)]
pub struct Prepared {
    /// Interleaved by kind, so each kind meets the same conditions.
    pub subjects: Vec<Subject>,
    /// Allowed credentials for the load (cookies and keys of the team).
    pub load: Vec<Credential>,
}

/// Prepare `per_kind` subjects of each kind and `load_users` users plus
/// as many keys for the load.
pub async fn prepare(fleet: &Fleet, per_kind: usize, load_users: usize) -> Result<Prepared> {
    let c = client::http();
    let gateways: Vec<String> = fleet.gateways.iter().map(|g| g.url.clone()).collect();
    let gw = gateways.first().context("no gateway")?.clone();
    let owner = Arc::new(e2e(sign_up(&c, &gw, &client::email("owner")).await)?);
    let team = owner.workspace_id.clone();
    let api = fleet.api();

    // Members of the team, their cookies naming it: removals and load.
    let members = in_parallel(per_kind + load_users, |i| {
        let (c, owner, team) = (c.clone(), owner.clone(), team.clone());
        let gw = gateways[i % gateways.len()].clone();
        async move {
            let mut user = e2e(sign_up(&c, &gw, &client::email("member")).await)?;
            e2e(add_member(&c, &gw, &owner, &user, &team, "member").await)?;
            e2e(switch(&c, &gw, &mut user, &team).await)?;
            Ok(user)
        }
    })
    .await?;
    // Keys of the team: revocations and load.
    let keys = in_parallel(per_kind + load_users, |_| {
        let (c, owner, team, gw) = (c.clone(), owner.clone(), team.clone(), gw.clone());
        async move { e2e(create_api_key(&c, &gw, &owner, &team, "member").await) }
    })
    .await?;
    // Owners of their own workspaces: suspensions.
    let owners = in_parallel(per_kind, |i| {
        let c = c.clone();
        let gw = gateways[i % gateways.len()].clone();
        async move { e2e(sign_up(&c, &gw, &client::email("suspended")).await) }
    })
    .await?;

    let removal = |u: &User| Subject {
        kind: Kind::Removal,
        credential: Credential::Cookie(u.cookie.clone()),
        method: Method::DELETE,
        url: format!("{api}/workspaces/{team}/members/{}", u.id),
        bearer: owner.token().to_string(),
    };
    let revocation = |(id, secret): &(String, String)| Subject {
        kind: Kind::Revocation,
        credential: Credential::Key(secret.clone()),
        method: Method::DELETE,
        url: format!("{api}/workspaces/{team}/api-keys/{id}"),
        bearer: owner.token().to_string(),
    };
    let suspension = |u: &User| Subject {
        kind: Kind::Suspension,
        credential: Credential::Cookie(u.cookie.clone()),
        method: Method::POST,
        url: format!("{api}/operator/workspaces/{}/suspend", u.workspace_id),
        bearer: OPERATOR_TOKEN.to_string(),
    };
    let mut subjects = Vec::with_capacity(3 * per_kind);
    for ((member, key), own) in members.iter().zip(&keys).zip(&owners) {
        subjects.push(removal(member));
        subjects.push(revocation(key));
        subjects.push(suspension(own));
    }
    let mut load = Vec::new();
    for (member, (_, secret)) in members.iter().zip(&keys).skip(per_kind) {
        load.push(Credential::Cookie(member.cookie.clone()));
        load.push(Credential::Key(secret.clone()));
    }
    Ok(Prepared { subjects, load })
}

/// Make the change; `Ok` only when the control plane answered 2xx.
pub async fn apply(c: &Client, subject: &Subject) -> Result<()> {
    let response = c
        .request(subject.method.clone(), &subject.url)
        .bearer_auth(&subject.bearer)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!(
            "{} {} answered {status}: {body}",
            subject.method,
            subject.url
        );
    }
    // Read the body so the connection is reused.
    response.bytes().await?;
    Ok(())
}

/// Run `make(i)` for `i` in `0..n`, [`PARALLEL`] at a time, in order.
async fn in_parallel<T, F, Fut>(n: usize, make: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut set = JoinSet::new();
    let mut next = 0;
    while next < n || !set.is_empty() {
        while next < n && set.len() < PARALLEL {
            let fut = make(next);
            let i = next;
            set.spawn(async move { fut.await.map(|v| (i, v)) });
            next += 1;
        }
        if let Some(done) = set.join_next().await {
            let (i, v) = done??;
            out[i] = Some(v);
        }
    }
    out.into_iter()
        .map(|v| v.ok_or_else(|| anyhow::anyhow!("a subject was not prepared")))
        .collect()
}
