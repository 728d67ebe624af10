"""'Check with your own exports' (``/selfcheck``): uploads checked in memory, under limits.

Two kinds of tests:

- the form, its limits and its refusals, on the ``served`` app of every backend (the
  programme configured, stablecoins only; nothing here needs a price);
- real exports (``../shared/data/real/user-exports``, read from there, never copied):
  Aaron's USDⓈ-M and COIN-M exports, priced with Binance's COIN-M BTC mark-price klines
  and a BNB price we had to assume; blah's USDⓈ-M exports with typed-in net assets. The
  self-check never touches the ledger, so these run on SQLite only. The page's numbers
  are held to :func:`recompense.selfcheck.selfcheck` itself (the oracle), called on the
  same files.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web_support import PROGRAM_FILE, SECRET

from builders import approve_twice, sign_in
from recompense.distribution.distribute import distribute
from recompense.imports.binance import ImportOptions
from recompense.ledger.db import upgrade
from recompense.selfcheck import selfcheck
from recompense.web.app import create_app
from recompense.web.auth import mint_token
from recompense.web.i18n import Translator
from recompense.web.settings import Settings
from recompense.web.uploads import MIB, Limits, UploadRefused, read_form

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
AARON, BLAH = 26515667, 1105200956
PROGRAMME_NAME = "Together Initiative — USDC token vouchers"
ME = 4242  # the signed-in user of the real-data tests: neither of them
# ASSUMPTION: BNB at $1,250 at the snapshot minute. Aaron's USDⓈ-M wallet holds some BNB
# (commissions are paid in it) and the shared data has no public BNB minute price, so
# this figure is ours, not Binance's. It only moves Aaron's net assets a little.
BNB_PRICES = "asset,minute,usd\nBNB,2025-10-09T23:59:00Z,1250\n"
BTC_KLINES = (
    "binance_cm_BTCUSD_PERP_markprice_1m_2025-10-09.csv",
    "binance_cm_BTCUSD_PERP_markprice_1m_2025-10-10.csv",
)


def signed_in(app_or_served: Any, settings: Settings, user_id: int, **claims: Any) -> Any:
    from starlette.testclient import TestClient

    client = TestClient(app_or_served)
    token = mint_token(settings, role="user", user_id=user_id, **claims)
    sign_in(client, token)
    return client


def csrf_of(client: Any) -> str:
    page = client.get("/selfcheck")
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found, "the form carries the session's CSRF token"
    return found.group(1)


def upload(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "text/csv")) for p in paths]


def post(client: Any, files: Any, net: str = "", **extra: Any) -> Any:
    data = {"csrf_token": csrf_of(client), "net_assets_usd": net}
    return client.post("/selfcheck", data=data, files=files, **extra)


def count_ids(html: str, name: str) -> int:
    return html.count(f'data-testid="{name}"')


# --- the form, its limits and refusals (every backend) ----------------------------------


def test_the_hub_links_to_the_check_in_english_and_spanish(served):
    english = signed_in(served.app, served.settings, served.owner)
    hub = english.get("/hub").text
    assert 'data-testid="selfcheck-link"' in hub
    assert "Check with your own exports" in hub
    page = english.get("/selfcheck").text
    assert "<h1" in page
    assert "Check with your own exports</h1>" in page
    assert "Your files are read in memory to answer this request only" in page
    assert "Up to 12 files at a time, each at most 5 MiB and 20 MiB together" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'accept=".csv,.json"' in page
    spanish = signed_in(served.app, served.settings, served.owner, locale="es")
    hub = spanish.get("/hub").text
    assert '<html lang="es">' in hub
    assert "Comprobar con sus propias exportaciones" in hub
    assert "Hasta 12 archivos a la vez" in spanish.get("/selfcheck").text


def test_only_signed_in_users_may_check(served):
    with served.client() as anonymous:
        assert anonymous.get("/selfcheck").status_code == 401
        files = {"files": ("a.csv", b"x", "text/csv")}
        assert anonymous.post("/selfcheck", files=files).status_code == 401
        for role in ("ops", "auditor", "account_manager"):
            answer = anonymous.post("/selfcheck", files=files, headers=served.bearer(role))
            assert answer.status_code == 403, role


def test_a_form_without_the_sessions_csrf_token_is_refused(served):
    client = signed_in(served.app, served.settings, served.owner)
    files = {"files": ("a.csv", b"Uid\n1\n", "text/csv")}
    assert client.post("/selfcheck", files=files).status_code == 403
    bad = client.post("/selfcheck", data={"csrf_token": "0" * 64}, files=files)
    assert bad.status_code == 403
    assert "security token is missing" in bad.text
    # the token after the files is checked at the end: still refused
    late = [("files", ("a.csv", b"Uid\n1\n", "text/csv"))]
    assert client.post("/selfcheck", data={"csrf_token": "f" * 64}, files=late).status_code == 403


@pytest.mark.parametrize(
    ("files", "status", "message"),
    [
        (
            [("files", (f"f{i}.csv", b"x", "text/csv")) for i in range(13)],
            413,
            "At most 12 files at a time.",
        ),
        ([("files", ("big.csv", b"a" * (5 * MIB + 1), "text/csv"))], 413, "big.csv is larger"),
        (
            [("files", (f"f{i}.csv", b"a" * (4 * MIB), "text/csv")) for i in range(6)],
            413,
            "larger than 20 MiB together",
        ),
        ([("files", ("notes.txt", b"hello", "text/plain"))], 422, "only .csv, .json files"),
        ([("files", ("", b"", "application/octet-stream"))], 422, "Choose at least one"),
    ],
    ids=["13-files", "file-over-5-MiB", "over-20-MiB", "not-csv-or-json", "no-file"],
)
def test_the_limits_are_said_on_the_page(served, files, status, message):
    client = signed_in(served.app, served.settings, served.owner)
    answer = post(client, files)
    assert answer.status_code == status
    assert 'data-testid="selfcheck-error"' in answer.text
    assert message in answer.text
    assert 'data-testid="selfcheck-form"' in answer.text  # the form again, to fix it


def test_a_declared_length_past_the_limit_is_refused_before_reading(served):
    client = signed_in(served.app, served.settings, served.owner)
    token = csrf_of(client)
    headers = {
        "content-type": "multipart/form-data; boundary=xyz",
        "content-length": str(21 * MIB + 64 * 1024),
        "x-csrf-token": token,
    }
    body = b"--xyz--\r\n" + b" " * (21 * MIB + 64 * 1024 - 9)
    answer = client.post("/selfcheck", content=body, headers=headers)
    assert answer.status_code == 413
    assert "20 MiB" in answer.text


def test_not_an_upload_and_a_bad_figure_are_said_too(served):
    client = signed_in(served.app, served.settings, served.owner)
    token = csrf_of(client)
    plain = client.post("/selfcheck", data={"csrf_token": token})
    assert plain.status_code == 400
    assert "The files did not arrive as a file upload" in plain.text
    files = [("files", ("a.csv", b"x", "text/csv"))]
    for typed in ("50,000", "1e6", "-5", "12.345", "abc"):
        answer = post(client, files, net=typed)
        assert answer.status_code == 422, typed
        assert "without thousands separators" in answer.text
        assert f'value="{typed}"' in answer.text  # kept in the field, to correct it


def test_a_malformed_file_is_named_with_line_and_column(served):
    client = signed_in(served.app, served.settings, served.owner)
    truncated = [("files", ("api-trades.json", b'[{"symbol": "BTCUSDT", "id": 1', "text/json"))]
    answer = post(client, truncated)
    assert answer.status_code == 422
    assert "api-trades.json:1:" in answer.text
    assert "not JSON" in answer.text
    assert "Traceback" not in answer.text
    binary = [("files", ("export.csv", b"Uid,x\n1,\xe9\n", "text/csv"))]
    answer = post(client, binary)
    assert answer.status_code == 422
    assert "export.csv:2: not UTF-8" in answer.text
    spanish = signed_in(served.app, served.settings, served.owner, locale="es")
    answer = post(spanish, binary)
    assert answer.status_code == 422
    assert "No se pudieron comprobar estos archivos." in answer.text
    assert 'lang="en" data-testid="selfcheck-refused"' in answer.text


def test_a_refused_upload_leaves_nothing_on_disk(served, tmp_path, monkeypatch):
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setenv("TMPDIR", str(spool))
    client = signed_in(served.app, served.settings, served.owner)
    big = [("files", ("big.csv", b"Uid,x\n" + b"1,2\n" * (MIB // 2), "text/csv"))]  # 2 MiB
    assert post(client, big).status_code == 422  # read in full (past the 1 MiB spool), refused
    assert list(spool.iterdir()) == []


def test_the_reader_stops_at_the_limit_without_reading_the_rest():
    """Limits hold while the body arrives: past them, no further chunk is asked for."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    asked = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal asked
        yield head
        for _ in range(100):  # 100 MiB if it were all read
            asked += 1
            yield b"a" * MIB

    limits = Limits(files=12, file_bytes=5 * MIB, total_bytes=20 * MIB)
    with pytest.raises(UploadRefused) as refused:
        asyncio.run(read_form(f"multipart/form-data; boundary={boundary}", None, body(), limits))
    assert refused.value.status == 413
    assert refused.value.key == "upload_file_too_large"
    assert asked == 6  # the sixth MiB passed the 5 MiB limit; nothing after it was read


