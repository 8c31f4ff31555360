"""The audit trail is append-only: the database refuses to change or delete its rows.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-23

No route changes audit rows (tests/web/test_audit_trail.py checks the routes); this makes the database refuse it
too, whoever asks through SQL: a trigger raises on every DELETE, and on every UPDATE but one — the total of a
burst of unauthenticated failures (web/audit.py), which only raises ``target.count`` of a row that is a burst's
(its target has ``burst_s``), everything else as it was. Limits: TRUNCATE is not refused (the tests empty the
tables they commit to with it), and the table's owner or a superuser can still disable the trigger; a deployment
that wants more runs the app as a role that does not own the table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.target ? 'burst_s'
       AND (NEW.target - 'count') = (OLD.target - 'count')
       AND jsonb_typeof(NEW.target -> 'count') = 'number'
       AND (NEW.target ->> 'count')::numeric >= COALESCE((OLD.target ->> 'count')::numeric, 0)
       AND (to_jsonb(NEW) - 'target') = (to_jsonb(OLD) - 'target') THEN
        RETURN NEW;  -- a burst's row getting its total
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
