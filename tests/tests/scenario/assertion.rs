//! Part of the main flow: how an upstream app verifies the signed identity
//! assertion the gateway adds.

use reqwest::Client;
use serde_json::Value;
use wrnexus_e2e::TestResult;

/// Verify an `X-WRNexus-Assertion` as an upstream would: with the JWKS from
/// the control plane, EdDSA only, issuer and audience required.
pub async fn verify(c: &Client, api: &str, token: &str) -> TestResult<Value> {
    let jwks: jsonwebtoken::jwk::JwkSet = c
        .get(format!("{api}/assertion-keys"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let kid = jsonwebtoken::decode_header(token)?
        .kid
        .ok_or("assertion without kid")?;
    let jwk = jwks.find(&kid).ok_or("assertion kid not published")?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["wrnexus-gateway"]);
    validation.set_audience(&["wrnexus-upstream"]);
    let data = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk)?,
        &validation,
    )?;
    Ok(data.claims)
}