def test_uploads_are_held_in_memory_with_their_names_only():
    boundary = "xx"
    parts = [
        ("csrf_token", None, b"tok"),
        ("files", "C:\\Users\\me\\exports\\trades.csv", b"a,b\n"),
        ("files", "../../etc/orders.json", b"[]"),
        ("files", "", b""),  # an empty file input
    ]
    body = b""
    for name, filename, data in parts:
        extra = "" if filename is None else f'; filename="{filename}"'
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    seen: list[tuple[str, str]] = []

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):  # small chunks: parts cross chunk boundaries
            yield body[i : i + 7]

    form = asyncio.run(
        read_form(
            f"multipart/form-data; boundary={boundary}",
            str(len(body)),
            stream(),
            Limits(),
            on_field=lambda n, v: seen.append((n, v)),
        )
    )
    assert seen == [("csrf_token", "tok")]
    assert [(u.name, u.data) for u in form.files] == [
        ("trades.csv", b"a,b\n"),
        ("orders.json", b"[]"),
    ]
    assert all(isinstance(u.data, bytes) for u in form.files)


def test_settings_name_the_price_files_and_refuse_missing_ones(tmp_path):
    from recompense.web.errors import WebSettingsError

    one, two = tmp_path / "a.csv", tmp_path / "b.csv"
    one.write_text("x")
    two.write_text("y")
    env = {
        "RECOMPENSE_JWT_SECRET": SECRET,
        "RECOMPENSE_SELFCHECK_PROGRAM": str(PROGRAM_FILE),
        "RECOMPENSE_SELFCHECK_KLINES": f"btc={one}, BTC={two}",
        "RECOMPENSE_SELFCHECK_PRICES": str(two),
    }
    found = Settings.from_env(env, db_url="sqlite://").selfcheck
    assert found.klines == (("BTC", one), ("BTC", two))
    assert found.prices == (two,)
    assert found.program == PROGRAM_FILE
    assert found.run is None
    assert (
        Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET}, db_url="sqlite://").selfcheck.program
        is None
    )
    for name, value in (
        ("RECOMPENSE_SELFCHECK_KLINES", f"BTC={tmp_path / 'missing.csv'}"),
        ("RECOMPENSE_SELFCHECK_KLINES", str(one)),
        ("RECOMPENSE_SELFCHECK_PRICES", str(tmp_path / "missing.csv")),
        ("RECOMPENSE_SELFCHECK_RUN", str(one)),
    ):
        with pytest.raises(WebSettingsError, match=name):
            Settings.from_env({**env, name: value}, db_url="sqlite://")


