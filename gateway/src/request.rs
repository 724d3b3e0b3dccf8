//! What the client asked, understood once: framing, the canonical path,
//! the route and its action, the workspace a path names, and same-origin
//! writes.

pub mod csrf;
pub mod framing;
pub mod path;
pub mod project;
pub mod routes;
pub mod workspace_path;
