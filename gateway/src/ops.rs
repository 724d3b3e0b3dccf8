//! Running it: Prometheus metrics, the admin listener (`/live`, `/ready`,
//! `/metrics`) and hot reload of the policies.

pub mod admin;
pub mod metrics;
pub mod readiness;
pub mod reload;
pub mod request_metrics;
pub mod shutdown;
