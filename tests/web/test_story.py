"""The in-memory run index tells every user's story exactly as ``explain`` does."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from recompense.runs import explain, run_fingerprint
from recompense.runs.errors import RunFolderError
from recompense.web.i18n import Translator, criterion_text, negotiate, payout_text
from recompense.web.runindex import decimal_cents, load_run
from recompense.web.story import story


def test_every_liquidated_user_matches_explain(web_run):
    index = load_run(web_run, run_fingerprint(web_run))
    ids = index.eligibility.user_ids.tolist()
    sample = [*ids[:: max(1, len(ids) // 150)], 0, max(ids) + 1]
    t = Translator("en")
    for user_id in sample:
        got, oracle = story(index, user_id), explain(web_run, user_id)
        assert got.eligible == oracle.eligible
        assert got.reasons == oracle.reasons
        assert [(c.code, c.passed) for c in got.criteria] == [
            (c.code, c.passed) for c in oracle.checks
        ]
        if oracle.features:
            assert Decimal(got.loss_cents) / 100 == Decimal(oracle.features["loss_usd"])
            assert Decimal(got.net_assets_cents) / 100 == Decimal(oracle.features["net_assets_usd"])
            assert got.fills == oracle.features["fills"]
        if oracle.amount_cents is None:
            assert got.payout is None
            continue
        assert got.payout is not None
        assert (got.payout.amount_cents, got.payout.bound) == (oracle.amount_cents, oracle.bound)
        assert got.payout.weight == oracle.weight
        text = payout_text(t, got)
        assert text
        assert all("{" not in criterion_text(t, got, c.code, c.passed) for c in got.criteria)


def test_the_ratio_sentence_restates_the_engines_comparison(web_run):
    index = load_run(web_run, run_fingerprint(web_run))
    t = Translator("en")
    for user_id in index.eligibility.user_ids.tolist()[:200]:
        s = story(index, user_id)
        oracle = explain(web_run, user_id)
        ours = criterion_text(t, s, "RATIO_BELOW_MINIMUM", s.criteria[1].passed)
        theirs = oracle.checks[1].detail
        if s.needed_loss_cents is not None:  # both name the same needed amount
            needed = theirs.split("needed ")[1].rstrip(")")
            assert f"it needed {needed}" in ours


def test_a_run_that_is_not_the_distributed_one_is_refused(web_run):
    with pytest.raises(RunFolderError, match="is not the distributed run"):
        load_run(web_run, "0" * 64)


def test_decimal_cents_reads_the_unscaled_integer_exactly():
    values = [Decimal("0.01"), Decimal("-12.34"), Decimal("123456789012345.67"), None]
    array = pa.array(values, pa.decimal128(20, 2))
    assert decimal_cents(array).tolist() == [1, -1234, 12345678901234567, 0]
    assert decimal_cents(array.slice(1, 2)).tolist() == [-1234, 12345678901234567]


@pytest.mark.parametrize(
    ("candidates", "header", "expected"),
    [
        (["es"], "en", "es"),
        ([None, "vi", "es-MX"], None, "es"),
        (["vi"], "fr;q=0.9, es;q=0.8, en;q=0.5", "es"),
        ([], "en-GB,en;q=0.9", "en"),
        ([], "es;q=0", "en"),
        ([], "garbage;;q=x", "en"),
    ],
)
def test_locale_negotiation(candidates, header, expected):
    assert negotiate(candidates, header) == expected


def test_spanish_money_format():
    assert Translator("es").money(123456789) == "1.234.567,89\u00a0US$"
    assert Translator("en").money(123456789) == "$1,234,567.89"
    assert Translator("es").money(-5) == "-0,05\u00a0US$"
