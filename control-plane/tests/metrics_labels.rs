//! No request can add a metric series: the control plane labels requests by
//! the route template that matched (one `unmatched` label for every path no
//! route knows) and by a closed set of methods, so paths, ids and odd
//! methods chosen by clients never reach `/metrics`.

mod common;

use common::TestResult;
use common::http::{Api, config};
use reqwest::{Method, StatusCode};
use wrnexus_control_plane::store::sqlite_url;

const SERIES: &str = "wrnexus_control_plane_api_requests_total{";

/// The request-count series `/metrics` shows now.
async fn series(api: &Api) -> TestResult<Vec<String>> {
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(SERIES))
        .filter_map(|l| l.rsplit_once(' ').map(|(labels, _)| labels.to_string()))
        .collect())
}

/// One round of requests to places nobody routed, and to real routes with
/// made-up ids; `marker` is in every path.
async fn knock(api: &Api, token: &str, marker: &str) -> TestResult {
    // Without digits, so no guess at what looks like an id can catch it.
    let word: String = marker
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'g' + u8::try_from(d).unwrap_or(0)),
            None => c,
        })
        .collect();
    let odd = Method::from_bytes(format!("X{}", &marker[..8]).to_uppercase().as_bytes())?;
    let requests = [
        (Method::GET, format!("/{marker}")),
        (Method::GET, format!("/{word}")),
        (Method::DELETE, format!("/v1/{word}/x")),
        (Method::POST, format!("/.wrnexus/api/v1/{word}")),
        (Method::GET, format!("/v1/{marker}/deeper/{marker}")),
        (Method::POST, format!("/.wrnexus/{marker}")),
        (Method::GET, format!("/v1/workspaces/{marker}")),
        (
            Method::GET,
            format!("/.wrnexus/api/v1/workspaces/{marker}/members"),
        ),
        (odd, format!("/{marker}")),
    ];
    for (method, path) in requests {
        let res = api
            .http
            .request(method.clone(), format!("{}{path}", api.base))
            .bearer_auth(token)
            .send()
            .await?;
        assert_ne!(res.status(), StatusCode::OK, "{method} {path}");
    }
    Ok(())
}

#[tokio::test]
async fn random_paths_add_no_series() -> TestResult {
    let dir = tempfile::tempdir()?;
    let api = Api::start(config(&sqlite_url(&dir.path().join("t.sqlite")), None)).await?;
    let ann = api.sign_up("ann@example.com").await?;
    // The first round (and scrape) makes each kind of answer's series exist.
    knock(&api, &ann.token, &uuid::Uuid::new_v4().simple().to_string()).await?;
    series(&api).await?;
    let before = series(&api).await?;
    assert!(
        before.iter().any(|s| s.contains(r#"route="unmatched""#)),
        "{before:#?}"
    );
    assert!(
        before
            .iter()
            .any(|s| s.contains(r#"route="/v1/workspaces/{id}""#)),
        "{before:#?}"
    );
    let mut markers = Vec::new();
    for _ in 0..30 {
        let marker = uuid::Uuid::new_v4().simple().to_string();
        knock(&api, &ann.token, &marker).await?;
        markers.push(marker);
    }
    let after = series(&api).await?;
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(new.is_empty(), "new series: {new:#?}");
    for series in &after {
        assert!(
            markers
                .iter()
                .all(|m| !series.contains(&m[..8].to_uppercase()) && !series.contains(m.as_str())),
            "a client's path or method in a label: {series}"
        );
    }
    Ok(())
}
