//! Stripe's side of the volume suite: each workspace's subscription lived
//! through as Stripe reports it (checkout, renewals paid or failed, past due,
//! unpaid, seat changes, cancellations, new subscriptions, and events billing
//! does not use), what the latest of those events say, and the deliveries:
//! each event sent one to three times, shuffled within bounds.

pub mod check;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SEAT_CENTS: i64 = 2000;
const PERIOD: i64 = 30 * 24 * 3600;
const PRICE: &str = "price_1PgafmB7WZ01zgkW6dKueIc5";

/// One event, as Stripe sends it.
#[derive(Debug)]
pub struct Event {
    pub id: String,
    pub kind: &'static str,
    pub workspace: usize,
    pub body: String,
    /// A type billing acts on (docs/billing.md); the others are only kept.
    pub handled: bool,
    /// How many times Stripe sends it.
    pub copies: usize,
}

/// The subscription as the latest subscription event shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub quantity: i64,
    pub period_end: i64,
}

/// An invoice as its latest event shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    pub status: String,
    pub amount_due: i64,
    pub amount_paid: i64,
}

/// What the latest events say of one workspace.
#[derive(Debug, Default, Clone)]
pub struct Expected {
    pub subscription: Option<Subscription>,
    pub invoices: BTreeMap<String, Invoice>,
}

#[derive(Debug, Clone)]
struct Open {
    id: String,
    amount: i64,
    attempts: i64,
}

#[derive(Debug, Clone)]
enum Phase {
    Fresh,
    Active,
    PastDue(Open),
    Unpaid(Open),
    Canceled,
}

#[derive(Debug)]
struct Account {
    workspace_id: String,
    customer: String,
    phase: Phase,
    sub: String,
    item: String,
    status: &'static str,
    quantity: i64,
    period_start: i64,
    subs: u32,
    invoices: u32,
}

/// Stripe, for a set of workspaces and their customers.
#[derive(Debug)]
pub struct Stripe {
    rng: StdRng,
    clock: i64,
    accounts: Vec<Account>,
    pub events: Vec<Event>,
    pub expected: Vec<Expected>,
    deliveries: usize,
}

impl Stripe {
    /// `(workspace id, customer id)` pairs; events start at `start` (Unix s).
    pub fn new(rng: StdRng, customers: &[(String, String)], start: i64) -> Self {
        let accounts = customers
            .iter()
            .enumerate()
            .map(|(n, (workspace_id, customer))| Account {
                workspace_id: workspace_id.clone(),
                customer: customer.clone(),
                phase: Phase::Fresh,
                sub: String::new(),
                item: String::new(),
                status: "incomplete",
                quantity: 1 + i64::try_from(n % 7).unwrap_or(0),
                period_start: start,
                subs: 0,
                invoices: 0,
            })
            .collect();
        Stripe {
            rng,
            clock: start,
            expected: vec![Expected::default(); customers.len()],
            accounts,
            events: Vec::new(),
            deliveries: 0,
        }
    }

    /// Live through workspaces' billing, a step of a random workspace at a
    /// time, until `deliveries` deliveries; then trim duplicates to exactly that.
    pub fn run(&mut self, deliveries: usize) {
        while self.deliveries < deliveries {
            let w = self.rng.gen_range(0..self.accounts.len());
            self.step(w);
        }
        let mut excess = self.deliveries - deliveries;
        for e in self.events.iter_mut().rev() {
            while excess > 0 && e.copies > 1 {
                e.copies -= 1;
                excess -= 1;
            }
        }
        self.deliveries = deliveries;
    }

    fn step(&mut self, w: usize) {
        let roll: f64 = self.rng.r#gen();
        match self.accounts[w].phase.clone() {
            Phase::Fresh => self.subscribe(w, roll < 0.2),
            Phase::Active if roll < 0.55 => self.renew(w, true),
            Phase::Active if roll < 0.70 => self.renew(w, false),
            Phase::Active if roll < 0.82 => self.seats(w),
            Phase::Active if roll < 0.88 => self.cancel(w, None),
            Phase::Active if roll < 0.95 => self.noise(w),
            Phase::Active => self.sub_event(w, "customer.subscription.updated", None),
            Phase::PastDue(open) if roll < 0.45 => self.pay(w, open),
            Phase::PastDue(mut open) if roll < 0.70 => {
                self.ignored(w, "charge.failed", "charge");
                open.attempts += 1;
                self.invoice(w, "invoice.payment_failed", &open, "open", 0);
                self.accounts[w].phase = Phase::PastDue(open);
            }
            Phase::PastDue(open) if roll < 0.88 => {
                self.set_status(w, "unpaid");
                self.accounts[w].phase = Phase::Unpaid(open);
            }
            Phase::PastDue(open) => self.cancel(w, Some(open)),
            Phase::Unpaid(open) if roll < 0.6 => self.pay(w, open),
            Phase::Unpaid(open) => self.cancel(w, Some(open)),
            Phase::Canceled if roll < 0.5 => self.subscribe(w, false),
            Phase::Canceled => self.noise(w),
        }
    }

