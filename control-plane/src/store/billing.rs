//! Billing records: each workspace's Stripe customer and the state of its
//! subscription, the invoices mirrored from Stripe, and the inbox of Stripe
//! events (stored by id before they are acknowledged).

use super::audit::{AuditRecord, Meta};
use super::work::{Scope, Work};
use super::{Store, StoreError, is_unique_violation, now};
use crate::billing::event::{Invoice, StripeEvent};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use wrnexus_contract::ProblemCode;

/// A workspace's Stripe customer and what Stripe last told us of its
/// subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingAccount {
    pub workspace_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub subscription_item_id: Option<String>,
    pub subscription_status: Option<String>,
    /// `created` of the event that set the status.
    pub status_at: i64,
    /// `created` of the subscription event whose object (id, item, period)
    /// is recorded; a paid invoice moves the status, not this.
    pub subscription_at: i64,
    /// Seats on the subscription, as Stripe reports them.
    pub quantity: Option<i64>,
    pub quantity_at: i64,
    /// The member count last pushed to Stripe as the quantity.
    pub seats_pushed: Option<i64>,
    pub period_end: Option<i64>,
    /// While past due: when the workspace turns read-only.
    pub grace_until: Option<i64>,
}

const ACCOUNT_COLUMNS: &str = "workspace_id, customer_id, subscription_id, subscription_item_id, \
     subscription_status, status_at, subscription_at, quantity, quantity_at, seats_pushed, \
     period_end, grace_until";

fn account_from_row(r: &AnyRow) -> Result<BillingAccount, sqlx::Error> {
    Ok(BillingAccount {
        workspace_id: r.try_get("workspace_id")?,
        customer_id: r.try_get("customer_id")?,
        subscription_id: r.try_get("subscription_id")?,
        subscription_item_id: r.try_get("subscription_item_id")?,
        subscription_status: r.try_get("subscription_status")?,
        status_at: r.try_get("status_at")?,
        subscription_at: r.try_get("subscription_at")?,
        quantity: r.try_get("quantity")?,
        quantity_at: r.try_get("quantity_at")?,
        seats_pushed: r.try_get("seats_pushed")?,
        period_end: r.try_get("period_end")?,
        grace_until: r.try_get("grace_until")?,
    })
}

fn invoice_from_row(r: &AnyRow) -> Result<Invoice, sqlx::Error> {
    Ok(Invoice {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        status: r.try_get("status")?,
        amount_due: r.try_get("amount_due")?,
        amount_paid: r.try_get("amount_paid")?,
        currency: r.try_get("currency")?,
        hosted_invoice_url: r.try_get("hosted_invoice_url")?,
        period_start: r.try_get("period_start")?,
        period_end: r.try_get("period_end")?,
        created: r.try_get("created")?,
        subscription_id: None,
    })
}

/// Whether a Stripe event was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    New,
    /// Already stored (a redelivery): it has, or will have, its effect once.
    Duplicate,
}

/// How an account is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountBy {
    Customer,
    Workspace,
}

/// The account of a customer or of a workspace, in the unit's transaction.
#[tracing::instrument(name = "store.account_where", skip_all)]
pub(crate) async fn account_where(
    work: &mut Work,
    by: AccountBy,
    value: &str,
) -> Result<Option<BillingAccount>, StoreError> {
    let column = match by {
        AccountBy::Customer => "customer_id",
        AccountBy::Workspace => "workspace_id",
    };
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE {column} = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut *work.tx)
        .await?;
    Ok(row.as_ref().map(account_from_row).transpose()?)
}

