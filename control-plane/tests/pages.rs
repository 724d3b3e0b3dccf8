//! The browser-facing pages and assets: sign-in and sign-up forms that say
//! what went wrong and keep where the person was going, and the switcher's
//! script with its cache headers.

mod common;

use common::TestResult;
use common::http::on_both;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};

const RETURN_TO: &str = "/projects/42?tab=x";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Post the sign-in or sign-up form; `(status, html)`.
async fn post_form(
    base: &str,
    page: &str,
    email: &str,
    password: &str,
) -> TestResult<(StatusCode, String)> {
    let r = no_redirects()
        .post(format!("{base}/.wrnexus/{page}"))
        .form(&[
            ("email", email),
            ("password", password),
            ("return_to", RETURN_TO),
        ])
        .send()
        .await?;
    Ok((r.status(), r.text().await?))
}

/// The `<input id=…>` tag of `html`.
fn input<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<input id=\"{id}\"")).unwrap_or(0);
    let end = html[start..].find('>').map_or(html.len(), |e| start + e);
    &html[start..end]
}

#[tokio::test]
async fn form_errors_say_what_is_wrong_and_keep_the_way_back() -> TestResult {
    on_both(|api| async move {
        let base = api.base.as_str();
        let kept = "name=\"return_to\" value=\"/projects/42?tab=x\"";

        // A weak password: the rule, the password field marked, email kept.
        let (status, html) = post_form(base, "signup", "pat@example.com", "short").await?;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("at least 10 characters"), "{html}");
        assert!(input(&html, "password").contains("aria-invalid=\"true\""), "{html}");
        assert!(!input(&html, "email").contains("aria-invalid"), "{html}");
        assert!(input(&html, "email").contains("value=\"pat@example.com\""), "{html}");
        assert!(html.contains(kept), "{html}");

        // A malformed email marks the email field instead.
        let (status, html) = post_form(base, "signup", "not-an-email", "long enough password").await?;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(input(&html, "email").contains("aria-invalid=\"true\""), "{html}");
        assert!(html.contains("Email must be an email address"), "{html}");

        // Sign up, then again: the email is taken, with a way to sign in
        // that keeps both the email and the way back.
        let (status, _) = post_form(base, "signup", "pat@example.com", "long enough password").await?;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, html) = post_form(base, "signup", "pat@example.com", "long enough password").await?;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(html.contains("already exists"), "{html}");
        let link = "/.wrnexus/signin?return_to=/projects/42%3Ftab%3Dx&amp;email=pat%40example.com";
        assert!(html.contains(link), "{html}");
        let prefilled = no_redirects()
            .get(format!("{base}/.wrnexus/signin?return_to=%2Fprojects%2F42%3Ftab%3Dx&email=pat%40example.com"))
            .send()
            .await?
            .text()
            .await?;
        assert!(input(&prefilled, "email").contains("value=\"pat@example.com\""), "{prefilled}");
        assert!(input(&prefilled, "password").contains("autofocus"), "{prefilled}");
        assert!(prefilled.contains(kept), "{prefilled}");

        // A wrong password: one sentence, the password to retype.
        let (status, html) = post_form(base, "signin", "pat@example.com", "wrong password!").await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(html.contains("Wrong email or password"), "{html}");
        assert!(input(&html, "password").contains("autofocus"), "{html}");
        assert!(input(&html, "email").contains("value=\"pat@example.com\""), "{html}");
        assert!(html.contains(kept), "{html}");
        assert!(html.contains("href=\"/.wrnexus/signup?return_to=/projects/42%3Ftab%3Dx\""), "{html}");

        // The right one goes back where the person was.
        let r = no_redirects()
            .post(format!("{base}/.wrnexus/signin"))
            .form(&[("email", "pat@example.com"), ("password", "long enough password"), ("return_to", RETURN_TO)])
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some(RETURN_TO));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn pages_escape_what_they_echo() -> TestResult {
    on_both(|api| async move {
        let html = no_redirects()
            .get(format!(
                "{}/.wrnexus/signup?email=%22%3E%3Cscript%3Ex%3C/script%3E",
                api.base
            ))
            .send()
            .await?
            .text()
            .await?;
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_switcher_script_is_served_with_cache_validators() -> TestResult {
    on_both(|api| async move {
        let url = format!("{}/.wrnexus/switcher.js", api.base);
        let r = no_redirects().get(&url).send().await?;
        assert_eq!(r.status(), StatusCode::OK);
        let header = |name| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header(CONTENT_TYPE).starts_with("text/javascript"));
        assert!(header(CACHE_CONTROL).contains("max-age="));
        let etag = header(ETAG);
        assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
        let body = r.text().await?;
        assert!(body.contains("customElements.define(\"wrnexus-switcher\""));
        assert!(body.contains("/.wrnexus/whoami") && body.contains("/.wrnexus/switch"));

        let again = no_redirects()
            .get(&url)
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await?;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.text().await?.is_empty());
        let stale = no_redirects()
            .get(&url)
            .header(IF_NONE_MATCH, "\"old\"")
            .send()
            .await?;
        assert_eq!(stale.status(), StatusCode::OK);
        Ok(())
    })
    .await
}

/// GET `path` on the control plane: `(status, headers, body)`.
async fn get(
    base: &str,
    path: &str,
) -> TestResult<(StatusCode, reqwest::header::HeaderMap, String)> {
    let r = no_redirects().get(format!("{base}{path}")).send().await?;
    Ok((r.status(), r.headers().clone(), r.text().await?))
}

#[tokio::test]
async fn a_return_to_and_an_email_come_out_escaped() -> TestResult {
    on_both(|api| async move {
        // A same-origin path, so kept, with markup in it.
        let (status, _, html) = get(
            &api.base,
            "/.wrnexus/signin?return_to=%2Fx%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E\
             &email=%3Cscript%3Ealert(2)%3C%2Fscript%3E",
        )
        .await?;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains(
                "name=\"return_to\" value=\"/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""
            ),
            "{html}"
        );
        assert!(
            input(&html, "email").contains("value=\"&lt;script&gt;alert(2)&lt;/script&gt;\""),
            "{html}"
        );
        // In links, encoded for the query, then escaped.
        assert!(
            html.contains("href=\"/.wrnexus/signup?return_to=/x%22%3E%3Cscript%3E"),
            "{html}"
        );
        // No logo configured: the built-in mark, and no logo to serve.
        assert!(html.contains("class=\"mark\""), "{html}");
        let (status, _, _) = get(&api.base, "/.wrnexus/logo").await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
        Ok(())
    })
    .await
}