    /// Checkout, the subscription (trialing, or incomplete until its first
    /// invoice is paid), its first invoice.
    fn subscribe(&mut self, w: usize, trial: bool) {
        let a = &mut self.accounts[w];
        a.subs += 1;
        a.sub = format!("sub_{}{}", short(&a.workspace_id), a.subs);
        a.item = format!("si_{}{}", short(&a.workspace_id), a.subs);
        a.period_start = self.clock;
        if a.subs == 1 {
            let customer = json!({
                "id": a.customer, "object": "customer", "name": "Workspace",
                "email": "owner@example.com",
                "metadata": { "workspace_id": a.workspace_id },
            });
            self.emit(w, "customer.created", customer, None);
        }
        let a = &self.accounts[w];
        let session = json!({
            "id": format!("cs_test_{}{}", short(&a.workspace_id), a.subs),
            "object": "checkout.session", "mode": "subscription", "status": "complete",
            "payment_status": if trial { "no_payment_required" } else { "paid" },
            "customer": a.customer, "client_reference_id": a.workspace_id,
            "subscription": a.sub, "metadata": { "workspace_id": a.workspace_id },
        });
        self.emit(w, "checkout.session.completed", session, None);
        let first = if trial { "trialing" } else { "incomplete" };
        self.accounts[w].status = first;
        self.sub_event(w, "customer.subscription.created", None);
        let amount = if trial { 0 } else { self.amount(w) };
        let open = self.new_invoice(w, amount);
        if !trial {
            self.ignored(w, "payment_intent.succeeded", "payment_intent");
            self.ignored(w, "charge.succeeded", "charge");
        }
        self.invoice(w, "invoice.paid", &open, "paid", amount);
        self.invoice(w, "invoice.payment_succeeded", &open, "paid", amount);
        if !trial {
            self.set_status(w, "active");
        }
        self.ignored(w, "payment_method.attached", "payment_method");
        self.accounts[w].phase = Phase::Active;
    }

    /// A new period: the subscription moves on, its invoice is charged.
    fn renew(&mut self, w: usize, paid: bool) {
        self.accounts[w].period_start += PERIOD;
        self.accounts[w].status = "active";
        self.sub_event(w, "customer.subscription.updated", None);
        let amount = self.amount(w);
        let mut open = self.new_invoice(w, amount);
        if paid {
            self.ignored(w, "charge.succeeded", "charge");
            self.invoice(w, "invoice.paid", &open, "paid", amount);
            self.invoice(w, "invoice.payment_succeeded", &open, "paid", amount);
        } else {
            self.ignored(w, "charge.failed", "charge");
            open.attempts = 1;
            self.invoice(w, "invoice.payment_failed", &open, "open", 0);
            self.set_status(w, "past_due");
            self.accounts[w].phase = Phase::PastDue(open);
        }
    }

    /// The open invoice paid: Stripe's `active` update follows.
    fn pay(&mut self, w: usize, open: Open) {
        self.ignored(w, "charge.succeeded", "charge");
        self.invoice(w, "invoice.paid", &open, "paid", open.amount);
        self.invoice(w, "invoice.payment_succeeded", &open, "paid", open.amount);
        self.set_status(w, "active");
        self.accounts[w].phase = Phase::Active;
    }

