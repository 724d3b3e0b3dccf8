//! The sign-in and sign-up pages: minijinja templates (`control-plane/assets/pages/`,
//! replaceable from the operator's `pages_dir`, see [`templates`]) rendered
//! with every value HTML-escaped; errors name the field they are about.

pub mod account;
pub mod invitation;
pub mod templates;

pub use templates::{Pages, PagesError, ProviderLink, escape};

use super::error::ApiError;
use crate::password::MIN_LENGTH;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::{Serde, Value};
use serde::Serialize;
use wrnexus_policies::redirect::encode_query_value;

/// Which page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    SignIn,
    SignUp,
    /// An invitation's link (its context: `api::invitation_page`).
    Invitation,
    /// An email verification link, a forgotten password, a reset link (their
    /// context: `api::account::links`).
    VerifyEmail,
    ForgotPassword,
    ResetPassword,
}

impl Page {
    /// The template that renders it (the file name that replaces it).
    pub fn template(self) -> &'static str {
        match self {
            Page::SignIn => "sign-in.html",
            Page::SignUp => "sign-up.html",
            Page::Invitation => "invitation.html",
            Page::VerifyEmail => "verify-email.html",
            Page::ForgotPassword => "forgot-password.html",
            Page::ResetPassword => "reset-password.html",
        }
    }
}

/// What a page template is given (documented in `sign-in.html`).
#[derive(Debug, Serialize)]
struct Context<'a> {
    /// Where the person goes afterwards (a same-origin path).
    return_to: &'a str,
    /// The email to fill in.
    email: &'a str,
    error: Option<ErrorContext>,
    /// The field at fault: `email`, `password` or none.
    invalid: Option<&'a str>,
    /// The field that gets the focus: `email` or `password`.
    focus: &'static str,
    links: Links,
    min_password_length: usize,
    /// Set when the operator's `pages_dir` holds a logo.
    logo_url: Option<&'static str>,
    /// Instance-wide sign-in providers: "Continue with {display_name}".
    providers: Vec<ProviderButton>,
}

/// A provider's button on the sign-in page.
#[derive(Debug, Serialize)]
struct ProviderButton {
    display_name: String,
    /// `/.wrnexus/sso/start?provider=…&return_to=…`.
    url: String,
}

#[derive(Debug, Serialize)]
struct ErrorContext {
    /// The API error code, e.g. `invalid_credentials`, `email_taken`.
    code: &'static str,
    /// One sentence for a person.
    message: String,
    field: Option<String>,
}

/// Links between the pages, each keeping `return_to`.
#[derive(Debug, Serialize)]
struct Links {
    signin: String,
    signin_with_email: String,
    signup: String,
    /// "Forgot password?", keeping `return_to` and the email typed.
    forgot_password: String,
}

/// A sentence of an API error, as a person reads it: no code quotes,
/// capitalised, ending with a full stop.
pub(crate) fn sentence(detail: &str) -> String {
    let text = detail.replace('`', "");
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// What the page says about `error`.
fn message(page: Page, error: &ApiError) -> String {
    match (page, error.code) {
        (_, "invalid_credentials") => "Wrong email or password. Check both and try again.".into(),
        (Page::SignUp, "email_taken") => "An account with this email already exists.".into(),
        _ => sentence(&error.detail),
    }
}

fn context(
    page: Page,
    return_to: &str,
    email: &str,
    error: Option<&ApiError>,
    logo: bool,
    providers: &[ProviderLink],
) -> Value {
    let return_to_q = encode_query_value(return_to);
    let email_q = encode_query_value(email);
    // The field at fault gets the focus (a wrong password is about the
    // password, the email being kept); with no error, the first empty field.
    let invalid = error.and_then(|e| match e.code {
        "invalid_credentials" => Some("password"),
        _ => e.field.as_deref(),
    });
    let focus_email = match invalid {
        Some(f) => f == "email",
        None => email.is_empty(),
    };
    Value::from(Serde(Context {
        return_to,
        email,
        error: error.map(|e| ErrorContext {
            code: e.code,
            message: message(page, e),
            field: e.field.as_deref().map(str::to_string),
        }),
        invalid: invalid.filter(|f| matches!(*f, "email" | "password")),
        focus: if focus_email { "email" } else { "password" },
        links: Links {
            signin: format!("/.wrnexus/signin?return_to={return_to_q}"),
            signin_with_email: format!("/.wrnexus/signin?return_to={return_to_q}&email={email_q}"),
            signup: format!("/.wrnexus/signup?return_to={return_to_q}"),
            forgot_password: format!(
                "/.wrnexus/forgot-password?return_to={return_to_q}&email={email_q}"
            ),
        },
        min_password_length: MIN_LENGTH,
        logo_url: logo.then_some(templates::LOGO_PATH),
        providers: providers
            .iter()
            .map(|p| ProviderButton {
                display_name: p.display_name.clone(),
                url: format!(
                    "/.wrnexus/sso/start?provider={}&return_to={return_to_q}",
                    encode_query_value(&p.name)
                ),
            })
            .collect(),
    }))
}

/// Values the templates are tried with at load: a first visit, and a form
/// sent back with an error on the password.
fn sample_contexts(page: Page, logo: bool) -> [Value; 2] {
    let error = ApiError::field("weak_password", "password", "a sample error".to_string());
    let providers = [ProviderLink {
        name: "sample".to_string(),
        display_name: "Sample".to_string(),
    }];
    [
        context(page, "/", "", None, logo, &[]),
        context(
            page,
            "/",
            "name@example.com",
            Some(&error),
            logo,
            &providers,
        ),
    ]
}

/// Every page with the values it is tried with at load ([`Pages::load`]).
fn trial_contexts(logo: bool) -> Vec<(Page, Value)> {
    let mut all: Vec<(Page, Value)> = [Page::SignIn, Page::SignUp]
        .into_iter()
        .flat_map(|page| sample_contexts(page, logo).map(|c| (page, c)))
        .collect();
    all.extend(
        invitation::sample_contexts(logo)
            .into_iter()
            .map(|c| (Page::Invitation, c)),
    );
    all.extend(account::sample_contexts(logo));
    all
}

/// A page whose URL holds a link's token (a reset, a verification, an
/// invitation), made to keep it: no `Referer` carries the URL to another
/// site, no cache keeps the page, no other site frames it.
pub fn keep_link_private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    response
}

/// Render a page; `error` shows above the form and marks its field,
/// `email` refills the form, `return_to` is kept through every link.
pub fn render(
    pages: &Pages,
    page: Page,
    status: StatusCode,
    return_to: &str,
    email: &str,
    error: Option<&ApiError>,
) -> Response {
    let context = context(
        page,
        return_to,
        email,
        error,
        pages.logo().is_some(),
        pages.providers(),
    );
    match pages.render(page.template(), context) {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            pages.log_error(&e);
            ApiError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_read_as_sentences() {
        assert_eq!(
            sentence("`email` must be an email address like name@example.com"),
            "Email must be an email address like name@example.com."
        );
        assert_eq!(sentence("done!"), "Done!");
    }

    #[test]
    fn echoed_values_are_escaped() {
        let pages = Pages::default();
        let error = ApiError::field("invalid_email", "email", "<script>alert(1)</script>");
        let html = pages
            .render(
                "sign-up.html",
                context(Page::SignUp, "/a\"><script>", "x", Some(&error), false, &[]),
            )
            .unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;."),
            "{html}"
        );
        assert!(
            html.contains("value=\"/a&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
    }
}
