//! The header names of the contract with apps, once: the contract's
//! spellings (`wrnexus_contract::headers`) as `http` names.

use http::HeaderName;
use wrnexus_contract::headers;

pub const X_WORKSPACE_ID: HeaderName = HeaderName::from_static(headers::WORKSPACE_ID);
pub const X_USER_ID: HeaderName = HeaderName::from_static(headers::USER_ID);
pub const X_API_KEY_ID: HeaderName = HeaderName::from_static(headers::API_KEY_ID);
pub const X_WORKSPACE_ROLE: HeaderName = HeaderName::from_static(headers::WORKSPACE_ROLE);
pub const X_PROJECT_ID: HeaderName = HeaderName::from_static(headers::PROJECT_ID);
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static(headers::REQUEST_ID);
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static(headers::FORWARDED_FOR);
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static(headers::FORWARDED_PROTO);
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static(headers::FORWARDED_HOST);
pub const X_WRNEXUS_ASSERTION: HeaderName = HeaderName::from_static(headers::ASSERTION);
/// `X-Workspace-Id` as some clients spell it (read, never forwarded).
pub const X_WORKSPACE_ID_UNDERSCORED: HeaderName = HeaderName::from_static("x_workspace_id");