# --- real exports (SQLite: the self-check never reads the ledger) ------------------------


@dataclass
class Site:
    app: Any
    settings: Settings
    run: Path
    real: Path
    bnb: Path

    def exports(self, who: str) -> list[Path]:
        return sorted((self.real / "user-exports" / who).glob("*.csv"))

    def oracle(self, who: str, net: str | None = None) -> Any:
        """The domain's own answer on the same files, as ``recompense selfcheck`` gives it."""
        options = ImportOptions(
            net_assets_usd=None if net is None else Decimal(net),
            klines={"BTC": [self.real / name for name in BTC_KLINES]},
            price_files=(self.bnb,),
        )
        return selfcheck(PROGRAM_FILE, self.exports(who), options=options, run=self.run)


@pytest.fixture(scope="module")
def site(web_run, real_exports, tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("selfcheck")
    url = f"sqlite:///{folder / 'ledger.db'}"
    upgrade(url)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)  # the published run the payout is priced at
    bnb = folder / "bnb-prices.csv"
    bnb.write_text(BNB_PRICES)
    klines = ",".join(f"BTC={real_exports / name}" for name in BTC_KLINES)
    settings = Settings.from_env(
        {
            "RECOMPENSE_JWT_SECRET": SECRET,
            "RECOMPENSE_SELFCHECK_PROGRAM": str(PROGRAM_FILE),
            "RECOMPENSE_SELFCHECK_KLINES": klines,
            "RECOMPENSE_SELFCHECK_PRICES": str(bnb),
        },
        db_url=url,
    )
    yield Site(create_app(settings), settings, web_run, real_exports, bnb)


