"""The user's notifications about their case, through the existing outbox.

On four steps — opened (an acknowledgement), more information requested, accepted,
rejected — the transition's transaction also writes the notices: a ``push`` row always,
an ``email`` row when the case has an e-mail address. ``voucher_id`` is NULL; the id is
deterministic (:func:`recompense.distribution.rows.keyed_id` of the programme, the user
and ``case:<id>:<event>:<version>:<channel>``), so a retried transition cannot notify
twice. The payload carries codes, never free text (an officer's message stays encrypted
in ``case_events``; the notice points the user to the app)::

    {"kind": "case", "event": "opened|info_requested|accepted|rejected",
     "case_id": …, "program_id": …, "user_id": …, "state": …, "category": …,
     "reason_code": null | "LOSS_CONFIRMED" | …}

The worker renders it in the user's language (:mod:`recompense.notify.templates`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, select

from recompense.cases.desk import Desk
from recompense.distribution.rows import keyed_id
from recompense.ledger.schema import notifications

NoticeEvent = Literal["opened", "info_requested", "accepted", "rejected"]


def enqueue(
    conn: Connection,
    desk: Desk,
    row: Row[Any],
    event: NoticeEvent,
    state: str,
    version: int,
    now: datetime,
    *,
    reason_code: str | None = None,
) -> list[str]:
    """Write the case's notices for ``event`` (push, and e-mail if known); their ids."""
    payload = json.dumps(
        {
            "kind": "case",
            "event": event,
            "case_id": row.id,
            "program_id": row.program_id,
            "user_id": int(row.user_id),
            "state": state,
            "category": row.category,
            "reason_code": reason_code,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    email = None if row.email_enc is None else desk.unseal("cases", "email", row.id, row.email_enc)
    channels: list[tuple[str, str | None]] = [("push", None)]
    if email:
        channels.append(("email", email))
    ids = []
    for channel, recipient in channels:
        notice_id = keyed_id(
            row.program_id, int(row.user_id), f"case:{row.id}:{event}:{version}:{channel}"
        )
        exists = conn.execute(
            select(notifications.c.id).where(notifications.c.id == notice_id)
        ).first()
        if exists is None:
            conn.execute(
                notifications.insert().values(
                    id=notice_id,
                    program_id=row.program_id,
                    voucher_id=None,
                    user_id=int(row.user_id),
                    channel=channel,
                    recipient=recipient,
                    locale=row.locale,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        ids.append(notice_id)
    return ids
