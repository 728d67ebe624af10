"""Evidence: encrypted at rest and bound to its row, limits, sniffed types, safe names."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from case_support import ALICE, USER_A
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from recompense.cases import service
from recompense.cases.evidence import safe_filename, sniff
from recompense.cases.schema import case_events, case_evidence
from recompense.loans.errors import LoanIntegrityError

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = b"%PDF-1.7\nACCOUNT 1001 BALANCE 98765.43 SECRET-MARKER\n"


def xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.fixture
def case_a(desk, program) -> str:
    return service.open_case(desk, USER_A, program, "appeal_loss", "See attached.", now=T0)


def test_stored_ciphertext_does_not_contain_the_plaintext(desk, case_a):
    evidence = service.add_evidence(
        desk, USER_A, case_a, "fills.pdf", "application/pdf", SECRET, now=T0
    )
    with desk.engine.connect() as conn:
        stored = conn.execute(select(case_evidence.c.content_enc)).scalar_one()
    assert b"SECRET-MARKER" not in stored.encode()
    assert service.read_evidence(desk, USER_A, evidence, now=T0).data == SECRET


def test_a_row_copied_to_another_case_does_not_decrypt(desk, case_a, program):
    first = service.add_evidence(desk, USER_A, case_a, "a.pdf", "application/pdf", SECRET, now=T0)
    other = service.open_case(desk, USER_A, program, "appeal_net_assets", "Another.", now=T0)
    second = service.add_evidence(
        desk, USER_A, other, "b.pdf", "application/pdf", b"%PDF-other", now=T0
    )
    with desk.engine.begin() as conn:
        stolen = conn.execute(
            select(case_evidence.c.content_enc).where(case_evidence.c.id == first)
        ).scalar_one()
        conn.execute(
            case_evidence.update().where(case_evidence.c.id == second).values(content_enc=stolen)
        )
    with pytest.raises(LoanIntegrityError, match="does not authenticate"):
        service.read_evidence(desk, USER_A, second, now=T0)


def test_a_staff_read_is_logged(desk, case_a):
    evidence = service.add_evidence(desk, USER_A, case_a, "a.pdf", "x", SECRET, now=T0)
    service.read_evidence(desk, ALICE, evidence, now=T0)
    with desk.engine.connect() as conn:
        reads = (
            conn.execute(select(case_events.c.actor).where(case_events.c.action == "read_evidence"))
            .scalars()
            .all()
        )
    assert reads == [ALICE]


def test_a_sixth_file_is_refused(desk, case_a):
    for n in range(service.MAX_FILES):
        service.add_evidence(
            desk, USER_A, case_a, f"{n}.txt", "text/plain", b"line %d\n" % n, now=T0
        )
    with pytest.raises(service.CaseError, match="already has 5 files"):
        service.add_evidence(desk, USER_A, case_a, "6.txt", "text/plain", b"six", now=T0)


def test_a_file_above_5_mib_is_refused_and_at_5_mib_accepted(desk, case_a):
    exact = b"%PDF-" + b"0" * (service.MAX_BYTES - 5)
    service.add_evidence(desk, USER_A, case_a, "big.pdf", "application/pdf", exact, now=T0)
    with pytest.raises(service.CaseError, match="above the limit"):
        service.add_evidence(
            desk, USER_A, case_a, "big.pdf", "application/pdf", exact + b"0", now=T0
        )


def test_the_type_is_sniffed_not_declared(desk, case_a):
    evidence = service.add_evidence(
        desk, USER_A, case_a, "sheet.exe", "application/x-msdownload", xlsx(), now=T0
    )
    stored = service.read_evidence(desk, USER_A, evidence, now=T0)
    assert (stored.filename, stored.content_type) == (
        "sheet.exe.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.4", "pdf"),
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0....", "jpeg"),
        (b'{"fills": [1, 2]}', "json"),
        (b"time,amount\n2025-10-10T21:00Z,12.5\n", "text"),
        ("héllo\n".encode(), "text"),
    ],
)
def test_accepted_types(data, kind):
    assert sniff(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00binary",
        b"PK\x03\x04not a zip",
        b"\x00\x01\x02",
        b"<script>\x00</script>",
        b"GIF89a\x01\x00",
    ],
)
def test_other_types_are_refused(data):
    with pytest.raises(service.CaseError, match="not an accepted file type"):
        sniff(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=300), kind=st.sampled_from(["pdf", "png", "jpeg", "xlsx", "json", "text"])
)
def test_a_sanitised_filename_is_safe(name, kind):
    clean = safe_filename(name, kind)
    assert 0 < len(clean) <= 100
    assert all(ch.isascii() and (ch.isalnum() or ch in "._- ") for ch in clean)
    assert not clean.startswith(".")
    assert "/" not in clean


@settings(max_examples=300)
@given(data=st.binary(max_size=2048))
def test_sniffing_any_bytes_either_names_a_type_or_refuses(data):
    try:
        kind = sniff(data)
    except service.CaseError as exc:
        assert exc.code == "evidence_type"
    else:
        assert kind in {"pdf", "png", "jpeg", "xlsx", "json", "text"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=4096), name=st.text(max_size=60))
def test_what_is_stored_is_what_is_read_back(desk, program, data, name):
    case_id = service.open_case(desk, USER_A, program, "appeal_loss", "Hypothesis.", now=T0)
    try:
        evidence = service.add_evidence(
            desk, USER_A, case_id, name, "application/octet-stream", data, now=T0
        )
    except service.CaseError as exc:
        assert exc.code == "evidence_type"
        return
    assert service.read_evidence(desk, USER_A, evidence, now=T0).data == data
