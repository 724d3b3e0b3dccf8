//! The workspace console's pages as served: signed-out visitors sent to
//! sign-in and back, the shell's strict CSP and `no-store`, the session's
//! workspace as the landing page, scripts and styles with their content
//! types and validators, and the operator's theme from `pages_dir`.

mod common;

use common::TestResult;
use common::http::on_both_with;
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION,
};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

fn header(res: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_console_is_served_to_people_signed_in() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("console.css"),
        ":root { --wrnexus-switcher-accent: #0f766e; }\n",
    )?;
    let pages = wrnexus_control_plane::api::pages::Pages::load(Some(dir.path()))?;
    on_both_with(
        |c| c.pages = pages.clone(),
        |api| async move {
            let http = no_redirects();
            let base = api.base.as_str();

            // Signed out: to sign-in, coming back to the page asked for.
            for path in [
                "/.wrnexus/console",
                "/.wrnexus/console/account",
                "/.wrnexus/console/w/x/members",
            ] {
                let res = http.get(format!("{base}{path}")).send().await?;
                assert!(res.status().is_redirection(), "{path}: {}", res.status());
                let to = header(&res, LOCATION);
                assert!(
                    to.starts_with("/.wrnexus/signin?return_to="),
                    "{path}: {to}"
                );
                assert!(to.contains("console"), "{path}: {to}");
            }

            // Signed in: the landing page is the session's workspace.
            let ann = api.sign_up("ann@example.com").await?;
            let cookie = format!("__Host-wrnexus_session={}", ann.token);
            let res = http
                .get(format!("{base}/.wrnexus/console"))
                .header(COOKIE, &cookie)
                .send()
                .await?;
            assert_eq!(
                header(&res, LOCATION),
                format!("/.wrnexus/console/w/{}/overview", ann.personal)
            );

            // The shell: strict CSP, never cached; an unknown section is 404.
            let page = format!("{base}/.wrnexus/console/w/{}/members", ann.personal);
            let res = http.get(&page).header(COOKIE, &cookie).send().await?;
            assert_eq!(res.status(), StatusCode::OK);
            let csp = header(&res, CONTENT_SECURITY_POLICY);
            assert!(
                csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert_eq!(header(&res, CACHE_CONTROL), "no-store");
            assert!(header(&res, CONTENT_TYPE).starts_with("text/html"));
            let html = res.text().await?;
            assert!(
                html.contains("/.wrnexus/console/assets/console.js"),
                "{html}"
            );
            let res = http
                .get(format!(
                    "{base}/.wrnexus/console/w/{}/nowhere",
                    ann.personal
                ))
                .header(COOKIE, &cookie)
                .send()
                .await?;
            assert_eq!(res.status(), StatusCode::NOT_FOUND);

            // Assets: their content types, an ETag, and 304 when unchanged.
            for (name, kind) in [
                ("console.js", "text/javascript"),
                ("members.js", "text/javascript"),
                ("console.css", "text/css"),
            ] {
                let url = format!("{base}/.wrnexus/console/assets/{name}");
                let res = http.get(&url).send().await?;
                assert_eq!(res.status(), StatusCode::OK, "{name}");
                assert!(header(&res, CONTENT_TYPE).starts_with(kind), "{name}");
                let etag = header(&res, ETAG);
                assert!(!etag.is_empty(), "{name}");
                let again = http.get(&url).header(IF_NONE_MATCH, &etag).send().await?;
                assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name}");
            }
            let res = http
                .get(format!("{base}/.wrnexus/console/assets/../secrets"))
                .send()
                .await?;
            assert_eq!(res.status(), StatusCode::NOT_FOUND);

            // The operator's theme.
            let res = http
                .get(format!("{base}/.wrnexus/console/theme.css"))
                .send()
                .await?;
            assert!(header(&res, CONTENT_TYPE).starts_with("text/css"));
            assert!(res.text().await?.contains("#0f766e"));
            Ok(())
        },
    )
    .await
}
