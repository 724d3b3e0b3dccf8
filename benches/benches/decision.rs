//! Criterion micro-benchmarks of the per-request decision path: session
//! token verification (cold, and a verified-token cache hit), the local
//! cache (hit and miss), Cedar evaluation, and the whole decision
//! (authn → resolve from the in-process cache → decide), steady (the same
//! request, and a new path each time) and cold.
//!
//! Run with `cargo bench -p wrnexus-benches` (add `-- NAME` to filter).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wrnexus_benches::requests::member_write;
use wrnexus_gateway::authn::keys::KeyRing;
use wrnexus_gateway::authn::session::{self, Verifier};
use wrnexus_gateway::data::cache::LocalCache;
use wrnexus_gateway::data::resolve::Resolver;
use wrnexus_gateway::ops::metrics::Metrics;
use wrnexus_policies::{
    Action, DecisionRequest, Entry, EntryKey, PolicyEngine, Principal, Role, VersionedEntry,
    WorkspaceStatus,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const USER: &str = "3f1c9a2e-0000-4000-8000-000000000001";
const WORKSPACE: &str = "3f1c9a2e-0000-4000-8000-000000000002";
const SESSION: &str = "3f1c9a2e-0000-4000-8000-000000000003";
const COOKIE: &str = "__Host-wrnexus_session";

/// A key ring holding one fresh Ed25519 key, and a way to sign with it.
struct Signer {
    keys: KeyRing,
    encoding: EncodingKey,
}

impl Signer {
    fn new() -> BenchResult<Self> {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let der = signing.to_pkcs8_der()?;
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let set: JwkSet = serde_json::from_value(serde_json::json!({
            "keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA"}]
        }))?;
        let keys = KeyRing::default();
        keys.replace(&set)?;
        Ok(Signer {
            keys,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
        })
    }

    /// A session token; `n` makes it unique (its `iat`).
    fn token(&self, n: i64) -> BenchResult<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let claims = serde_json::json!({
            "iss": "wrnexus", "aud": "wrnexus-gateway", "sub": USER, "wid": WORKSPACE,
            "sid": SESSION, "iat": n, "exp": 4_000_000_000_i64
        });
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

fn versioned(entry: Entry) -> VersionedEntry {
    VersionedEntry { version: 1, entry }
}

/// A resolver whose local cache holds everything one session needs.
fn warm_resolver() -> BenchResult<Resolver> {
    let cache = Arc::new(LocalCache::new(100_000));
    let now = Instant::now();
    for (key, entry) in [
        (
            EntryKey::session(USER, SESSION),
            Entry::Session {
                user_id: USER.into(),
                revoked: false,
            },
        ),
        (
            EntryKey::User(USER.into()),
            Entry::User {
                disabled: false,
                email_verified: true,
            },
        ),
        (
            EntryKey::membership(WORKSPACE, USER),
            Entry::Membership {
                role: Some(Role::Member),
                projects: None,
            },
        ),
        (
            EntryKey::Workspace(WORKSPACE.into()),
            Entry::Workspace {
                status: WorkspaceStatus::Active,
                plan: "free".into(),
                sign_in_methods: wrnexus_policies::SignInMethods::ALL,
                max_session_age_secs: None,
            },
        ),
    ] {
        cache.insert(&key.cache_key(), versioned(entry).into(), now);
    }
    Ok(Resolver::new(
        cache,
        None,
        reqwest::Client::new(),
        "http://127.0.0.1:9",
        Duration::from_secs(3600),
        Duration::from_secs(30),
        Metrics::new()?,
    ))
}

/// What the gateway does for one app request, minus the I/O: find the
/// cookie, verify it, resolve from the local cache, decide.
fn decide_request(
    headers: &HeaderMap,
    verifier: &Verifier,
    keys: &KeyRing,
    resolver: &Resolver,
    engine: &PolicyEngine,
) -> BenchResult<bool> {
    decide_path(headers, verifier, keys, resolver, engine, "/app/items")
}

/// The same, for a request to `path`.
fn decide_path(
    headers: &HeaderMap,
    verifier: &Verifier,
    keys: &KeyRing,
    resolver: &Resolver,
    engine: &PolicyEngine,
    path: &str,
) -> BenchResult<bool> {
    let token = session::session_token(headers, COOKIE)?;
    let claims = verifier.verify(keys, token)?;
    let resolved = resolver
        .resolve(&claims, &claims.wid, token)
        .now_or_never()
        .ok_or("resolve went past the local cache")??;
    let action = Action::for_method("POST");
    let decision = engine.decide(&DecisionRequest {
        principal: Principal::User(&claims.sub),
        action: action.as_str(),
        workspace_id: &claims.wid,
        project_id: None,
        project_archived: false,
        granted_projects: resolved.projects.as_deref(),
        role: resolved.role,
        workspace_status: resolved.status,
        email_verified: resolved.email_verified,
        plan: &resolved.plan,
        method: "POST",
        path,
        sign_in: wrnexus_policies::SignIn::session(
            &claims,
            &claims.wid,
            resolved.sign_in_methods,
            resolved.max_session_age_secs,
            claims.iat,
        ),
    });
    Ok(decision.allowed)
}

