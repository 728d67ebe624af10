"""Exported policies load with the project's loader and carry exactly the changes."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal

import pytest

from builders import PROGRAM
from recompense.policy import load_policy
from recompense.runs import read_manifest
from recompense.runs.policy import policy_from_manifest
from recompense.whatif import ChangeError, Changes, export_policy, policy_of_run


def test_export_applies_every_change_and_nothing_else(small_run, tmp_path):
    changes = Changes.from_form(
        {
            "min_loss_usd": "80",
            "min_ratio": "0.2",
            "min_payout_usd": "5",
            "max_payout_usd": "5000",
            "cap_at_loss": "false",
            "budget_usd": "120000.50",
            "weight": "sqrt(loss_usd)",
        }
    )
    path = tmp_path / "whatif.toml"
    path.write_text(export_policy(small_run, changes), encoding="utf-8")
    new, old = load_policy(path), policy_of_run(small_run)
    assert new.min_loss_cents == 8000
    assert new.eligibility.min_loss_ratio == Decimal("0.2")
    assert (new.min_payout_cents, new.max_payout_cents) == (500, 500_000)
    assert new.payout.cap_at_loss is False
    assert new.payout.weight == "sqrt(loss_usd)"
    assert new.budget_cents == 12_000_050
    untouched = ("window", "prices", "incidents", "distribution")
    assert all(getattr(new, key) == getattr(old, key) for key in untouched)
    assert new.program.model_dump(exclude={"budget_usd"}) == old.program.model_dump(
        exclude={"budget_usd"}
    )


def test_no_changes_exports_the_published_policy_with_its_budget(small_run):
    text = export_policy(small_run, Changes())
    manifest = read_manifest(small_run)
    assert tomllib.loads(text)["program"]["budget_usd"] == manifest["policy"]["budget_usd"]
    assert export_policy(PROGRAM, Changes()).count("[[incidents]]") == 2


def test_the_policy_is_rebuilt_from_the_manifest_when_its_file_changed(small_run, tmp_path):
    manifest = read_manifest(small_run)
    rebuilt = policy_from_manifest(manifest)
    original = load_policy(PROGRAM).with_budget(Decimal(manifest["policy"]["budget_usd"]))
    assert rebuilt.model_dump(exclude={"incidents"}) == original.model_dump(exclude={"incidents"})
    assert [i.id for i in rebuilt.incidents] == [i.id for i in original.incidents]
    moved = dict(manifest, policy=dict(manifest["policy"], path=str(tmp_path / "gone.toml")))
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps(moved), encoding="utf-8")
    assert policy_of_run(run) == rebuilt


def test_export_refuses_min_payout_above_max(small_run):
    with pytest.raises(ChangeError) as info:
        export_policy(small_run, Changes(max_payout_usd=Decimal("2")))
    assert info.value.field == "max_payout_usd"
