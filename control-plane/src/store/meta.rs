//! Who made a change and from where: the actor and the request it came
//! through, carried by every unit of work and written into its audit row.

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    Operator,
    /// Stripe, the outbox worker, the control plane itself.
    #[default]
    System,
    /// Nobody identified yet (a failed sign-in).
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::Operator => "operator",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// The request a change came from: who, and from where.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP method, which decisions see as `context.method`.
    pub method: Option<String>,
    /// The session a user acts through, when they act through one: a change
    /// that must not outlive it checks it is still live.
    pub session_id: Option<String>,
}

impl Meta {
    /// The control plane acting on its own (workers, tests).
    pub fn system() -> Self {
        Meta::default()
    }

    /// The same request, acted on by someone else (e.g. once signed in),
    /// through no session until [`Meta::with_session`] names one.
    pub fn with_actor(&self, kind: ActorKind, id: &str) -> Self {
        Meta {
            actor_kind: kind,
            actor_id: Some(id.to_string()),
            session_id: None,
            ..self.clone()
        }
    }

    /// The same request, made through session `id`.
    pub fn with_session(&self, id: &str) -> Self {
        Meta {
            session_id: Some(id.to_string()),
            ..self.clone()
        }
    }
}
