//! Part of the main flow: session tokens the gateway must refuse (tampered,
//! expired, for another audience, unsigned) and duplicate session cookies.

use reqwest::header::COOKIE;
use reqwest::{Client, StatusCode};
use serde_json::json;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{COOKIE_NAME, User, json_body};
use wrnexus_e2e::tokens;

/// Alice's session, altered in each way the gateway must refuse, is refused
/// with 401 `invalid_session` at `gw` (the same claims freshly signed pass);
/// her cookie sent twice is a 400. `database_url` holds the signing keys.
pub async fn refused(c: &Client, gw: &str, database_url: &str, alice: &User) -> TestResult {
    let mut expired = tokens::claims_of(alice.token())?;
    expired["exp"] = json!(1_000_000_000);
    let mut wrong_aud = tokens::claims_of(alice.token())?;
    wrong_aud["aud"] = json!("some-other-service");
    let good_again = tokens::mint(database_url, &tokens::claims_of(alice.token())?).await?;
    let bad_tokens = [
        ("tampered", tokens::tampered(alice.token())),
        ("expired", tokens::mint(database_url, &expired).await?),
        ("wrong aud", tokens::mint(database_url, &wrong_aud).await?),
        ("alg none", tokens::unsigned(alice.token())?),
    ];
    let accepted = c
        .get(format!("{gw}/x"))
        .header(COOKIE, format!("{COOKIE_NAME}={good_again}"))
        .send()
        .await?;
    assert_eq!(
        accepted.status(),
        StatusCode::OK,
        "the minting itself is wrong"
    );
    for (what, token) in bad_tokens {
        let (status, body) = json_body(
            c.get(format!("{gw}/x"))
                .header(COOKIE, format!("{COOKIE_NAME}={token}"))
                .send()
                .await?,
        )
        .await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} token: {body}");
        assert_eq!(body["code"], "invalid_session", "{what}");
    }
    let r = c
        .get(format!("{gw}/x"))
        .header(COOKIE, format!("{}; {}", alice.cookie, alice.cookie))
        .send()
        .await?;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "duplicate session cookies"
    );
    Ok(())
}
