//! Applying a stored Stripe event to its workspace, exactly once: the event
//! row is claimed, the effects written and the row marked processed in one
//! transaction. Events are ordered by their `created` time, never by their
//! arrival: an older event does not move a workspace back.

use super::standing::Standing;
use crate::billing::event::StripeEvent;
use crate::config::BillingConfig;
use crate::store::audit::{ActorKind, AuditRecord, Meta};
use crate::store::billing::{
    AccountBy, BillingAccount, account_where, insert_account, lock_account, owner_emails,
    save_account, upsert_invoice,
};
use crate::store::work::{Scope, Work};
use crate::store::workspaces::{StatusBy, change_status, lock_workspace, set_plan};
use crate::store::{Store, StoreError, mail, now, outbox::rfc3339};
use serde_json::json;
use wrnexus_policies::WorkspaceStatus;

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It changed the workspace's billing records.
    Applied,
    /// Older than what the workspace already reflects.
    Stale,
    /// A type billing does not act on.
    Ignored,
    /// No workspace could be tied to it.
    Unmatched,
    /// Processed before (a concurrent or earlier run).
    AlreadyProcessed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Unmatched => "unmatched",
            Outcome::AlreadyProcessed => "already_processed",
        }
    }
}

impl Store {
    /// Process the stored event `event_id` unless that was done already.
    pub async fn process_stripe_event(
        &self,
        event_id: &str,
        rules: &BillingConfig,
    ) -> Result<Outcome, StoreError> {
        let meta = Meta::system().with_actor(ActorKind::System, &format!("stripe:{event_id}"));
        let mut work = self.work(Scope::system(), &meta).await?;
        // Claiming the row locks it: a concurrent run waits, then finds it done.
        let payload: Option<String> = sqlx::query_scalar(
            "UPDATE stripe_events SET attempts = attempts + 1 \
             WHERE id = $1 AND processed_at IS NULL RETURNING payload",
        )
        .bind(event_id)
        .fetch_optional(&mut *work.tx)
        .await?;
        let Some(payload) = payload else {
            return Ok(Outcome::AlreadyProcessed);
        };
        let (outcome, workspace) = match StripeEvent::parse(&payload) {
            Ok(event) => match resolve(&mut work, &event).await? {
                Some(account) => {
                    let workspace = account.workspace_id.clone();
                    mark(&mut work, event_id, Some(&workspace), None).await?;
                    work.scope(Scope::workspace(&workspace)).await?;
                    let account = lock_account(&mut work, &workspace)
                        .await?
                        .unwrap_or(account);
                    (
                        apply(&mut work, &event, account, rules).await?,
                        Some(workspace),
                    )
                }
                None if handled(&event.kind) => (Outcome::Unmatched, None),
                None => (Outcome::Ignored, None),
            },
            Err(_) => (Outcome::Ignored, None),
        };
        mark(&mut work, event_id, workspace.as_deref(), Some(outcome)).await?;
        self.finish(work).await?;
        Ok(outcome)
    }
}

/// The event types billing acts on.
fn handled(kind: &str) -> bool {
    kind.starts_with("customer.subscription.")
        || kind.starts_with("invoice.")
        || matches!(
            kind,
            "customer.created" | "customer.updated" | "checkout.session.completed"
        )
}

async fn mark(
    work: &mut Work,
    event_id: &str,
    workspace: Option<&str>,
    outcome: Option<Outcome>,
) -> Result<(), StoreError> {
    let query = match outcome {
        // Tie the row to its workspace first, so that it stays visible once
        // the transaction narrows to that workspace.
        None => sqlx::query("UPDATE stripe_events SET workspace_id = $1 WHERE id = $2")
            .bind(workspace)
            .bind(event_id),
        Some(outcome) => sqlx::query(
            "UPDATE stripe_events SET workspace_id = $1, outcome = $2, processed_at = $3 \
             WHERE id = $4",
        )
        .bind(workspace)
        .bind(outcome.as_str())
        .bind(now())
        .bind(event_id),
    };
    query.execute(&mut *work.tx).await?;
    Ok(())
}