fn cookie_headers(token: &str) -> BenchResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        HeaderValue::from_str(&format!("theme=dark; {COOKIE}={token}"))?,
    );
    Ok(headers)
}

fn token_benches(c: &mut Criterion) -> BenchResult<()> {
    let signer = Signer::new()?;
    let token = signer.token(1)?;
    let verifier = Verifier::new("wrnexus", "wrnexus-gateway");
    verifier.verify_signature(&signer.keys, &token)?;
    c.bench_function("token/verify_cold", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify_signature(&signer.keys, black_box(&token))
                    .is_ok(),
            )
        })
    });
    verifier.verify(&signer.keys, &token)?;
    c.bench_function("token/cache_hit", |b| {
        b.iter(|| black_box(verifier.verify(&signer.keys, black_box(&token)).is_ok()))
    });
    Ok(())
}

fn cache_benches(c: &mut Criterion) {
    let cache = LocalCache::new(100_000);
    for i in 0..10_000 {
        let entry = versioned(Entry::Membership {
            role: Some(Role::Member),
            projects: None,
        });
        cache.insert(
            &format!("wrnexus:{{u:u{i}}}:member:w{i}"),
            entry.into(),
            Instant::now(),
        );
    }
    c.bench_function("local_cache/hit", |b| {
        b.iter(|| black_box(cache.get(black_box("wrnexus:{u:u5000}:member:w5000"))))
    });
    c.bench_function("local_cache/miss", |b| {
        b.iter(|| black_box(cache.get(black_box("wrnexus:{u:nobody}:member:w5000"))))
    });
}

fn cedar_benches(c: &mut Criterion) -> BenchResult<()> {
    let engine = PolicyEngine::shipped()?;
    let request = member_write(USER, WORKSPACE);
    if !engine.decide(&request).allowed {
        return Err("the benchmarked request must be allowed".into());
    }
    c.bench_function("cedar/decide_member_write", |b| {
        b.iter(|| black_box(engine.decide(black_box(&request))))
    });
    let granted = vec!["p1".to_string(), "p2".to_string()];
    let project = DecisionRequest {
        project_id: Some("p2"),
        granted_projects: Some(&granted),
        ..member_write(USER, WORKSPACE)
    };
    c.bench_function("cedar/decide_project_limited", |b| {
        b.iter(|| black_box(engine.decide(black_box(&project))))
    });
    // Without the memo: what evaluating Cedar costs when a request's
    // inputs were never decided before.
    c.bench_function("cedar/evaluate_member_write", |b| {
        b.iter(|| black_box(engine.decide_fresh(black_box(&request))))
    });
    Ok(())
}

fn whole_decision_benches(c: &mut Criterion) -> BenchResult<()> {
    let signer = Signer::new()?;
    let engine = PolicyEngine::shipped()?;
    let resolver = warm_resolver()?;
    let verifier = Verifier::new("wrnexus", "wrnexus-gateway");
    let headers = cookie_headers(&signer.token(1)?)?;
    if !decide_request(&headers, &verifier, &signer.keys, &resolver, &engine)? {
        return Err("the benchmarked request must be allowed".into());
    }
    c.bench_function("decision/steady", |b| {
        b.iter(|| {
            black_box(decide_request(&headers, &verifier, &signer.keys, &resolver, &engine).ok())
        })
    });
    // An app with ids in its paths: every request to a path not seen
    // before, answered by the memo all the same (the shipped policies read
    // the path only to compare it with one literal).
    let mut item = 0u64;
    c.bench_function("decision/steady_new_paths", |b| {
        b.iter(|| {
            item = item.wrapping_add(1);
            let path = format!("/app/items/{item}");
            black_box(
                decide_path(&headers, &verifier, &signer.keys, &resolver, &engine, &path).ok(),
            )
        })
    });
    // Cold: a token never seen (its signature is checked), decision data warm.
    let mut n = 1;
    c.bench_function("decision/cold_token", |b| {
        b.iter_batched(
            || {
                n += 1;
                signer.token(n).and_then(|t| cookie_headers(&t)).ok()
            },
            |headers| {
                headers
                    .map(|h| decide_request(&h, &verifier, &signer.keys, &resolver, &engine).ok())
            },
            BatchSize::SmallInput,
        )
    });
    Ok(())
}

fn benches(c: &mut Criterion) {
    cache_benches(c);
    for result in [
        token_benches(c),
        cedar_benches(c),
        whole_decision_benches(c),
    ] {
        if let Err(e) = result {
            eprintln!("benchmark setup failed: {e}");
            std::process::exit(1);
        }
    }
}

criterion_group! {
    name = decision;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(decision);