const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><rect width=\"1\" height=\"1\"/></svg>";

#[tokio::test]
async fn an_operator_replaces_the_sign_in_page_and_the_logo() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("sign-in.html"),
        "{% extends \"layout.html\" %}\n{% block title %}Acme sign-in{% endblock %}\n\
         {% block main %}<h1>Welcome to Acme</h1>\n\
         {% if error %}<p class=\"error\">{{ error.message }}</p>{% endif %}\n\
         <form method=\"post\" action=\"/.wrnexus/signin\">\
         <input type=\"hidden\" name=\"return_to\" value=\"{{ return_to }}\">\
         <input id=\"email\" name=\"email\" value=\"{{ email }}\">\
         <input id=\"password\" name=\"password\" type=\"password\"></form>\n\
         <a href=\"{{ links.signup }}\">Join</a>{% endblock %}\n",
    )?;
    std::fs::write(dir.path().join("logo.svg"), LOGO)?;
    let pages = wrnexus_control_plane::api::pages::Pages::load(Some(dir.path()))?;
    common::http::on_both_with(
        |c| c.pages = pages.clone(),
        |api| async move {
            let base = api.base.as_str();
            let (status, _, html) = get(
                base,
                "/.wrnexus/signin?return_to=%2Fprojects%2F42%3Ftab%3Dx",
            )
            .await?;
            assert_eq!(status, StatusCode::OK);
            assert!(
                html.contains("<title>Acme sign-in · WRNexus</title>"),
                "{html}"
            );
            assert!(html.contains("<h1>Welcome to Acme</h1>"), "{html}");
            assert!(
                html.contains("<img class=\"logo\" src=\"/.wrnexus/logo\""),
                "{html}"
            );
            assert!(!html.contains("class=\"mark\""), "{html}");
            assert!(
                html.contains("name=\"return_to\" value=\"/projects/42?tab=x\""),
                "{html}"
            );
            assert!(
                html.contains("href=\"/.wrnexus/signup?return_to=/projects/42%3Ftab%3Dx\""),
                "{html}"
            );
            // The operator's page shows errors, escaped like everything else.
            let (status, html) =
                post_form(base, "signin", "pat@example.com", "wrong password!").await?;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(
                html.contains("<p class=\"error\">Wrong email or password."),
                "{html}"
            );
            // The sign-up page is still the built-in one, with the logo.
            let (_, _, html) = get(base, "/.wrnexus/signup").await?;
            assert!(html.contains("Create your account"), "{html}");
            assert!(html.contains("src=\"/.wrnexus/logo\""), "{html}");

            // The logo, sandboxed and cacheable.
            let (status, headers, body) = get(base, "/.wrnexus/logo").await?;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, LOGO);
            let header = |name| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(header(CONTENT_TYPE), "image/svg+xml");
            assert!(header(reqwest::header::CONTENT_SECURITY_POLICY).contains("sandbox"));
            let etag = header(ETAG);
            let again = no_redirects()
                .get(format!("{base}/.wrnexus/logo"))
                .header(IF_NONE_MATCH, &etag)
                .send()
                .await?;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_png_logo_is_served_as_png() -> TestResult {
    let dir = tempfile::tempdir()?;
    let png: &[u8] = b"\x89PNG\r\n\x1a\n not really";
    std::fs::write(dir.path().join("logo.png"), png)?;
    let pages = wrnexus_control_plane::api::pages::Pages::load(Some(dir.path()))?;
    common::http::on_both_with(
        |c| c.pages = pages.clone(),
        |api| async move {
            let r = no_redirects()
                .get(format!("{}/.wrnexus/logo", api.base))
                .send()
                .await?;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                r.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
                Some("image/png")
            );
            assert_eq!(r.bytes().await?.as_ref(), png);
            Ok(())
        },
    )
    .await
}