/// The billing account an event belongs to. The customer decides; a
/// customer seen for the first time is tied to the workspace its metadata
/// names, if that workspace exists and has no customer yet.
async fn resolve(
    work: &mut Work,
    event: &StripeEvent,
) -> Result<Option<BillingAccount>, StoreError> {
    if !handled(&event.kind) {
        return Ok(None);
    }
    let Some(customer) = event.customer_id() else {
        return Ok(None);
    };
    if let Some(account) = account_where(work, AccountBy::Customer, &customer).await? {
        return Ok(Some(account));
    }
    let Some(workspace) = event.workspace_hint() else {
        return Ok(None);
    };
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1")
        .bind(&workspace)
        .fetch_optional(&mut *work.tx)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    if let Some(other) = account_where(work, AccountBy::Workspace, &workspace).await? {
        tracing::warn!(
            event_id = %event.id,
            workspace_id = %workspace,
            known_customer = %other.customer_id,
            "a Stripe event names a workspace that has another customer; not applied"
        );
        return Ok(None);
    }
    insert_account(work, &workspace, &customer, None).await?;
    account_where(work, AccountBy::Customer, &customer).await
}

async fn apply(
    work: &mut Work,
    event: &StripeEvent,
    mut account: BillingAccount,
    rules: &BillingConfig,
) -> Result<Outcome, StoreError> {
    let before = account
        .subscription_status
        .as_deref()
        .and_then(Standing::of);
    if let Some(sub) = event.subscription() {
        // Two clocks: a paid invoice newer than this event has settled the
        // status, but the subscription object may still be the newest seen.
        let newer_status = event.created >= account.status_at;
        let newer_object = event.created >= account.subscription_at;
        let newer_quantity = event.created >= account.quantity_at && sub.quantity.is_some();
        if !newer_status && !newer_object && !newer_quantity {
            return Ok(Outcome::Stale);
        }
        if newer_object {
            account.subscription_id = Some(sub.id);
            account.subscription_item_id = sub.item_id.or(account.subscription_item_id);
            account.period_end = sub.period_end.or(account.period_end);
            account.subscription_at = event.created;
        }
        if newer_status {
            account.subscription_status = Some(sub.status);
            account.status_at = event.created;
        }
        if newer_quantity {
            account.quantity = sub.quantity;
            account.quantity_at = event.created;
        }
    } else if let Some(invoice) = event.invoice() {
        upsert_invoice(work, &account.workspace_id, &invoice, event.created).await?;
        // Paying the open invoice settles a past-due or unpaid subscription
        // (Stripe's own `active` update follows).
        let settles = matches!(
            event.kind.as_str(),
            "invoice.paid" | "invoice.payment_succeeded"
        ) && matches!(before, Some(Standing::PastDue | Standing::Lapsed))
            && account.subscription_status.as_deref() != Some("canceled")
            && event.created >= account.status_at
            && (invoice.subscription_id.is_none()
                || invoice.subscription_id == account.subscription_id);
        if !settles {
            return Ok(Outcome::Applied);
        }
        account.subscription_status = Some("active".to_string());
        account.status_at = event.created;
    } else if let Some(subscription) = event.checkout_subscription() {
        if account.subscription_id.is_none() {
            account.subscription_id = Some(subscription);
        }
        work.audit(
            AuditRecord::success(
                &account.workspace_id,
                "billing.checkout_completed",
                &event.id,
            )
            .with_detail(json!({ "stripe_event": event.id })),
        )
        .await?;
    } else if !event.kind.starts_with("customer.") {
        return Ok(Outcome::Ignored);
    }
    let after = account
        .subscription_status
        .as_deref()
        .and_then(Standing::of);
    if let Some(to) = after.filter(|to| before != Some(*to)) {
        transition(work, &mut account, before, to, event, rules).await?;
    }
    save_account(work, &account).await?;
    Ok(Outcome::Applied)
}

