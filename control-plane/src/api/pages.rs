//! The sign-in and sign-up pages (plain HTML, no framework).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use wrnexus_policies::redirect::encode_query_value;

/// Which page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    SignIn,
    SignUp,
}

/// Escape text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Render a page; `error` shows above the form, `email` refills it.
pub fn render(
    page: Page,
    status: StatusCode,
    return_to: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let (title, action, button, other_text, other_link, other_label, autocomplete) = match page {
        Page::SignIn => (
            "Sign in",
            "/.wrnexus/signin",
            "Sign in",
            "New here?",
            "/.wrnexus/signup",
            "Create an account",
            "current-password",
        ),
        Page::SignUp => (
            "Create your account",
            "/.wrnexus/signup",
            "Create account",
            "Already have an account?",
            "/.wrnexus/signin",
            "Sign in",
            "new-password",
        ),
    };
    let return_to_q = escape(&encode_query_value(return_to));
    let return_to = escape(return_to);
    let error_html = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let email = escape(email);
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · WRNexus</title>
<style>
  body {{ font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2230; margin: 0; }}
  main {{ max-width: 22rem; margin: 10vh auto; background: #fff; padding: 2rem; border-radius: 12px;
         box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
  h1 {{ font-size: 1.4rem; margin: 0 0 1.2rem; }}
  label {{ display: block; font-weight: 600; margin: .8rem 0 .3rem; }}
  input {{ width: 100%; box-sizing: border-box; padding: .6rem; border: 1px solid #c8ccd6; border-radius: 6px; font-size: 1rem; }}
  button {{ margin-top: 1.2rem; width: 100%; padding: .7rem; border: 0; border-radius: 6px; background: #3b5bdb;
           color: #fff; font-size: 1rem; font-weight: 600; cursor: pointer; }}
  .error {{ background: #fff0f0; color: #a61e1e; padding: .6rem; border-radius: 6px; }}
  .other {{ margin-top: 1rem; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{error_html}
<form method="post" action="{action}">
  <input type="hidden" name="return_to" value="{return_to}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="email" required value="{email}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="{autocomplete}" required>
  <button type="submit">{button}</button>
</form>
<p class="other">{other_text} <a href="{other_link}?return_to={return_to_q}">{other_label}</a></p>
</main>
</body>
</html>
"#
    );
    (status, Html(body)).into_response()
}
