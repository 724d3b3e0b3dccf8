//! Why decision data could not be had, so the gateway failed closed: a
//! [`FailCause`] and a detail for the log.

pub use crate::ops::fail_cause::FailCause;

/// Decision data unavailable: why, and what happened (shown in the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub cause: FailCause,
    pub detail: String,
}

impl Unavailable {
    pub fn new(cause: FailCause, detail: impl Into<String>) -> Self {
        Unavailable {
            cause,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_have_distinct_labels_and_the_detail_is_shown() {
        let labels: std::collections::BTreeSet<_> =
            FailCause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(labels.len(), FailCause::ALL.len());
        let why = Unavailable::new(FailCause::Redis, "redis unreachable");
        assert_eq!(why.to_string(), "redis unreachable");
        assert_eq!(why.cause.as_str(), "redis");
    }
}
