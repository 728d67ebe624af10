"""The policy a published run used, from its folder: its file if unchanged, else its manifest.

Readers that recompute something for a finished run (the what-if, amendment runs) start
from exactly the policy the run used, including a ``--budget-usd`` override.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from recompense.money import cents_to_decimal
from recompense.policy import Policy, load_policy, validate_policy
from recompense.runs.artifacts import sha256_file
from recompense.runs.folder import read_manifest

__all__ = ["policy_from_manifest", "policy_of_run"]


def policy_of_run(run: Path) -> Policy:
    """The policy a published run used (its file if unchanged, else its manifest)."""
    manifest = read_manifest(run)
    recorded = manifest["policy"]
    path = Path(recorded.get("path", ""))
    if path.is_file() and sha256_file(path) == recorded.get("sha256"):
        policy = load_policy(path)
    else:
        policy = policy_from_manifest(manifest)
    budget = Decimal(recorded["budget_usd"])
    return policy if budget == policy.program.budget_usd else policy.with_budget(budget)


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
