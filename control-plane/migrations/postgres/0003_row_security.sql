-- Isolation in depth: row-level security on every tenant table.
--
-- The service connects as a role that is a member of `wrnexus_app` (not
-- the owner of the tables, no BYPASSRLS). Each transaction names its scope
-- with `set_config(…, true)`:
--   wrnexus.workspace_id  the workspace the transaction works in;
--   wrnexus.user_id       the user whose own memberships it may list;
--   wrnexus.system        'on' for the few cross-workspace jobs (outbox
--                         worker, token lookups), set explicitly.
-- A query with no scope sees no tenant rows at all.

-- Roles belong to the whole cluster: several databases may race to create it.
DO $$
BEGIN
    CREATE ROLE wrnexus_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

CREATE FUNCTION wrnexus_scope_workspace() RETURNS TEXT LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('wrnexus.workspace_id', true), '') $$;
CREATE FUNCTION wrnexus_scope_user() RETURNS TEXT LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('wrnexus.user_id', true), '') $$;
CREATE FUNCTION wrnexus_scope_system() RETURNS BOOLEAN LANGUAGE sql STABLE AS
$$ SELECT COALESCE(current_setting('wrnexus.system', true), '') = 'on' $$;

GRANT USAGE ON SCHEMA public TO wrnexus_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO wrnexus_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO wrnexus_app;
GRANT EXECUTE ON FUNCTION wrnexus_scope_workspace(), wrnexus_scope_user(), wrnexus_scope_system()
    TO wrnexus_app;
-- The audit log is append-only for the service.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM wrnexus_app;
-- Migrations are the owner's business.
REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM wrnexus_app;

ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY scoped ON workspaces
    USING (
        id = wrnexus_scope_workspace()
        OR wrnexus_scope_system()
        OR EXISTS (SELECT 1 FROM memberships m
                   WHERE m.workspace_id = workspaces.id AND m.user_id = wrnexus_scope_user())
    )
    WITH CHECK (id = wrnexus_scope_workspace() OR wrnexus_scope_system());

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY scoped ON memberships
    USING (
        workspace_id = wrnexus_scope_workspace()
        OR user_id = wrnexus_scope_user()
        OR wrnexus_scope_system()
    )
    WITH CHECK (workspace_id = wrnexus_scope_workspace() OR wrnexus_scope_system());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY scoped_read ON audit_log FOR SELECT
    USING (workspace_id = wrnexus_scope_workspace() OR wrnexus_scope_system());
CREATE POLICY scoped_append ON audit_log FOR INSERT
    WITH CHECK (
        workspace_id IS NULL
        OR workspace_id = wrnexus_scope_workspace()
        OR wrnexus_scope_system()
    );

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['invitations', 'projects', 'api_keys', 'webhook_endpoints',
                             'webhook_events', 'webhook_deliveries']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY scoped ON %I USING (workspace_id = wrnexus_scope_workspace() '
            'OR wrnexus_scope_system())', t);
    END LOOP;
END
$$;