/// Move a workspace into a new standing: its status, grace period, plan and
/// dunning mail, with an audit row and an outbound event.
async fn transition(
    work: &mut Work,
    account: &mut BillingAccount,
    from: Option<Standing>,
    to: Standing,
    event: &StripeEvent,
    rules: &BillingConfig,
) -> Result<(), StoreError> {
    let workspace_id = account.workspace_id.clone();
    match to {
        Standing::Good => {
            account.grace_until = None;
            set_plan(work, &workspace_id, &rules.plan).await?;
            change_status(
                work,
                &workspace_id,
                WorkspaceStatus::Active,
                StatusBy::Billing,
            )
            .await?;
        }
        Standing::PastDue => {
            let grace = i64::try_from(rules.grace_period.as_secs()).unwrap_or(i64::MAX);
            let until = now().saturating_add(grace);
            account.grace_until = Some(until);
            dunning(work, &workspace_id, until, rules).await?;
        }
        Standing::Lapsed => {
            account.grace_until = None;
            change_status(
                work,
                &workspace_id,
                WorkspaceStatus::Suspended,
                StatusBy::Billing,
            )
            .await?;
        }
    }
    let detail = json!({
        "from": from.map(Standing::as_str),
        "to": to.as_str(),
        "subscription_status": account.subscription_status,
        "grace_until": account.grace_until.map(rfc3339),
        "stripe_event": event.id,
    });
    work.audit(
        AuditRecord::success(&workspace_id, to.event_type(), &workspace_id)
            .with_detail(detail.clone()),
    )
    .await?;
    work.emit(&workspace_id, to.event_type(), detail).await?;
    if let Some(m) = crate::metrics::metrics() {
        m.billing_transitions
            .with_label_values(&[to.as_str()])
            .inc();
    }
    Ok(())
}

/// Queue the past-due notice for each of the workspace's owners, and no one else.
async fn dunning(
    work: &mut Work,
    workspace_id: &str,
    grace_until: i64,
    rules: &BillingConfig,
) -> Result<(), StoreError> {
    let workspace = lock_workspace(work, workspace_id).await?;
    let message = crate::mail::Message::PaymentFailed {
        workspace_name: workspace.name,
        grace_until,
        billing_link: rules.return_url.clone(),
    };
    for owner in owner_emails(work, workspace_id).await? {
        mail::enqueue_message(work, workspace_id, &owner, &message).await?;
    }
    Ok(())
}

/// Suspend a past-due workspace whose grace period is over.
pub async fn expire_grace(store: &Store, workspace_id: &str) -> Result<bool, StoreError> {
    let meta = Meta::system().with_actor(ActorKind::System, "billing:grace");
    let mut work = store.work(Scope::workspace(workspace_id), &meta).await?;
    let Some(mut account) = account_where(&mut work, AccountBy::Workspace, workspace_id).await?
    else {
        return Ok(false);
    };
    let due = account.subscription_status.as_deref() == Some("past_due")
        && account.grace_until.is_some_and(|g| g <= now());
    if !due {
        return Ok(false);
    }
    account.grace_until = None;
    change_status(
        &mut work,
        workspace_id,
        WorkspaceStatus::Suspended,
        StatusBy::Billing,
    )
    .await?;
    let detail = json!({
        "from": Standing::PastDue.as_str(),
        "to": Standing::Lapsed.as_str(),
        "subscription_status": "past_due",
        "reason": "grace_period_over",
    });
    work.audit(
        AuditRecord::success(workspace_id, Standing::Lapsed.event_type(), workspace_id)
            .with_detail(detail.clone()),
    )
    .await?;
    work.emit(workspace_id, Standing::Lapsed.event_type(), detail)
        .await?;
    save_account(&mut work, &account).await?;
    store.finish(work).await?;
    Ok(true)
}
