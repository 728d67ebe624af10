"""The PostgreSQL application role: a login that does not own the tables, so RLS applies.

Row-level security never applies to a table's owner (nor to superusers), so the service
must connect as another role. :func:`grant_app_role` — run once by the owner, after
``recompense db upgrade`` — gives such a role exactly what the loan desk needs:

- read and append to the ledger (``journal_entries``, ``postings``, ``ledger_accounts``;
  read ``vouchers``, which the journal's balance trigger consults as the invoker);
- read, insert and update applications, borrowers and the fund row (the fund lock is
  ``SELECT … FOR UPDATE``, which needs UPDATE);
- insert into approvals, events and the access log, plus re-keying an event's reason;
- read and append to the audit trail (``audit_events``: each decision and read is an
  event there too);
- and nothing else: no DELETE except on the schedule (replaced at disbursement), no DDL.

The RLS policies then decide, per row, what the role sees (see the loans migration).
"""

from __future__ import annotations

import re

from sqlalchemy import text

from recompense.ledger.db import connect
from recompense.loans.errors import LoanError

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
GRANTS = (
    "GRANT SELECT ON alembic_version TO {role}",
    "GRANT SELECT, INSERT ON journal_entries, postings, ledger_accounts TO {role}",
    # The journal's balance trigger runs as the invoker and cross-checks voucher issues.
    "GRANT SELECT ON vouchers TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON loan_funds, loan_borrowers, loan_applications TO {role}",
    "GRANT SELECT, INSERT ON loan_approvals, loan_events, loan_access_log TO {role}",
    "GRANT UPDATE (reason_enc) ON loan_events TO {role}",
    "GRANT SELECT, INSERT, DELETE ON loan_schedule TO {role}",
    # Every decision and read is also appended to the audit trail (no UPDATE, no DELETE).
    "GRANT SELECT, INSERT ON audit_events TO {role}",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
)


def grant_app_role(url: str, role: str, *, create: bool = False) -> str:
    """Grant ``role`` the loan desk's privileges in the URL's schema; returns the schema."""
    if not _NAME.match(role):
        raise LoanError(f"--role {role!r}: a PostgreSQL role name (lower case, digits, _)")
    engine = connect(url)
    if engine.dialect.name != "postgresql":
        raise LoanError(f"--db {url}: application roles and row-level security need PostgreSQL")
    with engine.begin() as conn:
        if create:
            conn.execute(
                text(
                    "DO $$ BEGIN CREATE ROLE " + role + " LOGIN NOINHERIT;"
                    " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                )
            )
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
        for grant in GRANTS:
            conn.execute(text(grant.format(role=role, schema=f'"{schema}"')))
    return str(schema)
