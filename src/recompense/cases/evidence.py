"""Evidence files: limits, type sniffing, encryption at rest, and who may read them.

Limits: at most :data:`MAX_FILES` files per case, :data:`MAX_BYTES` (5 MiB) each, not
empty. The type is decided by the content, never by the declared type or the name:
PDF (``%PDF-``), PNG, JPEG, XLSX (a zip holding ``[Content_Types].xml``), JSON (parses),
CSV/TXT (valid UTF-8 text without control characters). The stored ``content_type`` is
the sniffed one. Filenames are reduced to a safe base name (letters, digits, ``._- ``,
at most 100 characters, no leading dot).

The bytes are AES-GCM encrypted, bound to ``case_evidence:content:<evidence id>``
(plus the case id), so a row copied to another case does not decrypt; the plaintext's
SHA-256 is kept for integrity and duplicate detection. Only the case's user and staff
read a file; a staff read is a ``case_events`` row and a ``case.evidence.read`` audit
event.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from recompense import audit
from recompense.cases.desk import (
    Actor,
    Desk,
    as_actor,
    as_utc,
    is_plain,
    new_id,
    record_event,
    require_role,
    require_state,
    unit,
    visible_case,
)
from recompense.cases.errors import CaseError, CaseNotFound
from recompense.cases.schema import OPEN_STATES, case_evidence

MAX_FILES = 5
MAX_BYTES = 5 * 1024 * 1024
MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
# Sniffed type → (MIME type, the extension the stored name gets if it has none of these).
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", (".pdf",)),
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (".xlsx",),
    ),
    "json": ("application/json", (".json",)),
    "text": ("text/plain; charset=utf-8", (".txt", ".csv")),
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One evidence file, decrypted."""

    id: str
    case_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str
    data: bytes


def add_evidence(
    desk: Desk,
    actor: Actor | str,
    case_id: str,
    filename: str,
    content_type: str,
    data: bytes,
    now: datetime | None = None,
) -> str:
    """The case's user attaches a file to an undecided case; returns the evidence id.

    ``content_type`` (what the browser declared) is not trusted: the stored type is
    sniffed from ``data``. Refused: empty, above 5 MiB, a type not on the list, a sixth
    file.
    """
    who, now = as_actor(actor), desk.now(now)
    if not isinstance(data, bytes | bytearray):
        raise CaseError("evidence: the file's bytes are missing", code="evidence_empty")
    data = bytes(data)
    if not data:
        raise CaseError("evidence: the file is empty", code="evidence_empty")
    if len(data) > MAX_BYTES:
        raise CaseError(
            f"evidence: {len(data):,} bytes is above the limit of {MAX_BYTES:,} bytes (5 MiB)",
            code="evidence_too_large",
            size=len(data),
            limit=MAX_BYTES,
        )
    kind = sniff(data)
    name = safe_filename(filename, kind)
    with unit(desk) as conn:
        visible_case(conn, who, case_id)
        require_role(who, ("user",), "add_evidence")
        row = visible_case(conn, who, case_id, lock=True)
        require_state(row, OPEN_STATES, "add_evidence")
        _check_count(conn, row.id)
        evidence_id = new_id()
        conn.execute(
            case_evidence.insert().values(
                id=evidence_id,
                case_id=row.id,
                user_id=row.user_id,
                filename=name,
                content_type=TYPES[kind][0],
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                content_enc=desk.keys.encrypt_bytes(data, _context(row.id, evidence_id)),
                uploaded_at=now,
                uploaded_by=str(who),
            )
        )
        record_event(conn, desk, who, row.id, "evidence", row.state, now, text=name)
    return evidence_id


def read_evidence(
    desk: Desk, actor: Actor | str, evidence_id: str, now: datetime | None = None
) -> Evidence:
    """The file, for the case's user or staff (a staff read is logged); else "not found"."""
    who, now = as_actor(actor), desk.now(now)
    with unit(desk) as conn:
        stored = _visible_evidence(conn, who, evidence_id)
        data = desk.keys.decrypt_bytes(stored.content_enc, _context(stored.case_id, stored.id))
        if who.is_staff:
            case = visible_case(conn, who, stored.case_id)
            record_event(
                conn, desk, who, case.id, "read_evidence", case.state, now,
                text=stored.filename, visible_to_user=False,
            )  # fmt: skip
            audit.record(
                conn,
                actor=str(who),
                action="case.evidence.read",
                subject=f"case:{case.id}",
                details={"evidence_id": stored.id, "sha256": stored.sha256},
                at=now,
            )
    return Evidence(
        id=str(stored.id),
        case_id=str(stored.case_id),
        filename=str(stored.filename),
        content_type=str(stored.content_type),
        size_bytes=int(stored.size_bytes),
        sha256=str(stored.sha256),
        uploaded_at=as_utc(stored.uploaded_at),
        uploaded_by=str(stored.uploaded_by),
        data=data,
    )


def sniff(data: bytes) -> str:
    """The file's type from its first bytes (a key of :data:`TYPES`), or :class:`CaseError`."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"PK\x03\x04") and _is_xlsx(data):
        return "xlsx"
    text = _utf8(data)
    if text is not None:
        return "json" if _is_json(text) else "text"
    raise CaseError(
        "evidence: not an accepted file type (PDF, PNG, JPEG, XLSX, CSV, TXT or JSON); "
        "the type is read from the file's content, not its name",
        code="evidence_type",
    )


def safe_filename(filename: str, kind: str) -> str:
    """A name safe to store and to send back in ``Content-Disposition``.

    Path parts dropped, accents folded, anything but letters, digits, ``._- `` replaced
    by ``_``, no leading dots, at most 100 characters, and an extension that matches the
    sniffed type (``photo`` → ``photo.png``; ``invoice.pdf.exe`` holding a PDF →
    ``invoice.pdf.exe.pdf``).
    """
    raw = filename if isinstance(filename, str) else ""
    base = re.split(r"[\\/]", raw)[-1]
    folded = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    clean = _UNSAFE.sub("_", folded).strip(" ._") or "evidence"
    extensions = TYPES[kind][1]
    if not clean.lower().endswith(extensions):
        clean = f"{clean[: MAX_NAME - 5]}{extensions[0]}"
    return clean[-MAX_NAME:] if len(clean) > MAX_NAME else clean


def _visible_evidence(conn: Connection, who: Actor, evidence_id: str) -> Row[Any]:
    missing = CaseNotFound(f"evidence {str(evidence_id)[:36]!r} not found", code="not_found")
    if not isinstance(evidence_id, str) or not is_plain(evidence_id) or len(evidence_id) > 36:
        raise missing
    row = conn.execute(select(case_evidence).where(case_evidence.c.id == evidence_id)).first()
    if row is None:
        raise missing
    if who.is_staff or (who.role == "user" and int(row.user_id) == who.user_id):
        visible_case(conn, who, row.case_id)  # the case's owner must match too
        return row
    raise missing


def _check_count(conn: Connection, case_id: str) -> None:
    count = conn.execute(
        select(func.count()).where(case_evidence.c.case_id == case_id)
    ).scalar_one()
    if count >= MAX_FILES:
        raise CaseError(
            f"evidence: case {case_id} already has {MAX_FILES} files, the most a case takes",
            code="evidence_too_many",
            limit=MAX_FILES,
        )


def _context(case_id: str, evidence_id: str) -> str:
    return f"case_evidence:content:{evidence_id}:{case_id}"


def _is_xlsx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False


def _utf8(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text if text.strip() and is_plain(text) else None


def _is_json(text: str) -> bool:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
