"""The JSON log lines and the redacting filter, record by record."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy.exc import IntegrityError

from recompense.observability.logs import (
    REQUEST_ID,
    RedactSecrets,
    json_handler,
    redact,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyOjk1In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def emit(logger: str, message: str, *args: object, **kwargs: object) -> dict:
    stream = io.StringIO()
    log = logging.getLogger(logger)
    handler = json_handler(stream)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.info(message, *args, **kwargs)
    finally:
        log.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()  # one line per event
    return json.loads(line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /login?token={JWT}&next=/hub", "GET /login?token=[redacted-token]&next=/hub"),
        ("GET /login?token=opaque-value&next=/", "GET /login?token=[redacted]&next=/"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("mail to Ana.Lopez+x@mail.example.co.uk failed", "mail to [email] failed"),
        ("stored v1:k2:AAAAAAAAAAAAAAAA:Zm9vYmFy", "stored [redacted]"),
        ("GET /api/users/95/vouchers 200", "GET /api/users/95/vouchers 200"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_a_line_is_one_json_object_with_the_request_id_and_the_extras():
    token = REQUEST_ID.set("req-1")
    try:
        line = emit(
            "recompense.test", "GET %s %d", "/hub", 200, extra={"route": "/hub", "status": 200}
        )
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "GET /hub 200"
    assert (line["level"], line["logger"], line["request_id"]) == (
        "info",
        "recompense.test",
        "req-1",
    )
    assert (line["route"], line["status"]) == ("/hub", 200)
    assert line["ts"].endswith("Z")
    assert len(line["ts"]) == len("2026-12-08T09:14:03.512Z")
    assert "request_id" not in emit("recompense.test", "outside any request")


def test_secrets_in_arguments_and_extra_fields_are_dropped():
    line = emit(
        "recompense.test",
        "signed in with %s from %s",
        JWT,
        "ana@example.com",
        extra={
            "email": "ana@example.com",
            "financial_statements": "FY2024 revenue 48.2M",
            "amount_cents": 12345789,
            "notes": "bridge",
            "path": "/users/ana@example.com",
        },
    )
    text = json.dumps(line)
    for secret in (JWT, "ana@example.com", "48.2M", "12345789", "bridge"):
        assert secret not in text
    assert line["email"] == line["financial_statements"] == line["amount_cents"] == "[redacted]"
    assert line["path"] == "/users/[email]"


def test_an_exception_is_its_type_and_place_never_its_message():
    """SQLAlchemy's message quotes the statement's parameters: an email, a loan amount."""
    try:
        raise IntegrityError(
            "INSERT INTO notifications (recipient, amount) VALUES (?, ?)",
            ("ana@example.com", 12345789),
            sqlite3.IntegrityError("UNIQUE constraint failed: notifications.id"),
        )
    except IntegrityError as exc:
        line = emit("recompense.test", "failed", exc_info=exc)
    text = json.dumps(line)
    assert "ana@example.com" not in text
    assert "12345789" not in text
    assert line["error"]["type"] == "sqlalchemy.exc.IntegrityError"
    assert line["error"]["database"]["message"] == "UNIQUE constraint failed: notifications.id"
    assert "test_logs.py" in line["error"]["raised_in"]


def test_the_filter_rewrites_the_record_for_every_handler():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "link %s", (f"/login?token={JWT}",), None
    )
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "link /login?token=[redacted-token]"


SERVE_LOGGING = """
import logging, logging.config, sys
from recompense.observability.logs import logging_config
logging.config.dictConfig(logging_config("info"))
logging.getLogger("recompense.web.access").info("GET /login?token=%s 303", sys.argv[1])
logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
logging.getLogger("recompense.web.access").debug("below the level")
logging.getLogger("sqlalchemy.engine").info("SELECT … with its parameters")
"""


def test_the_serve_configuration_writes_json_through_the_filter():
    """In a process of its own: ``dictConfig`` replaces every handler of the process."""
    out = subprocess.run(
        [sys.executable, "-c", SERVE_LOGGING, JWT], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert [line["message"] for line in lines] == [
        "GET /login?token=[redacted-token] 303",
        "Started server process [1]",
    ]