    fn seats(&mut self, w: usize) {
        let change = self.rng.gen_range(1..=3);
        let a = &mut self.accounts[w];
        let before = a.quantity;
        a.quantity = if self.rng.r#gen() {
            a.quantity + change
        } else {
            (a.quantity - change).max(1)
        };
        let previous = json!({ "items": { "data": [{ "quantity": before }] } });
        self.sub_event(w, "customer.subscription.updated", Some(previous));
    }

    fn cancel(&mut self, w: usize, open: Option<Open>) {
        self.accounts[w].status = "canceled";
        self.sub_event(w, "customer.subscription.deleted", None);
        if let Some(open) = open {
            self.invoice(w, "invoice.voided", &open, "void", 0);
        }
        self.accounts[w].phase = Phase::Canceled;
    }

    fn noise(&mut self, w: usize) {
        match self.rng.gen_range(0..3) {
            0 => self.ignored(w, "customer.tax_id.created", "tax_id"),
            1 => self.ignored(w, "charge.refunded", "charge"),
            _ => self.ignored(
                w,
                "billing_portal.session.created",
                "billing_portal.session",
            ),
        }
    }

    fn amount(&self, w: usize) -> i64 {
        self.accounts[w].quantity * SEAT_CENTS
    }

    fn set_status(&mut self, w: usize, status: &'static str) {
        let previous = json!({ "status": self.accounts[w].status });
        self.accounts[w].status = status;
        self.sub_event(w, "customer.subscription.updated", Some(previous));
    }

    fn sub_event(&mut self, w: usize, kind: &'static str, previous: Option<Value>) {
        let a = &self.accounts[w];
        let period_end = a.period_start + PERIOD;
        let sub = json!({
            "id": a.sub, "object": "subscription", "customer": a.customer,
            "status": a.status, "currency": "usd", "collection_method": "charge_automatically",
            "cancel_at_period_end": false, "start_date": a.period_start,
            "metadata": { "workspace_id": a.workspace_id },
            "items": { "object": "list", "has_more": false, "total_count": 1, "data": [{
                "id": a.item, "object": "subscription_item", "quantity": a.quantity,
                "subscription": a.sub, "current_period_start": a.period_start,
                "current_period_end": period_end,
                "price": { "id": PRICE, "object": "price", "currency": "usd",
                           "unit_amount": SEAT_CENTS, "recurring": { "interval": "month" } },
            }]},
        });
        self.expected[w].subscription = Some(Subscription {
            id: a.sub.clone(),
            status: a.status.to_string(),
            quantity: a.quantity,
            period_end,
        });
        self.emit(w, kind, sub, previous);
    }

    /// A new invoice, created as a draft and finalized.
    fn new_invoice(&mut self, w: usize, amount: i64) -> Open {
        let a = &mut self.accounts[w];
        a.invoices += 1;
        let open = Open {
            id: format!("in_{}{:04}", short(&a.workspace_id), a.invoices),
            amount,
            attempts: 0,
        };
        self.invoice(w, "invoice.created", &open, "draft", 0);
        self.invoice(w, "invoice.finalized", &open, "open", 0);
        open
    }

    fn invoice(&mut self, w: usize, kind: &'static str, open: &Open, status: &str, paid: i64) {
        let a = &self.accounts[w];
        let invoice = json!({
            "id": open.id, "object": "invoice", "customer": a.customer, "status": status,
            "number": format!("{}-{}", short(&a.customer).to_uppercase(), &open.id[open.id.len() - 4..]),
            "amount_due": open.amount, "amount_paid": paid, "amount_remaining": open.amount - paid,
            "attempt_count": open.attempts, "attempted": open.attempts > 0, "currency": "usd",
            "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
            "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_test/{}", open.id),
            "period_start": a.period_start, "period_end": a.period_start + PERIOD,
            "created": a.period_start,
            "parent": { "type": "subscription_details", "subscription_details": {
                "metadata": { "workspace_id": a.workspace_id }, "subscription": a.sub } },
        });
        self.expected[w].invoices.insert(
            open.id.clone(),
            Invoice {
                status: status.to_string(),
                amount_due: open.amount,
                amount_paid: paid,
            },
        );
        self.emit(w, kind, invoice, None);
    }

    /// An event of a type billing does not use.
    fn ignored(&mut self, w: usize, kind: &'static str, object: &str) {
        let a = &self.accounts[w];
        let n = self.events.len();
        let id = format!("{}_{n:06}", object.split('.').next_back().unwrap_or("obj"));
        let value =
            json!({ "id": id, "object": object, "customer": a.customer, "livemode": false });
        self.emit(w, kind, value, None);
    }

    fn emit(&mut self, w: usize, kind: &'static str, object: Value, previous: Option<Value>) {
        let id = format!("evt_1Vol{:06}", self.events.len());
        let mut data = json!({ "object": object });
        if let Some(previous) = previous {
            data["previous_attributes"] = previous;
        }
        let body = json!({
            "id": id, "object": "event", "api_version": "2026-07-29.dahlia",
            "created": self.clock, "data": data, "livemode": false, "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null }, "type": kind,
        });
        self.clock += self.rng.gen_range(1..=4);
        let roll: f64 = self.rng.r#gen();
        let copies = if roll < 0.55 {
            1
        } else if roll < 0.85 {
            2
        } else {
            3
        };
        self.deliveries += copies;
        self.events.push(Event {
            id,
            kind,
            workspace: w,
            body: body.to_string(),
            handled: kind.starts_with("customer.subscription.")
                || kind.starts_with("invoice.")
                || matches!(kind, "customer.created" | "checkout.session.completed"),
            copies,
        });
    }
}

fn short(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .rev()
        .take(12)
        .collect()
}

/// One delivery: which event, to which control plane first.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub event: usize,
    pub target: usize,
}

/// Every copy of every event, in the order Stripe sends them: an event's
/// first copy up to `window` places late, its redeliveries up to `retries`
/// places after it; each to either control plane.
pub fn schedule(rng: &mut StdRng, events: &[Event], window: f64, retries: f64) -> Vec<Delivery> {
    let mut keyed: Vec<(f64, Delivery)> = Vec::new();
    for (n, e) in events.iter().enumerate() {
        let first = n as f64 + rng.gen_range(0.0..window);
        for copy in 0..e.copies {
            let key = if copy == 0 {
                first
            } else {
                first + rng.gen_range(1.0..retries)
            };
            let target = rng.gen_range(0..2);
            keyed.push((key, Delivery { event: n, target }));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, d)| d).collect()
}
