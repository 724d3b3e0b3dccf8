-- Projects, API keys, the audit log and outbound webhooks. Every tenant
-- table carries `workspace_id`; row-level security keys on it (0003).

-- The projects a membership is limited to, as a JSON array of project ids;
-- NULL means every project of the workspace.
ALTER TABLE memberships ADD COLUMN projects TEXT;

CREATE TABLE projects (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    archived_at  BIGINT,
    created_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

-- `id` is the <key id> of `wrn_<key id>_<secret>`; only a hash of the secret is kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    role_ceiling TEXT NOT NULL CHECK (role_ceiling IN ('owner', 'admin', 'member', 'viewer')),
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    version      BIGINT NOT NULL
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id);

-- Append-only. No foreign key: the log outlives a deleted workspace.
-- `workspace_id` is NULL for events tied to no workspace (a failed sign-in
-- with an unknown email); no workspace ever sees those rows.
CREATE TABLE audit_log (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    workspace_id TEXT,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    target       TEXT,
    outcome      TEXT NOT NULL,
    request_id   TEXT,
    ip           TEXT,
    user_agent   TEXT,
    detail       TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_log_by_workspace ON audit_log (workspace_id, seq);

CREATE TABLE webhook_endpoints (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    event_types  TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    disabled_at  BIGINT
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id);

-- The outbox: one row per event, written in the transaction of the change.
-- `id` is the stable `webhook-id` of every delivery of the event.
CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX webhook_events_by_workspace ON webhook_events (workspace_id, created_at);

-- One row per (event, subscribed endpoint): the delivery log and its retries.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    last_attempt_at BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_workspace ON webhook_deliveries (workspace_id, created_at);
