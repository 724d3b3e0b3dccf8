//! What `invitation.html` (the page an invitation's link opens) is given,
//! for each status of the invitation and each kind of viewer.

use super::templates::LOGO_PATH;
use crate::store::invitations::{InvitationPreview, InvitationStatus};
use axum::http::StatusCode;
use minijinja::value::{Serde, Value};
use serde::Serialize;
use wrnexus_policies::redirect::encode_query_value;

/// The page a token's link opens (on the public URL).
pub fn page_path(token: &str) -> String {
    format!("/.wrnexus/invitations/{token}")
}

/// Who is looking at the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    SignedOut,
    /// Signed in as the invited email.
    Invitee,
    /// Signed in as someone else.
    Other,
}

/// What `invitation.html` is given (documented in the template).
#[derive(Debug, Serialize)]
pub struct Context<'a> {
    /// `pending`, `accepted`, `declined`, `revoked`, `expired`, `unknown`.
    status: &'a str,
    /// Set right after the person declined here.
    declined_now: bool,
    workspace_name: Option<&'a str>,
    inviter: Option<&'a str>,
    role: Option<&'a str>,
    /// The invited email.
    email: Option<&'a str>,
    viewer: Viewer,
    /// The email signed in, when someone is.
    signed_in_as: Option<&'a str>,
    error: Option<String>,
    accept_action: String,
    decline_action: String,
    signin_link: String,
    signup_link: String,
    logo_url: Option<&'static str>,
}

/// The page's status code for an invitation in `status`.
pub fn status_code(status: Option<InvitationStatus>) -> StatusCode {
    match status {
        Some(InvitationStatus::Pending) => StatusCode::OK,
        Some(_) => StatusCode::GONE,
        None => StatusCode::NOT_FOUND,
    }
}

/// The page's values for `token`, seen by someone signed in as
/// `signed_in_as` (none: signed out).
pub fn context(
    token: &str,
    preview: Option<&InvitationPreview>,
    signed_in_as: Option<&str>,
    error: Option<String>,
    declined_now: bool,
    logo: bool,
) -> Value {
    let path = page_path(token);
    let back = encode_query_value(&path);
    let email = preview.map(|p| p.email.as_str());
    let email_q = encode_query_value(email.unwrap_or_default());
    let viewer = match (signed_in_as, email) {
        (None, _) => Viewer::SignedOut,
        (Some(a), Some(e)) if a.eq_ignore_ascii_case(e) => Viewer::Invitee,
        (Some(_), _) => Viewer::Other,
    };
    Value::from(Serde(Context {
        status: preview.map_or("unknown", |p| p.status.as_str()),
        declined_now,
        workspace_name: preview.map(|p| p.workspace_name.as_str()),
        inviter: preview.and_then(|p| p.inviter.as_deref()),
        role: preview.map(|p| p.role.as_str()),
        email,
        viewer,
        signed_in_as,
        error,
        accept_action: format!("{path}/accept"),
        decline_action: format!("{path}/decline"),
        signin_link: format!("/.wrnexus/signin?return_to={back}&email={email_q}"),
        signup_link: format!("/.wrnexus/signup?return_to={back}&email={email_q}"),
        logo_url: logo.then_some(LOGO_PATH),
    }))
}

/// Values the template is tried with at load: each status, and each kind
/// of viewer with and without an error.
pub fn sample_contexts(logo: bool) -> Vec<Value> {
    let sample = |status| InvitationPreview {
        workspace_name: "Acme".to_string(),
        email: "name@example.com".to_string(),
        role: wrnexus_policies::Role::Member,
        status,
        expires_at: 0,
        inviter: Some("owner@example.com".to_string()),
        workspace_id: String::new(),
    };
    let mut contexts = vec![context("t", None, None, None, false, logo)];
    for status in [
        InvitationStatus::Pending,
        InvitationStatus::Accepted,
        InvitationStatus::Declined,
        InvitationStatus::Revoked,
        InvitationStatus::Expired,
    ] {
        let preview = sample(status);
        for who in [None, Some("name@example.com"), Some("other@example.com")] {
            let error = Some("A sample error.".to_string());
            contexts.push(context("t", Some(&preview), who, None, false, logo));
            contexts.push(context("t", Some(&preview), who, error, false, logo));
        }
        contexts.push(context("t", Some(&preview), None, None, true, logo));
    }
    contexts
}
