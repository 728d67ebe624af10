"""Confidentiality: who may see what, encryption at rest, key rotation, the access log, RLS."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from loan_support import (
    AM1,
    AM2,
    APP_ROLE,
    AUDITOR,
    CC1,
    CC2,
    OPS,
    T0,
    USER,
    new_application,
    random_keyring,
    run_action,
)
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from recompense.ledger.db import connect
from recompense.loans import access_log, fund_figures, list_applications, show
from recompense.loans.crypto import Keyring
from recompense.loans.desk import Desk
from recompense.loans.errors import (
    LoanError,
    LoanForbidden,
    LoanIntegrityError,
    LoanKeyError,
    LoanNotFound,
)
from recompense.loans.lifecycle import TRANSITIONS
from recompense.loans.schema import loan_applications
from recompense.loans.views import rotate_keys

LATER = T0 + timedelta(hours=1)
SECRETS = ("FY2024 audited", "3250000.00", "Liquidated on 2025-10-10", "complete file")
EVERYONE = {"own manager": AM1, "other manager": AM2, "committee": CC1, "auditor": AUDITOR}
OUTSIDERS = {"ops": OPS, "user": USER, "other manager": AM2}


def test_only_the_manager_the_committee_and_auditors_see_an_application(desk):
    app = new_application(desk)
    for actor in (AM1, CC1, AUDITOR):
        assert show(desk, actor, app, "review", now=LATER)["id"] == app
        assert [r["id"] for r in list_applications(desk, actor, now=LATER)] == [app]
    for actor in OUTSIDERS.values():
        with pytest.raises(LoanNotFound, match="not found"):
            show(desk, actor, app, "curious", now=LATER)
        assert list_applications(desk, actor, now=LATER) == []
    with pytest.raises(LoanNotFound):  # the same answer as for an id that does not exist
        show(desk, CC1, "00000000-0000-0000-0000-000000000000", "probe", now=LATER)


def test_reassigning_a_borrower_moves_their_applications(desk):
    from recompense.loans import register_borrower

    app = new_application(desk)
    register_borrower(desk, CC1, 1001, "institutional", AM2.id)
    assert show(desk, AM2, app, "new manager", now=LATER)["account_manager_id"] == AM2.id
    with pytest.raises(LoanNotFound):
        show(desk, AM1, app, "old manager", now=LATER)
    with pytest.raises(LoanForbidden, match="only the credit committee"):
        register_borrower(desk, AM2, 1001, "institutional", AM2.id)


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_authorization_matrix_for_every_action(desk, action):
    """Outsiders: not found. Auditors: forbidden (read-only). Others: as the rule says."""
    rule = TRANSITIONS[action]
    app = new_application(desk)
    for actor in OUTSIDERS.values():
        with pytest.raises(LoanNotFound):
            run_action(action, desk, app, actor)
    with pytest.raises(LoanForbidden):
        run_action(action, desk, app, AUDITOR)
    for actor in (AM1, CC2):
        if actor.role in rule.roles:
            try:
                run_action(action, desk, new_application(desk), actor)
            except (LoanNotFound, LoanForbidden) as exc:  # pragma: no cover - a failure
                pytest.fail(f"{actor} may {action}: {exc}")
            except LoanError:
                pass  # permitted, but the state does not allow it (covered elsewhere)
        else:
            with pytest.raises(LoanForbidden):
                run_action(action, desk, app, actor)
    assert show(desk, AUDITOR, app, "unchanged?", now=LATER)["state"] == "submitted"


def test_fund_figures_and_the_access_log_are_not_for_everyone(desk):
    assert fund_figures(desk, CC1)
    assert fund_figures(desk, AUDITOR)
    for actor in (AM1, OPS, USER):
        with pytest.raises(LoanForbidden):
            fund_figures(desk, actor)
    assert access_log(desk, AUDITOR) == []
    for actor in (AM1, CC1, OPS, USER):
        with pytest.raises(LoanForbidden, match="only auditors"):
            access_log(desk, actor)


def test_every_read_is_logged_with_who_when_which_and_why(desk):
    mine = new_application(desk)
    theirs = new_application(desk, borrower=2001, manager=AM2)
    show(desk, AM1, mine, "credit review", now=LATER)
    list_applications(desk, CC1, "weekly committee", now=LATER + timedelta(minutes=5))
    with pytest.raises(LoanError, match="reason is required"):
        show(desk, CC1, mine, "  ", now=LATER)
    log = access_log(desk, AUDITOR)
    rows = [
        (r["actor_role"], r["actor_id"], r["application_id"], r["action"], r["reason"]) for r in log
    ]
    assert sorted(rows) == sorted(
        [
            ("account_manager", "am-1", mine, "show", "credit review"),
            ("credit_committee", "cc-1", mine, "list", "weekly committee"),
            ("credit_committee", "cc-1", theirs, "list", "weekly committee"),
        ]
    )
    assert {r["at"].replace(tzinfo=None) for r in log} == {
        LATER.replace(tzinfo=None),
        (LATER + timedelta(minutes=5)).replace(tzinfo=None),
    }
    assert [r["application_id"] for r in access_log(desk, AUDITOR, mine)] == [mine, mine]


def test_the_access_log_is_append_only_even_for_the_owner(desk, ledger_url):
    app = new_application(desk)
    show(desk, CC1, app, "look", now=LATER)
    owner = connect(ledger_url)
    for statement in (
        "UPDATE loan_access_log SET reason = 'nothing'",
        "DELETE FROM loan_access_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:
            conn.execute(text(statement))
    with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:
        conn.execute(text("UPDATE loan_events SET actor_id = 'someone-else'"))
    assert len(access_log(desk, AUDITOR)) == 1


def test_no_plaintext_at_rest(desk, ledger_url, tmp_path):
    """Read the raw database, every table and column, without the library: no secret in it."""
    apps = [new_application(desk) for _ in range(3)]
    owner = connect(ledger_url)
    dump = []
    with owner.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dump.extend(str(value) for value in row)
        stored = conn.execute(select(loan_applications.c.notes_enc)).scalars().all()
    assert len(stored) == 3
    assert all(value.startswith("v1:k1:") for value in stored)
    everything = "\n".join(dump)
    for secret in SECRETS:
        assert secret not in everything
    if ledger_url.startswith("sqlite"):
        owner.dispose()
        path = Path(ledger_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert apps[0].encode() in raw  # we are reading the right bytes
        for secret in SECRETS:
            assert secret.encode() not in raw
    assert show(desk, AM1, apps[0], "decrypts", now=LATER)["stated_losses"] == "3250000.00"


def test_keys_rotate_and_old_records_stay_readable(desk):
    old = new_application(desk)
    k1 = desk.keyring.keys["k1"]
    rotated = Desk(
        desk.url, desk.policy, Keyring({"k2": random_keyring("k2").keys["k2"], "k1": k1}, "k2")
    )
    assert show(rotated, AM1, old, "after adding k2", now=LATER)["notes"].startswith("Liquidated")
    new = new_application(rotated)
    with connect(_owner(desk)).connect() as conn:
        keys = dict(
            conn.execute(select(loan_applications.c.id, loan_applications.c.notes_enc)).all()
        )
    assert keys[old].startswith("v1:k1:")
    assert keys[new].startswith("v1:k2:")
    with pytest.raises(LoanForbidden):
        rotate_keys(rotated, AUDITOR)
    assert rotate_keys(rotated, CC1) == 3 + 2  # three fields of one application, two events
    assert rotate_keys(rotated, CC1) == 0
    only_k2 = Desk(desk.url, desk.policy, Keyring({"k2": rotated.keyring.keys["k2"]}, "k2"))
    for app in (old, new):
        data = show(only_k2, CC1, app, "k1 retired", now=LATER)
        assert data["financial_statements"].startswith("FY2024")
        assert data["events"][1]["reason"] == "complete file"
    with pytest.raises(LoanKeyError, match="'k2', which is not in RECOMPENSE_LOANS_KEYS"):
        show(desk, CC1, old, "k1 only", now=LATER)


def test_a_ciphertext_moved_to_another_record_does_not_decrypt(desk, ledger_url):
    first, second = new_application(desk), new_application(desk)
    with connect(ledger_url).begin() as conn:
        stolen = conn.execute(
            select(loan_applications.c.notes_enc).where(loan_applications.c.id == first)
        ).scalar_one()
        conn.execute(
            loan_applications.update()
            .where(loan_applications.c.id == second)
            .values(notes_enc=stolen)
        )
    with pytest.raises(LoanIntegrityError, match="does not authenticate"):
        show(desk, CC1, second, "tampered?", now=LATER)


def test_keys_from_the_environment_are_checked():
    good = random_keyring("a", "b", active="b")
    import base64

    env = {
        "RECOMPENSE_LOANS_KEYS": ",".join(
            f"{k}:{base64.urlsafe_b64encode(v).decode()}" for k, v in good.keys.items()
        ),
        "RECOMPENSE_LOANS_ACTIVE_KEY": "b",
    }
    ring = Keyring.from_env(env)
    assert ring.active == "b"
    assert ring.keys == good.keys
    assert ring.decrypt(good.encrypt("x", "ctx"), "ctx") == "x"
    for bad, message in [
        ({}, "RECOMPENSE_LOANS_KEYS is not set"),
        ({"RECOMPENSE_LOANS_KEYS": "k1:c2hvcnQ="}, "must be 32 bytes"),
        ({"RECOMPENSE_LOANS_KEYS": "k1:@@@"}, "not base64"),
        ({"RECOMPENSE_LOANS_KEYS": "nokey"}, "is not ID:BASE64KEY"),
        ({**env, "RECOMPENSE_LOANS_ACTIVE_KEY": "zz"}, "'zz' is not one of the configured keys"),
    ]:
        with pytest.raises(LoanKeyError, match=message):
            Keyring.from_env(bad)


def test_row_level_security_blocks_a_direct_select_as_the_app_role(desk, ledger_url):
    """On PostgreSQL the database itself hides rows from the (non-owner) application role."""
    if not ledger_url.startswith("postgresql"):
        pytest.skip(
            "row-level security is PostgreSQL's; on SQLite the library's check is the guard"
        )
    mine = new_application(desk)
    new_application(desk, borrower=2001, manager=AM2)
    show(desk, CC1, mine, "so the log has a row", now=LATER)
    schema = ledger_url.rsplit("%3D", 1)[1]
    dsn = f"host=127.0.0.1 dbname=test user={APP_ROLE} options=-csearch_path={schema}"
    with psycopg.connect(dsn) as conn:
        count = lambda table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
        assert count("loan_applications") == 0  # no identity: nothing
        assert conn.execute("SELECT current_user").fetchone()[0] == APP_ROLE
        for role, ident, apps, events, log in [
            ("account_manager", "am-1", 1, 2, 0),
            ("account_manager", "am-9", 0, 0, 0),
            ("user", "1001", 0, 0, 0),
            ("ops", "ops-1", 0, 0, 0),
            ("credit_committee", "cc-1", 2, 4, 0),
            ("auditor", "aud-1", 2, 4, 1),
        ]:
            conn.execute(
                "SELECT set_config('recompense.actor_role', %s, true), set_config('recompense.actor_id', %s, true)",
                (role, ident),
            )
            assert (count("loan_applications"), count("loan_events"), count("loan_access_log")) == (
                apps,
                events,
                log,
            ), role
        conn.execute("SELECT set_config('recompense.actor_role', 'auditor', true)")
        assert conn.execute("UPDATE loan_applications SET notes_enc = 'x'").rowcount == 0
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM loan_access_log")  # no privilege at all
    with connect(ledger_url).connect() as owner:  # the owner sees everything (RLS is not forced)
        assert owner.execute(text("SELECT COUNT(*) FROM loan_applications")).scalar_one() == 2


def _owner(desk: Desk) -> str:
    return desk.url.replace(f"{APP_ROLE}@", "postgres@")