def test_aarons_two_products_in_english(site):
    """USDⓈ-M and COIN-M: BTC from the klines, BNB from our file; 524 fills, capped at 100."""
    truth = site.oracle("Aaron")
    client = signed_in(site.app, site.settings, AARON)
    answer = post(client, upload(site.exports("Aaron")))
    page = answer.text
    assert answer.status_code == 200, page
    assert answer.headers["cache-control"] == "no-store"
    assert f'data-user-id="{AARON}"' in page
    assert 'data-eligible="true"' in page
    assert count_ids(page, "selfcheck-other-uid") == 0  # Aaron checks his own
    assert f'data-loss-cents="{truth.loss_cents}"' in page
    assert f'data-net-assets-cents="{truth.net_assets_cents}"' in page
    t = Translator("en")
    assert t.money(truth.loss_cents) in page
    assert t.money(truth.net_assets_cents) in page
    assert page.count('data-passed="true"') == 3
    assert 'data-passed="false"' not in page
    # the fills: the first 100 of 524, as the domain counted and priced them
    assert len(truth.fills) == 524
    assert count_ids(page, "selfcheck-fill") == 100
    assert "Showing the first 100 of 524 fills." in page
    first = truth.fills[0]
    assert f'data-loss-micros="{first.loss_micros}"' in page
    assert first.source in page
    micros = re.findall(r'data-testid="selfcheck-fill" data-loss-micros="(-?\d+)"', page)
    assert [int(m) for m in micros] == [f.loss_micros for f in truth.fills[:100]]
    # the chart: inline SVG with a text alternative, and its numbers as a table
    assert 'role="img"' in page
    assert "<title>Cumulative liquidation loss by minute</title>" in page
    assert f"{t.money(truth.timeline[-1][1])} lost over {len(truth.timeline)} minute(s)" in page
    assert count_ids(page, "selfcheck-chart-numbers") == 1
    # the run: the distributed one; Aaron is not in this synthetic run
    assert truth.payout is not None
    assert not truth.payout.in_run
    assert f'data-cents="{truth.payout.amount_cents}"' in page
    assert f"User {AARON} is not in the published run." in page
    assert count_ids(page, "selfcheck-warning") == len(truth.warnings) > 0


