-- Stripe events order two things apart: the subscription's status (moved by
-- subscription events and by paying the open invoice) and the subscription
-- object itself (its id, item and period, moved only by subscription
-- events). A paid invoice must not make a newer subscription object stale.
ALTER TABLE billing_accounts ADD COLUMN subscription_at BIGINT NOT NULL DEFAULT 0;
UPDATE billing_accounts SET subscription_at = status_at;
