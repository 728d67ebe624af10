"""Schemathesis against the service's own OpenAPI schema, as each role (SQLite and PostgreSQL).

Every operation of ``/api/openapi.json`` gets generated requests, half of them aimed at
real resources (the programme, a user who has a voucher, that voucher) so the success
answers are exercised too, not only the 404s of made-up ids. Each answer must not be a
server error, must match the response schema declared for its status, and its status
must be one the schema declares. Bounded and repeatable: ``derandomize``, a few examples
per operation, no shrinking; the failures of all operations are reported together.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from browser_support import fresh_ledger
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from web_support import settings_for

from builders import approve_twice
from recompense.distribution.distribute import distribute, voucher_id
from recompense.web.app import create_app

with warnings.catch_warnings():
    # Schemathesis's ASGI transport imports Starlette's test client, which warns that
    # it prefers the httpx2 package (httpx is what is installed, and works).
    warnings.simplefilter("ignore")
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.python import asgi  # noqa: F401  (the import that warns)
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

PROGRAM = "together-2025-10"
EXAMPLES = 12  # per operation and role, shared by the three kinds of request
ROLES = ("user", "ops", "auditor")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# Requests fuzzing once found answering outside the schema, kept as fixed examples.
WHATIF = ("/api/programs/{program_id}/whatif", "/api/programs/{program_id}/whatif/policy")


@dataclass
class Target:
    schema: Any
    app: Any
    owner: int
    token: Callable[[str], str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(request, web_run, rsa_keys, tmp_path_factory) -> Target:
    from recompense.web.auth import mint_token

    url = fresh_ledger(request.param, tmp_path_factory.mktemp("fuzz"), request)
    approve_twice(web_run, url)
    distribute(web_run, url, batch_size=500)
    config = settings_for(url, rsa_keys)
    app = create_app(config)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    owner = _owner(web_run)

    def token(role: str) -> str:
        return mint_token(config, role=role, user_id=owner if role == "user" else None)

    return Target(schema, app, owner, token)


def _owner(run: Any) -> int:
    import pyarrow.parquet as pq

    table = pq.read_table(run / "allocations.parquet", columns=["user_id"])
    return int(min(table["user_id"].to_pylist()))


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_to_the_schema(target: Target, role: str) -> None:
    """No 5xx; each answer's status is declared, and its body matches that status's schema."""
    succeeded: set[str] = set()
    failing = _failures(target, role, CHECKS, succeeded)
    assert not failing, _report(failing, role)
    # The real resources were reached, not only the 404s of generated ids.
    assert len(succeeded) >= 13, sorted(succeeded)


@pytest.mark.parametrize("path", WHATIF)
def test_a_refused_what_if_answers_the_declared_422(target: Target, path: str) -> None:
    """A change the simulator refuses (not a ratio) is a 422 in the declared shape."""
    case = target.schema[path]["POST"].Case(
        path_parameters={"program_id": PROGRAM}, body={"min_ratio": "abc"}
    )
    headers = {"Authorization": f"Bearer {target.token('ops')}"}
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    assert response.status_code == 422
    assert response.json()["field"] == "min_ratio"
    assert "abc" not in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/hub?redeemed=a%00b", "user"),
        ("GET", "/api/vouchers/a%00b", "user"),
        ("GET", "/api/vouchers/a%00b", "ops"),
        ("POST", "/api/vouchers/a%00b/redeem", "user"),
    ],
)
def test_a_voucher_id_with_a_nul_is_not_a_server_error(
    target: Target, method: str, path: str, role: str
) -> None:
    """Fuzzing found these reaching PostgreSQL, which refuses a NUL in text (500)."""
    from starlette.testclient import TestClient

    headers = {"Authorization": f"Bearer {target.token(role)}"}
    with TestClient(target.app, raise_server_exceptions=False) as client:
        answer = client.request(method, path, headers=headers)
    assert answer.status_code in (404, 422), answer.text


def _failures(target: Target, role: str, checks: list[Any], succeeded: set[str]) -> dict[str, str]:
    """Operation label -> its first failing request, over every operation of the schema."""
    headers = {"Authorization": f"Bearer {target.token(role)}"}
    real = {
        "program_id": PROGRAM,
        "user_id": target.owner,
        "voucher_id": voucher_id(PROGRAM, target.owner),
    }
    operations = [result.ok() for result in target.schema.get_all_operations()]
    assert len(operations) >= 20  # the whole service, not an empty schema
    failing = {}
    for operation in operations:
        failure = _fuzz(operation, headers, real, checks, succeeded)
        if failure:
            failing[operation.label] = failure
    return failing


def _report(failing: dict[str, str], role: str) -> str:
    lines = [f"{op}: {why}" for op, why in sorted(failing.items())]
    return f"{len(failing)} operations broke the schema as {role}:\n" + "\n".join(lines)


def _fuzz(
    operation: Any,
    headers: dict[str, str],
    real: dict[str, Any],
    checks: list[Any],
    succeeded: set[str],
) -> str | None:
    """None if every generated request passed ``checks``, else the first failure.

    Three kinds of request: valid ones at the real resources, valid ones at generated
    ids, and invalid ones (negative mode) where the operation takes any input.
    """
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in real.items() if k in names}
    kinds = [operation.as_strategy()]
    if fixed:
        kinds.insert(0, operation.as_strategy(path_parameters=fixed))
    if _takes_input(operation):
        kinds.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    cases = st.one_of(*kinds)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't minimise
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=checks)
        if response.status_code < 400:
            succeeded.add(operation.label)

    try:
        run()
    except (Exception, FailureGroup) as exc:  # collected and reported per operation
        return _short(exc)
    return None


def _takes_input(operation: Any) -> bool:
    parameters = operation.definition.raw.get("parameters", [])
    return bool(parameters) or "requestBody" in operation.definition.raw


def _short(exc: BaseException) -> str:
    """The failure's title, what was received, and the request that reproduces it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    keep = [
        line
        for line in lines
        if line.startswith(("- ", "Received", "Documented", "curl", "[", "Server error"))
    ]
    return " | ".join(keep[:8]) or " ".join(lines)[:500]
