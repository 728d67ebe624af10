"""The policy a published run used, from its folder: its file if unchanged, else its manifest.

Readers that recompute something for a finished run (the what-if, amendment runs) start
from exactly the policy the run used, including a ``--budget-usd`` override.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from recompense.money import cents_to_decimal
from recompense.policy import (
    Policy,
    load_policy,
    load_programme,
    validate_policy,
    validate_programme,
)
from recompense.policy.full import FullPolicy
from recompense.runs.artifacts import sha256_file
from recompense.runs.errors import RunFolderError
from recompense.runs.folder import read_manifest
from recompense.runs.full import full_policy_data, is_full

__all__ = ["full_policy_of_run", "policy_from_manifest", "policy_of_run"]


def policy_of_run(run: Path) -> Policy:
    """The policy a published run used (its file if unchanged, else its manifest).

    A shared-budget programme's: a full-payment run is refused (:func:`full_policy_of_run`).
    """
    manifest = read_manifest(run)
    if is_full(manifest):
        raise RunFolderError(
            f"{run}: a full-payment programme's run ({manifest['program']['id']}); this "
            "reads shared-budget runs only (what-if simulations, case corrections)"
        )
    recorded = manifest["policy"]
    path = Path(recorded.get("path", ""))
    if path.is_file() and sha256_file(path) == recorded.get("sha256"):
        policy = load_policy(path)
    else:
        policy = policy_from_manifest(manifest)
    budget = Decimal(recorded["budget_usd"])
    return policy if budget == policy.program.budget_usd else policy.with_budget(budget)


def full_policy_of_run(run: Path) -> FullPolicy:
    """The policy a full-payment run used (its file if unchanged, else its manifest)."""
    manifest = read_manifest(run)
    if not is_full(manifest):
        raise RunFolderError(f"{run}: not a full-payment programme's run")
    recorded = manifest["policy"]
    path = Path(recorded.get("path", ""))
    if path.is_file() and sha256_file(path) == recorded.get("sha256"):
        policy = load_programme(path)
    else:
        policy = validate_programme(full_policy_data(manifest), source="manifest.json")
    if not isinstance(policy, FullPolicy):  # pragma: no cover - the manifest says full
        raise RunFolderError(f"{run}: its policy is not a full-payment programme's")
    budget = recorded.get("budget_usd")
    if budget is None or Decimal(budget) == policy.program.budget_usd:
        return policy
    return policy.with_budget(Decimal(budget))


def policy_from_manifest(manifest: dict[str, Any]) -> Policy:
    """Rebuild a run's policy from its manifest alone (incident descriptions are empty)."""
    program, params = manifest["program"], manifest["policy"]["parameters"]
    window = params["window"]
    data = {
        "program": {
            "id": program["id"],
            "name": program["name"],
            "currency": program["currency"],
            "budget_usd": manifest["policy"]["budget_usd"],
            "announced_at": program["announced_at"],
            "snapshot_at": params["snapshot_at"],
        },
        "window": {"start": window[0], "end": window[1]},
        "eligibility": {
            "products": params["products"],
            "min_loss_usd": str(cents_to_decimal(params["min_loss_cents"])),
            "min_loss_ratio": params["min_loss_ratio"],
            "excluding_programs": params["excluding_programs"],
        },
        "payout": {
            "min_usd": str(cents_to_decimal(params["min_payout_cents"])),
            "max_usd": str(cents_to_decimal(params["max_payout_cents"])),
            "cap_at_loss": params["cap_at_loss"],
            "weight": params["weight"],
        },
        "prices": {"staleness_minutes": params["staleness_minutes"]},
        "incidents": params["incidents"],
        "distribution": params["distribution"],
    }
    # Runs made before cases and amendments existed have neither: the defaults apply.
    if "cases" in params:
        cases = params["cases"]
        data["cases"] = {
            "decision_target_hours": cases["decision_target_hours"],
            "four_eyes_above_usd": str(cents_to_decimal(cases["four_eyes_above_cents"])),
        }
    if "amendments" in params:
        amendments = params["amendments"]
        data["amendments"] = {
            "reserve_usd": str(cents_to_decimal(amendments["reserve_cents"])),
            "when_short": amendments["when_short"],
        }
    return validate_policy(data, source="manifest.json")
