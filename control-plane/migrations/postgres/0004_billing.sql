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
    status_at            BIGINT NOT NULL DEFAULT 0,
    quantity             BIGINT,
    quantity_at          BIGINT NOT NULL DEFAULT 0,
    seats_pushed         BIGINT,
    period_end           BIGINT,
    grace_until          BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- The inbox. No foreign key: the record outlives a deleted workspace.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    created      BIGINT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    -- After a failed application: when to try again, and why it failed.
    retry_at     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    processed_at BIGINT,
    workspace_id TEXT,
    outcome      TEXT
);
CREATE INDEX stripe_events_unprocessed ON stripe_events (received_at) WHERE processed_at IS NULL;

CREATE TABLE invoices (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    number             TEXT,
    status             TEXT NOT NULL,
    amount_due         BIGINT NOT NULL,
    amount_paid        BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    hosted_invoice_url TEXT,
    period_start       BIGINT,
    period_end         BIGINT,
    created            BIGINT NOT NULL,
    event_at           BIGINT NOT NULL
);
CREATE INDEX invoices_by_workspace ON invoices (workspace_id, created);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON billing_accounts, stripe_events, invoices, mail_outbox
    TO wrnexus_app;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['billing_accounts', 'stripe_events', 'invoices', 'mail_outbox']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY scoped ON %I USING (workspace_id = wrnexus_scope_workspace() '
            'OR wrnexus_scope_system())', t);
    END LOOP;
END
$$;
