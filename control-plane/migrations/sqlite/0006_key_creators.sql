-- The person behind an API key, invitations that can be withdrawn, and
-- owners without project limits.
--
-- `api_keys.created_by_user` is the person behind a key: the user who
-- created it, or, for a key created with another key, that key's person, so
-- a chain of keys always leads back to one human. Removing that person from
-- the key's workspace, signing them out everywhere or disabling them revokes
-- the key. `created_by` still records the immediate actor (a user or a key).
--
-- Keys from before this migration: the person is filled in from
-- `created_by` where it names a user, then down chains of keys created with
-- keys. A key whose chain ends anywhere else (an operator, the system, a
-- deleted user) keeps NULL: nobody's departure revokes it; revoke it by hand.

ALTER TABLE api_keys ADD COLUMN created_by_user TEXT;
CREATE INDEX api_keys_by_creator ON api_keys (created_by_user);

UPDATE api_keys SET created_by_user = created_by
    WHERE created_by IN (SELECT id FROM users);

WITH RECURSIVE person (id, user_id) AS (
    SELECT id, created_by_user FROM api_keys WHERE created_by_user IS NOT NULL
    UNION
    SELECT k.id, p.user_id FROM api_keys k JOIN person p ON k.created_by = p.id
)
UPDATE api_keys
    SET created_by_user = (SELECT p.user_id FROM person p WHERE p.id = api_keys.id LIMIT 1)
    WHERE created_by_user IS NULL AND id IN (SELECT id FROM person);

-- A pending invitation made by someone who was then removed is withdrawn:
-- it can no longer be accepted.
ALTER TABLE invitations ADD COLUMN revoked_at INTEGER;

-- An owner has every project: limits an owner may have been given before
-- this rule existed are lifted.
UPDATE memberships SET projects = NULL WHERE role = 'owner' AND projects IS NOT NULL;
