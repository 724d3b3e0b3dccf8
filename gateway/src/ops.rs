//! Running it: the access log, Prometheus metrics, the admin listener (`/live`, `/ready`,
//! `/metrics`), hot reload of the policies, and the watch on files both
//! reloads share.

pub mod access_line;
pub mod access_log;
pub mod access_notes;
pub mod admin;
pub mod cache_size;
pub mod fail_cause;
pub mod loggable_path;
pub mod metrics;
pub mod readiness;
pub mod reload;
pub mod request_metrics;
pub mod shutdown;
pub mod spans;
pub mod watch;
