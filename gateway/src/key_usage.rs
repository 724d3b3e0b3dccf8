//! API key use: recorded on the request path, reported to the control
//! plane in the background.

pub mod record;
pub mod report;
