-- Single sign-on per workspace: a workspace's OpenID Connect connection,
-- the email domains it proved, its sign-in policy, the provider identities
-- linked to users (by issuer and subject), sign-ins in flight, and how
-- each session was signed in (for the policy and for IdP logouts).

-- A workspace's own OpenID Connect provider (at most one). The client
-- secret is sealed (AES-256-GCM under the control plane's secrets key)
-- and never shown again.
CREATE TABLE sso_connections (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT NOT NULL UNIQUE REFERENCES workspaces (id) ON DELETE CASCADE,
    issuer               TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    -- Email domains people signing in through it may have, comma-separated
    -- (empty: the workspace's verified domains).
    allowed_domains      TEXT NOT NULL DEFAULT '',
    -- The role of a person who joins by signing in through it.
    default_role         TEXT NOT NULL DEFAULT 'member'
                         CHECK (default_role IN ('admin', 'member', 'viewer')),
    enabled              BOOLEAN NOT NULL DEFAULT 1,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- An email domain a workspace claims, proven by a DNS TXT record
-- (`_wrnexus-challenge.<domain>` = `wrnexus-domain-verification=<token>`).
-- A verified domain belongs to one workspace only.
CREATE TABLE sso_domains (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    domain       TEXT NOT NULL,
    token        TEXT NOT NULL,
    verified_at  INTEGER,
    checked_at   INTEGER,
    check_error  TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (workspace_id, domain)
);
CREATE UNIQUE INDEX sso_domains_verified_once ON sso_domains (domain) WHERE verified_at IS NOT NULL;

-- A provider's subject linked to a user: the link sign-in follows.
CREATE TABLE sso_identities (
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_by_user ON sso_identities (user_id);

-- A sign-in sent to a provider and not back yet: single use, short-lived,
-- found by the hash of its `state` (the browser holds the state itself).
CREATE TABLE sso_attempts (
    state_hash    TEXT PRIMARY KEY,
    -- `workspace:<connection id>` or `instance:<provider name>`.
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);

-- A workspace's sign-in policy: the methods its sessions may have been
-- signed in with (comma-separated `password`, `oidc` (an instance-wide
-- provider), `sso` (its own IdP); `sso` alone: "require SSO"), and how old
-- a session may be (NULL: no limit).
ALTER TABLE workspaces ADD COLUMN sign_in_methods TEXT NOT NULL DEFAULT 'password,oidc,sso';
ALTER TABLE workspaces ADD COLUMN max_session_age_secs INTEGER;

-- How a session was signed in: `amr` values (comma-separated: `pwd`,
-- `oidc`, `sso`), when (`auth_time`), the workspace whose IdP it was
-- (`sso`), and the provider's session, which its back-channel logouts name.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
ALTER TABLE sessions ADD COLUMN sso_workspace_id TEXT;
ALTER TABLE sessions ADD COLUMN idp_issuer TEXT;
ALTER TABLE sessions ADD COLUMN idp_subject TEXT;
ALTER TABLE sessions ADD COLUMN idp_sid TEXT;
CREATE INDEX sessions_by_idp_sid ON sessions (idp_issuer, idp_sid);
CREATE INDEX sessions_by_idp_subject ON sessions (idp_issuer, idp_subject);
