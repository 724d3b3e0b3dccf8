//! Why the gateway failed closed, from a closed set: the `cause` label of
//! `wrnexus_gateway_fail_closed_total`.

/// What was missing when the gateway failed closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailCause {
    /// Redis unreachable, and no local copy of the entry at all.
    Redis,
    /// Redis unreachable, and the local copy older than the staleness bound.
    StaleBound,
    /// The control plane unreachable, or answering with an error.
    ControlPlane,
    /// The control plane answered without an entry the decision needs.
    IncompleteData,
}

impl FailCause {
    /// Every cause, for series that exist from the start.
    pub const ALL: [FailCause; 4] = [
        FailCause::Redis,
        FailCause::StaleBound,
        FailCause::ControlPlane,
        FailCause::IncompleteData,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailCause::Redis => "redis",
            FailCause::StaleBound => "stale_bound",
            FailCause::ControlPlane => "control_plane",
            FailCause::IncompleteData => "incomplete_data",
        }
    }
}
