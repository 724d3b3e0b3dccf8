//! What the pages opened from account mail are given
//! (`verify-email.html`, `forgot-password.html`, `reset-password.html`,
//! replaceable like the sign-in page), and their rendering.

use super::templates::LOGO_PATH;
use super::{Page, Pages, keep_link_private, sentence};
use crate::api::error::ApiError;
use crate::password::MIN_LENGTH;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::{Serde, Value};
use serde::Serialize;
use wrnexus_policies::redirect::encode_query_value;

/// Where a page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// A form to fill in (or, to verify, a button to press).
    Form,
    /// Done: verified, reset, or (forgot password) "check your inbox".
    Done,
    /// The link cannot be used: unknown, used or expired (see `error`).
    Refused,
    /// Signed in, not verified, no link at hand: a button mailing a new one.
    Resend,
    /// A new verification link was mailed.
    Sent,
}

/// An error shown above the form.
#[derive(Debug, Serialize)]
pub struct ErrorContext {
    /// The API error code, e.g. `token_expired`, `weak_password`.
    pub code: &'static str,
    /// One sentence for a person.
    pub message: String,
    pub field: Option<String>,
}

/// Links the pages offer, each keeping `return_to`.
#[derive(Debug, Serialize)]
pub struct Links {
    pub signin: String,
    pub forgot_password: String,
}

/// The values of a page (documented in each template).
#[derive(Debug, Serialize)]
pub struct Context<'a> {
    pub step: Step,
    /// The link's token, carried in the form (never shown).
    pub token: &'a str,
    /// The email to fill in, or the address a link verified.
    pub email: &'a str,
    /// Where the person goes afterwards (a same-origin path).
    pub return_to: &'a str,
    /// A verification that switched the account's email.
    pub changed: bool,
    pub error: Option<ErrorContext>,
    /// The field at fault: `email`, `password` or none.
    pub invalid: Option<&'static str>,
    pub links: Links,
    pub min_password_length: usize,
    pub logo_url: Option<&'static str>,
}

impl<'a> Context<'a> {
    /// A page at `step`, with nothing filled in.
    pub fn new(step: Step, return_to: &'a str, logo: bool) -> Self {
        let return_to_q = encode_query_value(return_to);
        Context {
            step,
            token: "",
            email: "",
            return_to,
            changed: false,
            error: None,
            invalid: None,
            links: Links {
                signin: format!("/.wrnexus/signin?return_to={return_to_q}"),
                forgot_password: format!("/.wrnexus/forgot-password?return_to={return_to_q}"),
            },
            min_password_length: MIN_LENGTH,
            logo_url: logo.then_some(LOGO_PATH),
        }
    }

    /// Show `error` (and mark its field).
    pub fn with_error(mut self, error: &ApiError) -> Self {
        self.invalid = match error.field.as_deref() {
            Some("email") => Some("email"),
            Some("password") => Some("password"),
            _ => None,
        };
        self.error = Some(ErrorContext {
            code: error.code,
            message: sentence(&error.detail),
            field: error.field.as_deref().map(str::to_string),
        });
        self
    }
}

/// Values the account pages are tried with at load: every page at every
/// step, with and without an error.
pub fn sample_contexts(logo: bool) -> Vec<(Page, Value)> {
    let error = ApiError::field("weak_password", "password", "a sample error");
    let mut out = Vec::new();
    for page in [Page::VerifyEmail, Page::ForgotPassword, Page::ResetPassword] {
        for step in [
            Step::Form,
            Step::Done,
            Step::Refused,
            Step::Resend,
            Step::Sent,
        ] {
            let mut plain = Context::new(step, "/", logo);
            plain.token = "token";
            plain.email = "name@example.com";
            out.push((page, Value::from(Serde(plain))));
            let failed = Context::new(step, "/", logo).with_error(&error);
            out.push((page, Value::from(Serde(failed))));
        }
    }
    out
}

/// Render `page` with `context`, keeping the link it was opened from
/// private ([`keep_link_private`]).
pub fn render(pages: &Pages, page: Page, status: StatusCode, context: Context<'_>) -> Response {
    keep_link_private(
        match pages.render(page.template(), Value::from(Serde(context))) {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                pages.log_error(&e);
                ApiError::internal().into_response()
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wrnexus_contract::ProblemCode;

    /// An operator's replacement that misspells a value is refused at
    /// load, naming its file: found before the first reset, not during it.
    #[test]
    fn a_broken_replacement_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reset-password.html"),
            "<p>{{ step }}</p>\n<p>{{ tokne }}</p>\n",
        )
        .unwrap();
        let err = Pages::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("reset-password.html`:2:"), "{err}");
        std::fs::write(
            dir.path().join("reset-password.html"),
            "<p>{{ step }} {{ token }}</p>\n",
        )
        .unwrap();
        let pages = Pages::load(Some(dir.path())).unwrap();
        let html = pages
            .render(
                Page::ResetPassword.template(),
                Value::from(Serde(Context::new(Step::Form, "/", false))),
            )
            .unwrap();
        assert_eq!(html.trim(), "<p>form </p>");
    }

    /// Every account page keeps its link private: no Referer, no cache,
    /// no framing.
    #[test]
    fn the_pages_keep_their_link_private() {
        let pages = Pages::default();
        for page in [Page::VerifyEmail, Page::ForgotPassword, Page::ResetPassword] {
            let response = render(
                &pages,
                page,
                StatusCode::OK,
                Context::new(Step::Form, "/", false),
            );
            let h = response.headers();
            assert_eq!(h["referrer-policy"], "no-referrer", "{page:?}");
            assert_eq!(h["cache-control"], "no-store", "{page:?}");
            assert_eq!(
                h["content-security-policy"], "frame-ancestors 'none'",
                "{page:?}"
            );
        }
    }

    /// Every page renders at every step, with and without an error, and
    /// echoes nothing unescaped.
    #[test]
    fn the_pages_render_at_every_step() {
        let pages = Pages::default();
        let error = ApiError::field(ProblemCode::WeakPassword, "password", "<b>too short</b>");
        for page in [Page::VerifyEmail, Page::ForgotPassword, Page::ResetPassword] {
            for step in [
                Step::Form,
                Step::Done,
                Step::Refused,
                Step::Resend,
                Step::Sent,
            ] {
                let mut plain = Context::new(step, "/x\"y", false);
                plain.token = "t0k\"en";
                plain.email = "a@example.com";
                let html = pages.render(page.template(), Value::from(Serde(plain)));
                let html = html.unwrap_or_else(|e| panic!("{page:?} {step:?}: {e:#}"));
                assert!(html.contains("WRNexus"), "{html}");
                assert!(!html.contains("x\"y"), "{html}");
                let failed = Context::new(step, "/", true).with_error(&error);
                let html = pages
                    .render(page.template(), Value::from(Serde(failed)))
                    .unwrap_or_else(|e| panic!("{page:?} {step:?}: {e:#}"));
                assert!(!html.contains("<b>too"), "{html}");
            }
        }
    }
}