/// Record a new customer for a workspace that has none.
#[tracing::instrument(name = "store.insert_account", skip_all)]
pub(crate) async fn insert_account(
    work: &mut Work,
    workspace_id: &str,
    customer_id: &str,
    seats_pushed: Option<i64>,
) -> Result<(), StoreError> {
    let at = now();
    sqlx::query(
        "INSERT INTO billing_accounts (workspace_id, customer_id, seats_pushed, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(workspace_id)
    .bind(customer_id)
    .bind(seats_pushed)
    .bind(at)
    .execute(&mut *work.tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::conflict(
                ProblemCode::BillingAccountExists.as_str(),
                "the workspace already has a Stripe customer",
            )
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Write the account's subscription fields back.
#[tracing::instrument(name = "store.save_account", skip_all)]
pub(crate) async fn save_account(
    work: &mut Work,
    account: &BillingAccount,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE billing_accounts SET subscription_id = $1, subscription_item_id = $2, \
         subscription_status = $3, status_at = $4, quantity = $5, quantity_at = $6, \
         period_end = $7, grace_until = $8, updated_at = $9, subscription_at = $11 \
         WHERE workspace_id = $10",
    )
    .bind(&account.subscription_id)
    .bind(&account.subscription_item_id)
    .bind(&account.subscription_status)
    .bind(account.status_at)
    .bind(account.quantity)
    .bind(account.quantity_at)
    .bind(account.period_end)
    .bind(account.grace_until)
    .bind(now())
    .bind(&account.workspace_id)
    .bind(account.subscription_at)
    .execute(&mut *work.tx)
    .await?;
    Ok(())
}

/// Lock the workspace's billing account for the rest of the transaction
/// and read it afresh: events of one workspace apply one after another,
/// each on what the one before it wrote (two control planes, or two
/// requests on one, would otherwise both start from the same row and the
/// later commit would undo the earlier).
#[tracing::instrument(name = "store.lock_account", skip_all)]
pub(crate) async fn lock_account(
    work: &mut Work,
    workspace_id: &str,
) -> Result<Option<BillingAccount>, StoreError> {
    sqlx::query("UPDATE billing_accounts SET updated_at = updated_at WHERE workspace_id = $1")
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await?;
    account_where(work, AccountBy::Workspace, workspace_id).await
}

/// Mirror an invoice; an older event never overwrites a newer one.
#[tracing::instrument(name = "store.upsert_invoice", skip_all)]
pub(crate) async fn upsert_invoice(
    work: &mut Work,
    workspace_id: &str,
    invoice: &Invoice,
    event_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invoices (id, workspace_id, number, status, amount_due, amount_paid, \
         currency, hosted_invoice_url, period_start, period_end, created, event_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO UPDATE SET number = excluded.number, status = excluded.status, \
         amount_due = excluded.amount_due, amount_paid = excluded.amount_paid, \
         currency = excluded.currency, hosted_invoice_url = excluded.hosted_invoice_url, \
         period_start = excluded.period_start, period_end = excluded.period_end, \
         event_at = excluded.event_at \
         WHERE invoices.event_at <= excluded.event_at AND invoices.workspace_id = excluded.workspace_id",
    )
    .bind(&invoice.id)
    .bind(workspace_id)
    .bind(&invoice.number)
    .bind(&invoice.status)
    .bind(invoice.amount_due)
    .bind(invoice.amount_paid)
    .bind(&invoice.currency)
    .bind(&invoice.hosted_invoice_url)
    .bind(invoice.period_start)
    .bind(invoice.period_end)
    .bind(invoice.created)
    .bind(event_at)
    .execute(&mut *work.tx)
    .await?;
    Ok(())
}

/// The emails of a workspace's owners.
#[tracing::instrument(name = "store.owner_emails", skip_all)]
pub(crate) async fn owner_emails(
    work: &mut Work,
    workspace_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = $1 AND m.role = 'owner' ORDER BY u.email",
    )
    .bind(workspace_id)
    .fetch_all(&mut *work.tx)
    .await?)
}

impl Store {
    /// The emails of a workspace's owners.
    #[tracing::instrument(name = "store.owner_emails", skip_all)]
    pub async fn owner_emails(&self, workspace_id: &str) -> Result<Vec<String>, StoreError> {
        let mut work = self
            .work(Scope::workspace(workspace_id), &Meta::system())
            .await?;
        owner_emails(&mut work, workspace_id).await
    }

