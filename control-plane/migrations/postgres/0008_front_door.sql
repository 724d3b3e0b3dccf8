-- The front door: email ownership, password reset, invitations by email,
-- sessions per device, and mail rendered from templates.

-- When the user proved they own their current email (NULL: not yet).
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- Single-use links of a user's own account, stored hashed: an email
-- verification (`email` is the address it proves, which becomes the
-- user's email when it differs: a change of email) or a password reset.
CREATE TABLE account_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);

-- Sessions per device: where and with what a session was started, and
-- when it was last seen.
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;

-- Invitations an owner can resend and an invitee can decline (they
-- could already be withdrawn: `revoked_at`, 0006).
ALTER TABLE invitations ADD COLUMN declined_at BIGINT;
ALTER TABLE invitations ADD COLUMN last_sent_at BIGINT;

-- Mail rendered from the operator's templates when sent: the template's
-- name and its values as JSON (NULL on mail queued before this migration,
-- which keeps its subject and body).
ALTER TABLE mail_outbox ADD COLUMN template TEXT;
ALTER TABLE mail_outbox ADD COLUMN data TEXT;

GRANT SELECT, INSERT, UPDATE, DELETE ON account_tokens TO wrnexus_app;