def test_blahs_exports_in_spanish_with_typed_net_assets(site, caplog):
    truth = site.oracle("blah", net="50000")
    client = signed_in(site.app, site.settings, ME, locale="es")
    with caplog.at_level(logging.DEBUG):
        answer = post(client, upload(site.exports("blah")), net="50000,00")
    page = answer.text
    assert answer.status_code == 200, page
    assert '<html lang="es">' in page
    assert truth.loss_cents == 3392787
    assert truth.net_assets_cents == 5_000_000
    assert f'data-loss-cents="{truth.loss_cents}"' in page
    # someone else's exports: checked, and said so
    assert count_ids(page, "selfcheck-other-uid") == 1
    assert (
        f"Estas exportaciones son del usuario {BLAH}, no suyas (usted es el usuario {ME})" in page
    )
    t = Translator("es")
    assert t("selfcheck_verdict_yes", uid=BLAH, programme=PROGRAMME_NAME) in page
    # the rules in Spanish, built from the numbers as the eligibility page builds them
    assert t("crit_loss_ok", loss="33.927,87\u00a0US$", minimum="50,00\u00a0US$") in page
    assert (
        t(
            "crit_ratio_ok",
            loss="33.927,87\u00a0US$",
            share="67,86\u00a0%",
            net="50.000,00\u00a0US$",
            minimum="30\u00a0%",
            needed="15.000,00\u00a0US$",
        )
        in page
    )
    assert t("crit_comp_ok", programs="depeg-2025-10") in page
    assert truth.payout is not None
    assert truth.payout.amount_cents > 0
    assert t("selfcheck_payout_amount", amount=t.money(truth.payout.amount_cents)) in page
    assert f"El usuario {BLAH} no está en la ejecución publicada." in page
    assert "Se muestran" not in page
    assert "20 ejecuciones." in page
    assert count_ids(page, "selfcheck-fill") == 20
    assert "<title>Pérdida por liquidación acumulada por minuto</title>" in page
    assert "-41,62928000 USDT" in page  # the exact PnL of the first fill, decimal comma
    # nothing of the files' content in the logs
    for text in ("SKYUSDT", "41.62928000", "f2c71b64"):
        assert text not in caplog.text


def test_blah_without_net_assets_is_told_to_type_them(site):
    client = signed_in(site.app, site.settings, ME)
    answer = post(client, upload(site.exports("blah")))
    assert answer.status_code == 422
    ledger = next(p.name for p in site.exports("blah") if p.name.startswith("f2c71b64"))
    assert f"{ledger}:2" in answer.text
    assert "cannot be derived" in answer.text
    assert "type your net assets in the form" in answer.text


def test_a_corrupted_real_export_names_its_line_and_column(site):
    files = upload(site.exports("blah"))
    trades = next(i for i, (_, (name, _, _)) in enumerate(files) if name.startswith("beb5799c"))
    name, data, kind = files[trades][1]
    lines = data.split(b"\n")
    cells = lines[3].split(b",")
    cells[9] = b'"twenty"'  # Realized Profit
    lines[3] = b",".join(cells)
    files[trades] = ("files", (name, b"\n".join(lines), kind))
    client = signed_in(site.app, site.settings, ME)
    answer = post(client, files, net="50000")
    assert answer.status_code == 422
    assert f"{name}:4" in answer.text
    assert "Realized Profit" in answer.text
    assert "twenty" in answer.text


def test_a_check_leaves_nothing_on_disk(site, tmp_path, monkeypatch):
    """Neither the uploads (never spooled) nor the domain's derived tables remain."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setenv("TMPDIR", str(spool))
    client = signed_in(site.app, site.settings, ME)
    assert post(client, upload(site.exports("blah")), net="50000").status_code == 200
    assert list(spool.iterdir()) == []
