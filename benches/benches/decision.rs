//! The per-request decision path: token verification, local cache hit and
//! Cedar evaluation, each timed over many iterations (median of rounds).
//!
//! Run with `cargo bench -p wrnexus-benches`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wrnexus_gateway::authn::Verifier;
use wrnexus_gateway::cache::LocalCache;
use wrnexus_gateway::keys::KeyRing;
use wrnexus_policies::{
    DecisionRequest, Entry, PolicyEngine, Principal, Role, VersionedEntry, WorkspaceStatus,
};

type BenchResult = Result<(), Box<dyn std::error::Error>>;

/// Time `f` in `rounds` rounds of `iters` calls; print the median per call.
fn bench(name: &str, iters: u32, mut f: impl FnMut()) {
    let rounds = 11;
    let mut per_call: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    per_call.sort();
    let median = per_call[rounds / 2];
    let (min, max) = (per_call[0], per_call[rounds - 1]);
    println!(
        "{name:<32} median {median:>10.2?}  (min {min:.2?}, max {max:.2?}, {rounds}×{iters} calls)"
    );
}

fn cedar() -> BenchResult {
    let engine = PolicyEngine::shipped()?;
    let request = DecisionRequest {
        principal: Principal::User("3f1c9a2e-0000-4000-8000-000000000001"),
        action: "write",
        workspace_id: "3f1c9a2e-0000-4000-8000-000000000002",
        project_id: None,
        granted_projects: None,
        role: Some(Role::Member),
        workspace_status: WorkspaceStatus::Active,
        plan: "free",
        method: "POST",
        path: "/app/items",
    };
    assert!(
        engine.decide(&request).allowed,
        "the benchmarked request must be allowed"
    );
    bench("cedar_decide_member_write", 2_000, || {
        black_box(engine.decide(black_box(&request)));
    });
    Ok(())
}

fn token_verify() -> BenchResult {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = signing.to_pkcs8_der()?;
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let set: JwkSet = serde_json::from_value(serde_json::json!({
        "keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA"}]
    }))?;
    let keys = KeyRing::default();
    keys.replace(&set)?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({
        "iss": "wrnexus", "aud": "wrnexus-gateway", "sub": "u", "wid": "w", "sid": "s",
        "iat": 1, "exp": 4_000_000_000_i64
    });
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))?;
    let verifier = Verifier::new("wrnexus", "wrnexus-gateway");
    assert!(
        verifier.verify(&keys, &token).is_ok(),
        "the benchmarked token must verify"
    );
    bench("session_token_verify", 2_000, || {
        black_box(verifier.verify(&keys, black_box(&token)).is_ok());
    });
    Ok(())
}

fn cache_hit() -> BenchResult {
    let cache = LocalCache::new(100_000);
    for i in 0..10_000 {
        let entry = VersionedEntry {
            version: i,
            entry: Entry::Membership {
                role: Some(Role::Member),
                projects: None,
            },
        };
        cache.insert(&format!("wrnexus:member:w{i}:u{i}"), entry, Instant::now());
    }
    assert!(cache.get("wrnexus:member:w5000:u5000").is_some());
    bench("local_cache_hit", 200_000, || {
        black_box(cache.get(black_box("wrnexus:member:w5000:u5000")));
    });
    Ok(())
}

fn main() -> BenchResult {
    // `cargo test` runs bench targets only when asked; `--bench` is passed by `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    cedar()?;
    token_verify()?;
    cache_hit()?;
    Ok(())
}
