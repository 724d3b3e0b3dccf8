-- The audit log is append-only: a row, once written, is the record. Nothing
-- in the control plane updates or deletes one (deleting a workspace keeps
-- its log), so any attempt is refused, whoever makes it.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');
END;
