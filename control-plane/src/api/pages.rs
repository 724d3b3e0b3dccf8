//! The sign-in and sign-up pages (plain HTML, no framework): the template is
//! `control-plane/assets/auth.html`; errors name the field they are about.

use super::error::ApiError;
use crate::password::MIN_LENGTH;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use wrnexus_policies::redirect::encode_query_value;

/// The page template; `{{name}}` marks a slot.
const TEMPLATE: &str = include_str!("../../assets/auth.html");

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

/// Fill `{{name}}` slots in one pass, so a value never fills a slot itself.
fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match slots.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A sentence of an API error, as a person reads it: no code quotes,
/// capitalised, ending with a full stop.
fn sentence(detail: &str) -> String {
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

/// The error box (escaped HTML) for `error` on `page`.
fn error_box(page: Page, error: &ApiError, return_to_q: &str, email_q: &str) -> String {
    let message = match (page, error.code) {
        (_, "invalid_credentials") => {
            "Wrong email or password. Check both and try again.".to_string()
        }
        (Page::SignUp, "email_taken") => format!(
            "An account with this email already exists. \
             <a href=\"/.wrnexus/signin?return_to={return_to_q}&amp;email={email_q}\">Sign in instead</a>"
        ),
        (_, "weak_password") => format!(
            "{} A few random words make a strong one.",
            escape(&sentence(&error.detail))
        ),
        _ => escape(&sentence(&error.detail)),
    };
    format!(
        r#"<div class="error" id="form-error" role="alert"><span aria-hidden="true">⚠</span><span>{message}</span></div>"#
    )
}

/// An input's extra attributes: invalid (pointing at the error box),
/// described by a hint, focused first.
fn input_attrs(invalid: bool, focus: bool, hint: Option<&str>) -> String {
    let mut out = String::new();
    let described: Vec<&str> = invalid
        .then_some("form-error")
        .into_iter()
        .chain(hint)
        .collect();
    if invalid {
        out.push_str(r#" aria-invalid="true""#);
    }
    if !described.is_empty() {
        out.push_str(&format!(r#" aria-describedby="{}""#, described.join(" ")));
    }
    if focus {
        out.push_str(" autofocus");
    }
    out
}

/// Render a page; `error` shows above the form and marks its field,
/// `email` refills the form, `return_to` is kept through every link.
pub fn render(
    page: Page,
    status: StatusCode,
    return_to: &str,
    email: &str,
    error: Option<&ApiError>,
) -> Response {
    let (title, lead, action, button, other_text, other_link, other_label, autocomplete) =
        match page {
            Page::SignIn => (
                "Sign in",
                "Welcome back. Sign in to continue to your workspace.",
                "/.wrnexus/signin",
                "Sign in",
                "New here?",
                "/.wrnexus/signup",
                "Create an account",
                "current-password",
            ),
            Page::SignUp => (
                "Create your account",
                "Get a personal workspace in seconds; invite your team later.",
                "/.wrnexus/signup",
                "Create account",
                "Already have an account?",
                "/.wrnexus/signin",
                "Sign in",
                "new-password",
            ),
        };
    let return_to_q = escape(&encode_query_value(return_to));
    let email_q = escape(&encode_query_value(email));
    let other_link = format!("{other_link}?return_to={return_to_q}");
    let error_html = error
        .map(|e| error_box(page, e, &return_to_q, &email_q))
        .unwrap_or_default();
    // The field at fault gets the focus (a wrong password is about the
    // password, the email being kept); with no error, the first empty field.
    let field = error.and_then(|e| match e.code {
        "invalid_credentials" => Some("password"),
        _ => e.field.as_deref(),
    });
    let focus_email = match field {
        Some(f) => f == "email",
        None => email.is_empty(),
    };
    let (password_hint, hint_id) = match page {
        Page::SignUp => (
            format!(r#"<p class="hint" id="password-hint">At least {MIN_LENGTH} characters.</p>"#),
            Some("password-hint"),
        ),
        Page::SignIn => (String::new(), None),
    };
    let email_attrs = input_attrs(field == Some("email"), focus_email, None);
    let password_attrs = input_attrs(field == Some("password"), !focus_email, hint_id);
    let body = fill(
        TEMPLATE,
        &[
            ("title", title),
            ("lead", lead),
            ("error", &error_html),
            ("action", action),
            ("return_to", &escape(return_to)),
            ("email", &escape(email)),
            ("email_attrs", &email_attrs),
            ("autocomplete", autocomplete),
            ("password_attrs", &password_attrs),
            ("password_hint", &password_hint),
            ("button", button),
            ("other_text", other_text),
            ("other_link", &other_link),
            ("other_label", other_label),
        ],
    );
    (status, Html(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_never_fills_a_slot() {
        let out = fill("<{{a}}|{{b}}|{{c}}>", &[("a", "{{b}}"), ("b", "x")]);
        assert_eq!(out, "<{{b}}|x|{{c}}>");
    }

    #[test]
    fn error_details_read_as_sentences() {
        assert_eq!(
            sentence("`email` must be an email address like name@example.com"),
            "Email must be an email address like name@example.com."
        );
        assert_eq!(sentence("done!"), "Done!");
    }
}
