"""Export a what-if as a new programme file (TOML) that ``load_policy`` accepts.

The starting policy is the published run's own file when it is still where the run
read it and its SHA-256 matches the manifest; otherwise it is rebuilt from the
manifest's parameters (only the incidents' free-text descriptions are then lost).
The published run is never modified: the caller decides where the text goes.

Exported from a run (its folder or its loaded :class:`Population`), the changes are
first simulated on that run's users, with the engine's rules: what the engine would
refuse on the same data (a formula giving an eligible user a NULL or negative weight,
minimum payouts above the budget) is refused here, naming the field, rather than by
the new run later. A policy file or a ``Policy`` has no users to check against.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from recompense.policy import Policy, load_policy, validate_policy
from recompense.runs.policy import policy_of_run
from recompense.whatif.changes import Changes, Settings
from recompense.whatif.population import Population, load
from recompense.whatif.simulate import payouts

SECTIONS = (
    "program",
    "window",
    "eligibility",
    "payout",
    "prices",
    "distribution",
    "cases",
    "amendments",
)


def export_policy(source: Path | Policy | Population, changes: Changes) -> str:
    """A programme file: ``source``'s policy (a run folder, a policy file or a Policy)
    with ``changes`` applied. The text is checked to load back to the same policy;
    from a run, the changes are checked to be payable on its users (module docstring)."""
    policy = _policy_of(source)
    changes.apply(_settings(policy))  # cross-field checks, with the field named
    population = _population_of(source)
    if population is not None:
        payouts(population, changes)  # raises ChangeError where the engine would refuse
    data = policy.model_dump()
    _set(data, "program", "budget_usd", changes.budget_usd)
    _set(data, "eligibility", "min_loss_usd", changes.min_loss_usd)
    _set(data, "eligibility", "min_loss_ratio", changes.min_ratio)
    _set(data, "payout", "min_usd", changes.min_payout_usd)
    _set(data, "payout", "max_usd", changes.max_payout_usd)
    _set(data, "payout", "cap_at_loss", changes.cap_at_loss)
    _set(data, "payout", "weight", changes.weight)
    changed = validate_policy(data, source="what-if")
    text = _header(source, changes) + to_toml(changed.model_dump())
    if validate_policy(tomllib.loads(text), source="exported policy") != changed:
        raise AssertionError("exported policy does not load back to itself")  # pragma: no cover
    return text


def to_toml(data: dict[str, Any]) -> str:
    """A policy's ``model_dump()`` as TOML: amounts and ratios as exact strings."""
    lines: list[str] = []
    for section in SECTIONS:
        if section == "distribution":
            for incident in data.get("incidents", ()):
                lines += ["", "[[incidents]]", *_pairs(incident)]
        lines += ["", f"[{section}]", *_pairs(data[section])]
    return "\n".join(lines).lstrip("\n") + "\n"


def _policy_of(source: Path | Policy | Population) -> Policy:
    if isinstance(source, Policy):
        return source
    if isinstance(source, Population):
        return policy_of_run(source.run)
    return policy_of_run(source) if source.is_dir() else load_policy(source)


def _population_of(source: Path | Policy | Population) -> Population | None:
    if isinstance(source, Population):
        return source
    return load(source) if isinstance(source, Path) and source.is_dir() else None


def _settings(policy: Policy) -> Settings:
    return Settings(
        min_loss_cents=policy.min_loss_cents,
        min_ratio=policy.eligibility.min_loss_ratio,
        min_payout_cents=policy.min_payout_cents,
        max_payout_cents=policy.max_payout_cents,
        cap_at_loss=policy.payout.cap_at_loss,
        budget_cents=policy.budget_cents,
        weight=policy.payout.weight,
    )


def _set(data: dict[str, Any], section: str, key: str, value: Any) -> None:
    if value is not None:
        data[section][key] = str(value) if isinstance(value, Decimal) else value


def _header(source: Path | Policy | Population, changes: Changes) -> str:
    origin = source.run if isinstance(source, Population) else source
    named = "a policy" if isinstance(origin, Policy) else str(origin)
    shown = ", ".join(f"{k} = {v}" for k, v in changes.as_dict().items()) or "none"
    return (
        f"# Exported by `recompense whatif` from {named}.\n"
        f"# Changes: {shown}. See docs/policy.md for every key.\n\n"
    )


def _pairs(table: dict[str, Any]) -> list[str]:
    return [f"{key} = {_value(value)}" for key, value in table.items()]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | str):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")  # pragma: no cover
