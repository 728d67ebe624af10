"""vouchers as the liability's subsidiary ledger; a leaner outbox

An issue entry now posts one liability line per batch (fund −Σ, liability +Σ) instead of
one per voucher; its vouchers, each naming the entry in ``issue_entry_id``, are the
subsidiary ledger of that line. The database enforces the tie-out the per-voucher lines
used to carry (see ``docs/ledger.md``):

- vouchers are inserted while their issue entry is open — after its postings, before its
  entry row (a voucher naming a closed or unknown entry is refused, per statement);
- when an issue entry's row arrives, the vouchers naming it must sum to its liability
  line, exactly (the existing balance trigger, extended);
- a voucher's identity and money (id, programme, user, amount, currency, issue entry)
  never change, and vouchers are never deleted: corrections are revocations.

``ix_vouchers_issue_entry`` serves that check (and reconcile). On PostgreSQL the foreign
key from vouchers to programs is checked by the same statement trigger (one ``KEY SHARE``
lock per programme per statement instead of a lookup and lock per row: 3.5 s of server
time at a million vouchers), and a programme with vouchers cannot be deleted or renamed
(a row trigger on programs); SQLite keeps the foreign key. The outbox loses
``uq_notifications_voucher_channel``: a notification's primary key is already
UUIDv5(voucher, channel), and its rows are only written in the transaction that creates
the voucher, which ``uq_vouchers_program_user`` keeps unique; ``ix_notifications_user``
takes its place for lookups by user. (Column types are unchanged: the native ``uuid``
type saved 5% of the server's time at 1M vouchers, not worth changing every reader's
types.) Existing rows are kept: entries already posted with one line per voucher still
satisfy every check (their lines sum to their vouchers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ISSUE_TIE_OUT = """
  (SELECT COALESCE(SUM(v.amount_cents), 0) FROM vouchers v WHERE v.issue_entry_id = {id})
  <> (SELECT COALESCE(SUM(p.amount_cents), 0) FROM postings p
      JOIN ledger_accounts a ON a.id = p.account_id
      WHERE p.entry_id = {id} AND a.kind = 'liability')"""
TIE_OUT_MESSAGE = "issue entry does not match its vouchers: they must sum to its liability line"
OPEN_MESSAGE = (
    "a voucher must name an open issue entry: post its lines, insert the vouchers, "
    "then the entry row"
)
PROGRAM_MESSAGE = "a voucher must name an existing programme"
PROGRAM_KEPT_MESSAGE = "a programme with vouchers cannot be deleted or renamed"
FROZEN_MESSAGE = "the amount and identity of a voucher never change; vouchers are never deleted"

SQLITE_UP = [
    f"""CREATE TRIGGER journal_entries_issue_tie_out BEFORE INSERT ON journal_entries
    WHEN NEW.kind = 'issue' AND {ISSUE_TIE_OUT.format(id="NEW.id")}
    BEGIN SELECT RAISE(ABORT, '{TIE_OUT_MESSAGE}'); END""",
    f"""CREATE TRIGGER vouchers_entry_open BEFORE INSERT ON vouchers
    WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.issue_entry_id)
      OR NOT EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.issue_entry_id)
    BEGIN SELECT RAISE(ABORT, '{OPEN_MESSAGE}'); END""",
    f"""CREATE TRIGGER vouchers_frozen BEFORE UPDATE OF
      id, program_id, user_id, amount_cents, currency, issue_entry_id ON vouchers
    WHEN OLD.id IS NOT NEW.id OR OLD.program_id IS NOT NEW.program_id
      OR OLD.user_id IS NOT NEW.user_id OR OLD.amount_cents IS NOT NEW.amount_cents
      OR OLD.currency IS NOT NEW.currency OR OLD.issue_entry_id IS NOT NEW.issue_entry_id
    BEGIN SELECT RAISE(ABORT, '{FROZEN_MESSAGE}'); END""",
    f"""CREATE TRIGGER vouchers_no_delete BEFORE DELETE ON vouchers
    BEGIN SELECT RAISE(ABORT, '{FROZEN_MESSAGE}'); END""",
]

POSTGRES_UP = [
    f"""CREATE OR REPLACE FUNCTION recompense_entries_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM new_rows n LEFT JOIN postings p ON p.entry_id = n.id
                 GROUP BY n.id HAVING COUNT(p.id) < 2)
         OR EXISTS (SELECT 1 FROM new_rows n JOIN postings p ON p.entry_id = n.id
                    GROUP BY n.id, p.currency HAVING SUM(p.amount_cents) <> 0) THEN
        RAISE EXCEPTION 'unbalanced journal entry: postings must sum to zero per currency';
      END IF;
      IF EXISTS (SELECT 1 FROM new_rows n WHERE n.kind = 'issue'
                 AND {ISSUE_TIE_OUT.format(id="n.id")}) THEN
        RAISE EXCEPTION '{TIE_OUT_MESSAGE}';
      END IF;
      RETURN NULL;
    END $$""",
    # The foreign key to programs becomes part of this statement trigger: one KEY SHARE
    # lock per programme per statement (what the key took per row, 3.5 s at 1M rows).
    "ALTER TABLE vouchers DROP CONSTRAINT vouchers_program_id_fkey",
    f"""CREATE FUNCTION recompense_vouchers_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      named integer;
      found integer;
    BEGIN
      SELECT COUNT(DISTINCT program_id) INTO named FROM new_rows;
      SELECT COUNT(*) INTO found FROM (
        SELECT 1 FROM programs p WHERE p.id IN (SELECT program_id FROM new_rows) FOR KEY SHARE
      ) locked;
      IF found <> named THEN
        RAISE EXCEPTION '{PROGRAM_MESSAGE}' USING ERRCODE = 'foreign_key_violation';
      END IF;
      IF EXISTS (SELECT 1 FROM (SELECT DISTINCT issue_entry_id AS id FROM new_rows) n
                 WHERE EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = n.id)
                    OR NOT EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = n.id)) THEN
        RAISE EXCEPTION '{OPEN_MESSAGE}';
      END IF;
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION recompense_programs_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM vouchers v WHERE v.program_id = OLD.id) THEN
        RAISE EXCEPTION '{PROGRAM_KEPT_MESSAGE}' USING ERRCODE = 'foreign_key_violation';
      END IF;
      RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END $$""",
    """CREATE TRIGGER programs_keep BEFORE DELETE OR UPDATE OF id ON programs FOR EACH ROW
    EXECUTE FUNCTION recompense_programs_keep()""",
    """CREATE TRIGGER vouchers_entry_open AFTER INSERT ON vouchers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION recompense_vouchers_entry_open()""",
    f"""CREATE FUNCTION recompense_vouchers_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '{FROZEN_MESSAGE} (%)', TG_OP;
    END $$""",
    """CREATE TRIGGER vouchers_frozen BEFORE UPDATE ON vouchers FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.program_id IS DISTINCT FROM NEW.program_id
      OR OLD.user_id IS DISTINCT FROM NEW.user_id
      OR OLD.amount_cents IS DISTINCT FROM NEW.amount_cents
      OR OLD.currency IS DISTINCT FROM NEW.currency
      OR OLD.issue_entry_id IS DISTINCT FROM NEW.issue_entry_id)
    EXECUTE FUNCTION recompense_vouchers_frozen()""",
    """CREATE TRIGGER vouchers_no_delete BEFORE DELETE OR TRUNCATE ON vouchers
    FOR EACH STATEMENT EXECUTE FUNCTION recompense_vouchers_frozen()""",
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS programs_keep ON programs",
    "DROP FUNCTION IF EXISTS recompense_programs_keep()",
    "DROP TRIGGER IF EXISTS vouchers_no_delete ON vouchers",
    "DROP TRIGGER IF EXISTS vouchers_frozen ON vouchers",
    "DROP TRIGGER IF EXISTS vouchers_entry_open ON vouchers",
    "DROP FUNCTION IF EXISTS recompense_vouchers_frozen()",
    "DROP FUNCTION IF EXISTS recompense_vouchers_entry_open()",
    "ALTER TABLE vouchers ADD CONSTRAINT vouchers_program_id_fkey "
    "FOREIGN KEY (program_id) REFERENCES programs (id)",
    """CREATE OR REPLACE FUNCTION recompense_entries_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM new_rows n LEFT JOIN postings p ON p.entry_id = n.id
                 GROUP BY n.id HAVING COUNT(p.id) < 2)
         OR EXISTS (SELECT 1 FROM new_rows n JOIN postings p ON p.entry_id = n.id
                    GROUP BY n.id, p.currency HAVING SUM(p.amount_cents) <> 0) THEN
        RAISE EXCEPTION 'unbalanced journal entry: postings must sum to zero per currency';
      END IF;
      RETURN NULL;
    END $$""",
]

SQLITE_DOWN = [
    "DROP TRIGGER vouchers_no_delete",
    "DROP TRIGGER vouchers_frozen",
    "DROP TRIGGER vouchers_entry_open",
    "DROP TRIGGER journal_entries_issue_tie_out",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # SQLite cannot drop a table constraint in place: batch mode rebuilds the table.
    with op.batch_alter_table("notifications", recreate="auto") as batch:
        batch.drop_constraint("uq_notifications_voucher_channel", type_="unique")
    op.create_index("ix_notifications_user", "notifications", ["user_id"])
    op.create_index("ix_vouchers_issue_entry", "vouchers", ["issue_entry_id"])
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_vouchers_issue_entry", "vouchers")
    op.drop_index("ix_notifications_user", "notifications")
    with op.batch_alter_table("notifications", recreate="auto") as batch:
        batch.create_unique_constraint(
            "uq_notifications_voucher_channel", ["voucher_id", "channel"]
        )
