//! Who a provider's sign-in signs in, as rules over the facts the store
//! reads (the store then does what was decided, in one transaction):
//!
//! - an identity (issuer, subject) already linked signs its user in
//!   (unless the user is disabled);
//! - through a workspace's connection, the email must be verified by the
//!   provider and at a domain the workspace verified or the connection
//!   allows; an existing account with that email is linked only when the
//!   workspace proved the domain (otherwise the person signs in with their
//!   password first); a new email makes a new account, whose email counts
//!   as verified only at a domain the workspace proved (any owner may list
//!   any domain as allowed: the provider's word for it is not enough);
//! - through an instance-wide provider, an email that already has an
//!   account is never linked by the email alone; a new one makes an
//!   account, verified only if the provider says so.

use wrnexus_contract::ProblemCode;

/// Which door the sign-in came through, and what the workspace knows about
/// the email's domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A workspace's own connection.
    Workspace {
        /// The workspace proved the email's domain (DNS).
        domain_verified: bool,
        /// The connection's `allowed_domains` names the email's domain.
        domain_allowed: bool,
    },
    /// An instance-wide provider from the operator's config.
    Instance,
}

/// An account as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: String,
    pub disabled: bool,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct Facts {
    pub via: Via,
    /// The account the identity is linked to already.
    pub linked: Option<Account>,
    /// The email the provider gave (normalised), and whether it verified it.
    pub email: Option<String>,
    pub email_verified: bool,
    /// The account that has that email, if any.
    pub by_email: Option<Account>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Sign the linked account in.
    SignIn(String),
    /// Link the identity to this existing account, then sign it in.
    Link(String),
    /// Make an account for the email (verified or not), link, sign in.
    Create {
        email: String,
        verified: bool,
    },
    Refuse(Refusal),
}

/// Why a sign-in through a provider is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this account is disabled")]
    Disabled,
    #[error("the identity provider did not share an email address")]
    NoEmail,
    #[error("the identity provider has not verified your email address")]
    EmailUnverified,
    #[error("your email's domain is not one this workspace's sign-in accepts")]
    DomainNotAllowed,
    #[error(
        "an account with this email already exists and is not linked to this provider: \
         sign in with its password"
    )]
    AccountExists,
}

impl Refusal {
    /// The problem code it is answered with.
    pub fn code(self) -> ProblemCode {
        match self {
            Refusal::Disabled => ProblemCode::UserDisabled,
            Refusal::NoEmail => ProblemCode::SsoFailed,
            Refusal::EmailUnverified => ProblemCode::EmailUnverified,
            Refusal::DomainNotAllowed => ProblemCode::EmailDomainNotAllowed,
            Refusal::AccountExists => ProblemCode::AccountExists,
        }
    }
}

/// Decide who signs in.
pub fn decide(facts: &Facts) -> Decision {
    if let Some(linked) = &facts.linked {
        return if linked.disabled {
            Decision::Refuse(Refusal::Disabled)
        } else {
            Decision::SignIn(linked.user_id.clone())
        };
    }
    let Some(email) = facts.email.clone() else {
        return Decision::Refuse(Refusal::NoEmail);
    };
    match facts.via {
        Via::Workspace {
            domain_verified,
            domain_allowed,
        } => {
            if !facts.email_verified {
                return Decision::Refuse(Refusal::EmailUnverified);
            }
            if !domain_verified && !domain_allowed {
                return Decision::Refuse(Refusal::DomainNotAllowed);
            }
            match &facts.by_email {
                Some(account) if account.disabled => Decision::Refuse(Refusal::Disabled),
                Some(account) if domain_verified => Decision::Link(account.user_id.clone()),
                Some(_) => Decision::Refuse(Refusal::AccountExists),
                // Only a proven domain vouches for the address.
                None => Decision::Create {
                    email,
                    verified: domain_verified,
                },
            }
        }
        Via::Instance => match &facts.by_email {
            Some(_) => Decision::Refuse(Refusal::AccountExists),
            None => Decision::Create {
                email,
                verified: facts.email_verified,
            },
        },
    }
}

