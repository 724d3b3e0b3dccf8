-- The audit log is append-only: a row, once written, is the record. The
-- service role was never granted UPDATE, DELETE or TRUNCATE (0003); these
-- triggers refuse them for the owner too (a superuser can still disable
-- triggers: the log's last line of defence is who holds that role).
CREATE FUNCTION wrnexus_audit_append_only() RETURNS TRIGGER LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: rows cannot be %', lower(TG_OP) || 'd'
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION wrnexus_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION wrnexus_audit_append_only();
