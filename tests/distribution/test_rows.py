"""A batch's rows: ids, payloads and COPY text are exactly what the slow, obvious code gives."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from recompense.distribution.rows import (
    NAMESPACE,
    Programme,
    keyed_id,
    notification_id,
    payload_parts,
    prepare,
    voucher_id,
)

NOW = datetime(2025, 10, 15, 12, 30, 1, 123456, tzinfo=UTC)
PROGRAMME = Programme(
    id="together-2025-10",
    name='Together "Initiative" \\ ñ\ttab',  # quotes, a backslash, non-ASCII and a tab
    currency="USDC",
    fingerprint="f" * 64,
    validity=timedelta(days=14),
)


def obvious_id(program: str, user: int, name: str) -> uuid.UUID:
    tag = hashlib.sha1(f"programme:{program}".encode()).digest()[:4]
    digest = uuid.uuid5(NAMESPACE, name).bytes  # SHA-1 of namespace + name, v5-stamped
    raw = hashlib.sha1(NAMESPACE.bytes + name.encode()).digest()
    assert digest[:6] == raw[:6]
    value = int.from_bytes(tag + ((user >> 12) & 0xFFFF).to_bytes(2, "big") + raw[:10], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC variant
    return uuid.UUID(int=value)


@pytest.mark.parametrize("user", [1, 4095, 4096, 123_456_789, 2**40 + 7])
def test_ids_are_deterministic_version_8_uuids_that_sort_by_programme_then_user(user):
    vid = voucher_id(PROGRAMME.id, user)
    assert vid == str(obvious_id(PROGRAMME.id, user, f"voucher:{PROGRAMME.id}:{user}"))
    parsed = uuid.UUID(vid)
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    push = notification_id(PROGRAMME.id, user, vid, "push")
    email = notification_id(PROGRAMME.id, user, vid, "email")
    assert len({vid, push, email}) == 3
    assert push == keyed_id(PROGRAMME.id, user, f"notification:{vid}:push:voucher-issued")


def test_ids_of_ascending_users_ascend_by_bucket_within_a_programme():
    ids = [voucher_id("p", user) for user in range(0, 50_000, 97)]
    buckets = [i[:13] for i in ids]  # the programme tag and the user bucket
    assert buckets == sorted(buckets)
    assert len({i[:8] for i in ids}) == 1  # one programme, one tag
    assert voucher_id("q", 1)[:8] != ids[0][:8]
    assert len(set(ids)) == len(ids)


def expected_payload(user: int, cents: int) -> str:
    return json.dumps(
        {
            "program_id": PROGRAMME.id,
            "program_name": PROGRAMME.name,
            "voucher_id": voucher_id(PROGRAMME.id, user),
            "user_id": user,
            "amount_cents": cents,
            "currency": PROGRAMME.currency,
            "expires_at": (NOW + PROGRAMME.validity).isoformat(),
        },
        separators=(",", ":"),
    )


def test_the_payload_is_byte_for_byte_json_dumps():
    head, middle, tail = payload_parts(PROGRAMME, NOW + PROGRAMME.validity)
    vid = voucher_id(PROGRAMME.id, 42)
    assert f'{head}{vid}{middle}42,"amount_cents":1234{tail}' == expected_payload(42, 1234)


CONTACTS = {1: ("a\\b\tc@example.com", "es"), 2: (None, "en")}  # user 3 has no contact


def test_sqlite_rows_hold_the_documented_values():
    batch = prepare(PROGRAMME, [1, 2, 3], [400, 500, 600], CONTACTS, NOW, sqlite_times=True)
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    until = (NOW + PROGRAMME.validity).strftime("%Y-%m-%d %H:%M:%S.%f")
    vid = voucher_id(PROGRAMME.id, 1)
    assert batch.vouchers[0] == (
        vid, PROGRAMME.id, 1, 400, "USDC", "issued", stamp, until, batch.entry_id
    )  # fmt: skip
    assert [len(rows) for rows in batch.outbox] == [2, 1, 1]  # email only with an address
    push, email = batch.outbox[0]
    assert push == (
        notification_id(PROGRAMME.id, 1, vid, "push"), PROGRAMME.id, vid, 1, "push", None,
        "es", expected_payload(1, 400), "pending", 0, stamp, stamp,
    )  # fmt: skip
    assert email[4:6] == ("email", "a\\b\tc@example.com")


def test_postgresql_rows_carry_datetimes_for_binary_copy():
    pg = prepare(PROGRAMME, [1, 2, 3], [400, 500, 600], CONTACTS, NOW, sqlite_times=False)
    lite = prepare(PROGRAMME, [1, 2, 3], [400, 500, 600], CONTACTS, NOW, sqlite_times=True)
    until = NOW + PROGRAMME.validity
    for a, b in zip(pg.vouchers, lite.vouchers, strict=True):
        assert a[:6] == b[:6]
        assert a[6:8] == (NOW, until)
        assert a[8] == pg.entry_id
    for rows_a, rows_b in zip(pg.outbox, lite.outbox, strict=True):
        for a, b in zip(rows_a, rows_b, strict=True):
            assert a[:10] == b[:10]
            assert a[10:] == (NOW, NOW)


def test_without_drops_the_users_that_already_have_a_voucher():
    batch = prepare(PROGRAMME, [1, 2, 3], [400, 500, 600], CONTACTS, NOW, sqlite_times=False)
    rest = batch.without({2})
    assert rest.users == [1, 3]
    assert rest.cents == [400, 600]
    assert rest.vouchers == [batch.vouchers[0], batch.vouchers[2]]
    assert rest.outbox == [batch.outbox[0], batch.outbox[2]]
    assert rest.entry_id == batch.entry_id