/// Whether the person may join the connection's workspace just in time:
/// the email rules a new link through it needs, whoever the identity is
/// linked to already (a provider many organisations share must not let its
/// every user into the workspace).
pub fn may_join(facts: &Facts) -> Result<(), Refusal> {
    match facts.via {
        Via::Workspace {
            domain_verified,
            domain_allowed,
        } => {
            if facts.email.is_none() {
                Err(Refusal::NoEmail)
            } else if !facts.email_verified {
                Err(Refusal::EmailUnverified)
            } else if !domain_verified && !domain_allowed {
                Err(Refusal::DomainNotAllowed)
            } else {
                Ok(())
            }
        }
        Via::Instance => Ok(()),
    }
}

/// The domain of an email address (after its last `@`), in the form
/// workspaces' domains are stored in (lowercase, IDNA ASCII).
pub fn email_domain(email: &str) -> Option<String> {
    super::domain_name::email_domain(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> Option<Account> {
        Some(Account {
            user_id: id.to_string(),
            disabled: false,
        })
    }

    fn facts(via: Via) -> Facts {
        Facts {
            via,
            linked: None,
            email: Some("ann@corp.example".to_string()),
            email_verified: true,
            by_email: None,
        }
    }

    const VERIFIED: Via = Via::Workspace {
        domain_verified: true,
        domain_allowed: false,
    };
    const ALLOWED: Via = Via::Workspace {
        domain_verified: false,
        domain_allowed: true,
    };
    const NEITHER: Via = Via::Workspace {
        domain_verified: false,
        domain_allowed: false,
    };

    #[test]
    fn a_linked_identity_signs_its_user_in_whatever_else() {
        for via in [VERIFIED, ALLOWED, NEITHER, Via::Instance] {
            let mut f = facts(via);
            f.linked = account("u1");
            f.email = None;
            f.email_verified = false;
            assert_eq!(decide(&f), Decision::SignIn("u1".into()));
            f.linked = Some(Account {
                user_id: "u1".into(),
                disabled: true,
            });
            assert_eq!(decide(&f), Decision::Refuse(Refusal::Disabled));
        }
    }

    #[test]
    fn workspace_connections_need_a_verified_email_at_an_accepted_domain() {
        let mut f = facts(VERIFIED);
        f.email_verified = false;
        assert_eq!(decide(&f), Decision::Refuse(Refusal::EmailUnverified));
        assert_eq!(
            decide(&facts(NEITHER)),
            Decision::Refuse(Refusal::DomainNotAllowed)
        );
        let mut f = facts(ALLOWED);
        f.email = None;
        assert_eq!(decide(&f), Decision::Refuse(Refusal::NoEmail));
        for (via, verified) in [(VERIFIED, true), (ALLOWED, false)] {
            assert_eq!(
                decide(&facts(via)),
                Decision::Create {
                    email: "ann@corp.example".into(),
                    verified
                }
            );
        }
    }

    #[test]
    fn an_existing_account_is_linked_only_at_a_domain_the_workspace_proved() {
        let mut f = facts(VERIFIED);
        f.by_email = account("u2");
        assert_eq!(decide(&f), Decision::Link("u2".into()));
        let mut f = facts(ALLOWED);
        f.by_email = account("u2");
        assert_eq!(decide(&f), Decision::Refuse(Refusal::AccountExists));
    }

    #[test]
    fn instance_providers_never_link_by_email() {
        let mut f = facts(Via::Instance);
        f.by_email = account("u3");
        assert_eq!(decide(&f), Decision::Refuse(Refusal::AccountExists));
        let mut f = facts(Via::Instance);
        f.email_verified = false;
        assert_eq!(
            decide(&f),
            Decision::Create {
                email: "ann@corp.example".into(),
                verified: false
            }
        );
    }

    #[test]
    fn joining_needs_the_email_rules_even_for_a_linked_identity() {
        let mut f = facts(NEITHER);
        f.linked = account("u1");
        assert_eq!(decide(&f), Decision::SignIn("u1".into()));
        assert_eq!(may_join(&f), Err(Refusal::DomainNotAllowed));
        f.via = ALLOWED;
        assert_eq!(may_join(&f), Ok(()));
        f.email_verified = false;
        assert_eq!(may_join(&f), Err(Refusal::EmailUnverified));
        assert_eq!(may_join(&facts(Via::Instance)), Ok(()));
    }

    #[test]
    fn domains_are_taken_from_the_last_at() {
        assert_eq!(email_domain("A@Corp.Example"), Some("corp.example".into()));
        assert_eq!(email_domain("no-at"), None);
        assert_eq!(email_domain("x@"), None);
    }
}
