"""Validation of what-if changes and of the run folder they apply to."""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest

from recompense.errors import InputError
from recompense.runs import RunFolderError
from recompense.whatif import ChangeError, Changes, load, simulate


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"min_loss_usd": "-1"}, "min_loss_usd", "must not be negative"),
        ({"min_loss_usd": "12.345"}, "min_loss_usd", "more than two decimals"),
        ({"min_loss_usd": "fifty"}, "min_loss_usd", "not a number"),
        ({"min_loss_usd": 50.0}, "min_loss_usd", "given exactly"),
        ({"min_ratio": "11"}, "min_ratio", "between 0 and 10"),
        ({"min_ratio": "-0.1"}, "min_ratio", "between 0 and 10"),
        ({"min_ratio": "NaN"}, "min_ratio", "not a finite number"),
        ({"max_payout_usd": "0"}, "max_payout_usd", "greater than 0"),
        ({"budget_usd": "0.00"}, "budget_usd", "greater than 0"),
        ({"budget_usd": "1e400000"}, "budget_usd", "must be at most"),
        ({"cap_at_loss": "maybe"}, "cap_at_loss", "true or false"),
        ({"weight": "sqrt(loss_usd"}, "weight", "expected ')'"),
        ({"weight": "loss_eur"}, "weight", "unknown name 'loss_eur'"),
        ({"budget": "1"}, "budget", "not a what-if field"),
    ],
)
def test_bad_changes_name_the_field_and_the_value(form, field, message):
    with pytest.raises(ChangeError) as info:
        Changes.from_form(form)
    error = info.value
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert error.field == field
    assert error.value == next(iter(form.values()))
    assert field in str(error)
    assert message in str(error)


def test_form_text_is_parsed_and_blanks_mean_no_change():
    changes = Changes.from_form(
        {
            "min_loss_usd": " 75 ",
            "min_ratio": "0.25",
            "cap_at_loss": "off",
            "weight": "",
            "budget_usd": None,
        }
    )
    assert changes.min_loss_usd == Decimal("75.00")
    assert changes.min_ratio == Decimal("0.25")
    assert changes.cap_at_loss is False
    assert changes.weight is None
    assert changes.budget_usd is None
    assert changes.as_dict() == {"min_loss_usd": "75.00", "min_ratio": "0.25", "cap_at_loss": False}
    assert Changes().is_empty
    assert not changes.is_empty


def test_min_payout_above_max_payout_is_refused_against_the_published_values(population):
    with pytest.raises(ChangeError) as info:
        simulate(population, Changes(min_payout_usd=Decimal("7000")))
    assert info.value.field == "min_payout_usd"
    assert "$6,000.00" in str(info.value)
    with pytest.raises(ChangeError) as info:
        simulate(population, Changes(max_payout_usd=Decimal("3.99")))
    assert info.value.field == "max_payout_usd"


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(RunFolderError, match="not a run folder"):
        load(tmp_path)


def test_a_tampered_artifact_is_refused(small_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    with (copy / "allocations.parquet").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(RunFolderError, match="SHA-256 differs"):
        load(copy)


def test_the_population_is_read_only(population):
    with pytest.raises(ValueError, match="read-only"):
        population.loss_cents[0] = 1
    assert population.size == len(population.published_eligible) > 0
