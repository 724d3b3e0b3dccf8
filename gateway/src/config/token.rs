//! The gateway token: the secret gateways show the control plane with
//! reports of API key use (`WRNEXUS_GATEWAY_TOKEN`).

/// The secret gateways show the control plane. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayToken(String);

impl GatewayToken {
    /// A token from configuration; `None` when empty.
    pub fn new(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()).then(|| GatewayToken(value.to_string()))
    }

    /// A random token, for a single process that is both sides.
    pub fn generate() -> Self {
        GatewayToken(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for GatewayToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayToken(***)")
    }
}