    /// Record the workspace's new Stripe customer (audited); if another
    /// request recorded one first, that one stands. Returns the customer id.
    #[tracing::instrument(name = "store.bind_customer", skip_all)]
    pub async fn bind_customer(
        &self,
        workspace_id: &str,
        customer_id: &str,
        seats: i64,
        meta: &Meta,
    ) -> Result<String, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        match insert_account(&mut work, workspace_id, customer_id, Some(seats)).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                drop(work);
                return self
                    .billing_account(workspace_id)
                    .await?
                    .map(|a| a.customer_id)
                    .ok_or(StoreError::NotFound {
                        what: "billing account",
                    });
            }
            Err(e) => return Err(e),
        }
        work.audit(
            AuditRecord::success(workspace_id, "billing.customer_created", customer_id)
                .with_detail(json!({ "customer": customer_id })),
        )
        .await?;
        self.finish(work).await?;
        Ok(customer_id.to_string())
    }

    /// An audit row for a billing action.
    #[tracing::instrument(name = "store.audit_billing", skip_all)]
    pub async fn audit_billing(
        &self,
        workspace_id: &str,
        action: &str,
        target: &str,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        self.audit_only(meta, AuditRecord::success(workspace_id, action, target))
            .await
    }

    /// Store a verified event by its id, before it is acknowledged. A
    /// redelivery (even one racing the first) finds the row and stores
    /// nothing.
    #[tracing::instrument(name = "store.receive_stripe_event", skip_all)]
    pub async fn receive_stripe_event(
        &self,
        event: &StripeEvent,
        payload: &str,
    ) -> Result<Received, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let inserted = sqlx::query(
            "INSERT INTO stripe_events (id, type, created, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.kind)
        .bind(event.created)
        .bind(payload)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if inserted == 1 {
            Received::New
        } else {
            Received::Duplicate
        })
    }

    /// Stored events not yet processed, received at or before `before`,
    /// oldest first (those whose processing failed or was cut short).
    #[tracing::instrument(name = "store.unprocessed_stripe_events", skip_all)]
    pub async fn unprocessed_stripe_events(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM stripe_events WHERE processed_at IS NULL AND received_at <= $1 \
             AND retry_at <= $2 ORDER BY created, received_at LIMIT $3",
        )
        .bind(before)
        .bind(now())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?)
    }

    /// Applying a stored event failed: count the attempt, keep the reason,
    /// and wait before the next one (30 s doubling, at most an hour), so a
    /// poisoned event does not spin the worker.
    #[tracing::instrument(name = "store.stripe_event_failed", skip_all)]
    pub async fn stripe_event_failed(&self, event_id: &str, error: &str) -> Result<(), StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE stripe_events SET attempts = attempts + 1, last_error = $1 \
             WHERE id = $2 AND processed_at IS NULL RETURNING attempts",
        )
        .bind(error.chars().take(300).collect::<String>())
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(attempts) = attempts {
            let exponent = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
            let delay = (30_i64 << exponent).min(3600);
            sqlx::query("UPDATE stripe_events SET retry_at = $1 WHERE id = $2")
                .bind(now().saturating_add(delay))
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A workspace's billing account, if it has a Stripe customer.
    #[tracing::instrument(name = "store.billing_account", skip_all)]
    pub async fn billing_account(
        &self,
        workspace_id: &str,
    ) -> Result<Option<BillingAccount>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE workspace_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(row.as_ref().map(account_from_row).transpose()?)
    }

    /// A workspace's invoices, newest first.
    #[tracing::instrument(name = "store.invoices", skip_all)]
    pub async fn invoices(&self, workspace_id: &str) -> Result<Vec<Invoice>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT id, number, status, amount_due, amount_paid, currency, hosted_invoice_url, \
             period_start, period_end, created FROM invoices WHERE workspace_id = $1 \
             ORDER BY created DESC, id DESC",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .iter()
            .map(invoice_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// How many members a workspace has: its seat count.
    #[tracing::instrument(name = "store.member_count", skip_all)]
    pub async fn member_count(&self, workspace_id: &str) -> Result<i64, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE workspace_id = $1")
                .bind(workspace_id)
                .fetch_one(&mut *tx)
                .await?,
        )
    }

    /// Subscriptions whose seat count differs from what was last pushed:
    /// (workspace, subscription item, members).
    #[tracing::instrument(name = "store.seats_to_push", skip_all)]
    pub async fn seats_to_push(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let rows = sqlx::query(
            "SELECT b.workspace_id, b.subscription_item_id, \
             (SELECT COUNT(*) FROM memberships m WHERE m.workspace_id = b.workspace_id) AS members, \
             b.seats_pushed FROM billing_accounts b \
             WHERE b.subscription_item_id IS NOT NULL \
             AND b.subscription_status IN ('active', 'trialing', 'past_due')",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::new();
        for r in &rows {
            let members: i64 = r.try_get("members")?;
            let pushed: Option<i64> = r.try_get("seats_pushed")?;
            if pushed != Some(members) {
                due.push((
                    r.try_get("workspace_id")?,
                    r.try_get("subscription_item_id")?,
                    members,
                ));
            }
        }
        Ok(due)
    }

    /// Remember the seat count Stripe now has.
    #[tracing::instrument(name = "store.seats_pushed", skip_all)]
    pub async fn seats_pushed(&self, workspace_id: &str, seats: i64) -> Result<(), StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        sqlx::query(
            "UPDATE billing_accounts SET seats_pushed = $1, updated_at = $2 WHERE workspace_id = $3",
        )
        .bind(seats)
        .bind(now())
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Past-due workspaces whose grace period is over and that are not
    /// suspended yet.
    #[tracing::instrument(name = "store.grace_expired", skip_all)]
    pub async fn grace_expired(&self, at: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        Ok(sqlx::query_scalar(
            "SELECT b.workspace_id FROM billing_accounts b JOIN workspaces w \
             ON w.id = b.workspace_id WHERE b.subscription_status = 'past_due' \
             AND b.grace_until IS NOT NULL AND b.grace_until <= $1 AND w.status = 'active'",
        )
        .bind(at)
        .fetch_all(&mut *tx)
        .await?)
    }
}
