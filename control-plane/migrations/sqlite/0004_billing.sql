-- Billing: one Stripe customer per workspace, every Stripe event received
-- (stored by id before it is acknowledged), the invoices mirrored from those
-- events, and the mail outbox that carries dunning emails.

-- Who suspended a suspended workspace: `operator` or `billing`. Payment
-- lifts only a billing suspension; an operator's stays until an operator
-- lifts it.
ALTER TABLE workspaces ADD COLUMN suspended_by TEXT;

-- `status_at` is the `created` time of the Stripe event that last set the
-- subscription's state: an older event never moves the workspace back.
CREATE TABLE billing_accounts (
    workspace_id         TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    customer_id          TEXT NOT NULL UNIQUE,
    subscription_id      TEXT UNIQUE,
    subscription_item_id TEXT,
    subscription_status  TEXT,
    status_at            INTEGER NOT NULL DEFAULT 0,
    quantity             INTEGER,
    quantity_at          INTEGER NOT NULL DEFAULT 0,
    seats_pushed         INTEGER,
    period_end           INTEGER,
    grace_until          INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- The inbox. No foreign key: the record outlives a deleted workspace.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    created      INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- After a failed application: when to try again, and why it failed.
    retry_at     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    processed_at INTEGER,
    workspace_id TEXT,
    outcome      TEXT
);
CREATE INDEX stripe_events_unprocessed ON stripe_events (received_at) WHERE processed_at IS NULL;

CREATE TABLE invoices (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    number             TEXT,
    status             TEXT NOT NULL,
    amount_due         INTEGER NOT NULL,
    amount_paid        INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    hosted_invoice_url TEXT,
    period_start       INTEGER,
    period_end         INTEGER,
    created            INTEGER NOT NULL,
    event_at           INTEGER NOT NULL
);
CREATE INDEX invoices_by_workspace ON invoices (workspace_id, created);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);

-- Row-level security is Postgres's; on SQLite the store scopes every query.
