"""Every ``recompense`` command, fed adversarial arguments and policy files.

An operator's typo must never meet a traceback: whatever the arguments, a command exits
0 (it worked) or 2 (a message says what is wrong), or 1 where its ``--help`` documents
it (``reconcile``: differences; ``verify``: not valid). The commands are listed from the
app itself, so a new command is fuzzed without editing this file; each of its options
gets either a value that points at something real (a run folder, a ledger, a voucher, a
committed proof) or an adversarial one of its type — huge, negative, NaN and infinite
numbers, ids beyond int64, empty and unicode strings, paths that do not exist or are of
the wrong kind. Policy files are the programme file with one key (or a whole table)
replaced by a random TOML value of another type or an extreme one; ``check`` and
``run`` must agree: what ``check`` accepts, ``run`` runs.

In process (Typer's CliRunner) and bounded: ``derandomize``, a few examples per
command, no shrinking, so it takes seconds and repeats exactly. To dig deeper, run it
with ``RECOMPENSE_FUZZ_SCALE=10`` (ten times the examples, fresh ones each time) and
``RECOMPENSE_FUZZ_LOG=FILE`` (every invocation: exit code, seconds, argv, output tail).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import time as clock
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.testing
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from builders import PROGRAM, approve_twice
from recompense.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
LOAN_POLICY = ROOT / "programs" / "loans-2025-10.toml"
# Bounded for `make test`; RECOMPENSE_FUZZ_SCALE=20 fuzzes twenty times as deep.
SCALE = int(os.environ.get("RECOMPENSE_FUZZ_SCALE", "1"))
EXAMPLES = 12 * SCALE  # per command
POLICY_EXAMPLES = 200 * SCALE  # policy files through `check`
RUN_EXAMPLES = 12 * SCALE  # policy files through `run`
AM, CC = "account_manager:am7", "credit_committee:cc1"
SKIPPED = {"serve": "starts a web server and blocks until stopped"}
EXIT_ONE = {
    "reconcile",
    "verify",
    "audit verify",
    "audit export",
}  # documented: 1 = differences / not valid / broken chain
NUMBERS = [
    "0",
    "-1",
    "1e30",
    "-1e30",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    str(2**63),
    str(-(2**63) - 1),
    "99999999999999999999",
    "0.33333333333333",
    "1e-7",
    "1_000",
    "0x10",
    "١٢٣",
    "１２",
]
TEXTS = ["", " ", "ÿ", "\u202e", "💸", "a" * 300, "%s%n", "{0}", "-", "'; DROP TABLE x; --", "\t"]
DB_JUNK = [
    "",
    "sqlite://",
    "sqlite:////nonexistent/dir/x.db",
    "postgresql://127.0.0.1:1/x",
    "mysql://nobody@127.0.0.1:1/x",
    "not a url",
]
junk_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)


@dataclass
class Site:
    """Real things for arguments to point at: a dataset, a committed run, two ledgers."""

    root: Path
    data: Path
    run: Path
    policy: Path
    db: str  # distributed from ``run``
    empty_db: str  # migrated, no programme: notify finds nothing to send
    proof: Path
    voucher: str
    user: int
    applications: list[str] = field(default_factory=list)  # loan applications, drafts
    counter: Iterator[int] = field(default_factory=itertools.count)

    def fresh(self, name: str) -> str:
        """A path that does not exist yet (an output folder, an export file)."""
        return str(self.root / "fresh" / f"{name}-{next(self.counter)}")


@pytest.fixture(scope="module", autouse=True)
def built_once() -> Iterator[None]:
    """Typer rebuilds the whole Click command tree on every invoke (~0.1 s): build it once."""
    command = typer.main.get_command(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda _app: command)
        yield


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    from recompense.data.synth import generate
    from recompense.distribution.distribute import distribute
    from recompense.distribution.rows import voucher_id
    from recompense.ledger.db import upgrade
    from recompense.proofs import commit_run, proof_bundle
    from recompense.runs import execute_run, read_allocations

    root = tmp_path_factory.mktemp("fuzz")
    (root / "fresh").mkdir()
    data = root / "data"
    generate(2_000, 3, data)
    run = root / "run"
    execute_run(PROGRAM, data, run, budget_usd=Decimal(12_000))
    commit_run(run, workers=1, environ={})
    db, empty_db = f"sqlite:///{root / 'ledger.db'}", f"sqlite:///{root / 'empty.db'}"
    upgrade(db)
    upgrade(empty_db)
    approve_twice(run, db)
    distribute(run, db)
    user = int(read_allocations(run)["user_id"][0].as_py())
    proof = root / "proof.json"
    proof.write_text(json.dumps(proof_bundle(run, user, environ={})))
    voucher = voucher_id("together-2025-10", user)
    site = Site(root, data, run, PROGRAM, db, empty_db, proof, voucher, user)
    site.applications = [_draft_loan(site) for _ in range(3)]
    return site


def _draft_loan(site: Site) -> str:
    """A draft application of borrower 1001 (account manager am7), made with the CLI."""
    loans = ["--db", site.db, "--policy", str(LOAN_POLICY)]
    borrower = ["loans", "borrower", "1001", "--tier", "institutional", "--manager", "am7"]
    runner, env = CliRunner(), environment(site)
    assert runner.invoke(app, [*borrower, "--as", CC, *loans], env=env).exit_code == 0
    draft = runner.invoke(
        app,
        ["loans", "apply", "--borrower", "1001", "--amount", "2500000", "--term-days", "360",
         "--repayment", "bullet", "--statements", str(PROGRAM), "--losses", "3100000",
         "--as", AM, "--json", *loans],
        env=env,
    )  # fmt: skip
    assert draft.exit_code == 0, draft.output
    return str(json.loads(draft.stdout)["id"])


def commands() -> list[tuple[str, ...]]:
    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            yield path
            return
        for name, sub in subcommands.items():
            yield from walk(sub, (*path, name))

    return [p for p in walk(typer.main.get_command(app), ()) if p[0] not in SKIPPED]


def command_of(path: tuple[str, ...]) -> Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def test_the_fuzz_covers_every_command_but_the_server():
    found = {" ".join(p) for p in commands()}
    assert {"run", "explain", "check", "whatif", "distribute", "reconcile", "verify"} <= found
    assert {"loans apply", "loans repay", "db upgrade", "token"} <= found
    assert "serve" not in found


def good_values(site: Site, path: tuple[str, ...], name: str) -> list[str]:
    """Values of option ``name`` that point at something real, for command ``path``."""
    command = " ".join(path)
    user = str(site.user)
    by_command: dict[tuple[str, str], list[str]] = {
        ("run", "program"): [str(site.policy)],
        ("check", "program"): [str(site.policy)],
        ("status", "program"): ["together-2025-10"],
        ("expire", "program"): ["together-2025-10"],
        ("notify", "db"): [site.empty_db],  # nothing to send: no network, no waiting
        ("synth", "users"): ["50"],
        ("token", "role"): ["user", "ops", "auditor"],
        ("loans new-key", "id"): ["k2"],
        ("approve", "actor"): ["ops:fuzz-1", "ops:fuzz-2"],
    }
    if (command, name) in by_command:
        return by_command[(command, name)]
    common: dict[str, list[str]] = {
        "run_dir": [str(site.run)],
        "data": [str(site.data)],
        "db": [site.db],
        "user_id": [user, "0", "1"],
        "borrower_id": ["1001"],
        "voucher": [site.voucher],
        "commitment": [str(site.run / "commitment.json")],
        "proof_file": [str(site.proof)],
        "budget_usd": ["12000", "1000000000000"],
        "min_loss_usd": ["100"],
        "min_ratio": ["0.25", "0.333333"],
        "min_payout_usd": ["5"],
        "max_payout_usd": ["5000"],
        "formula": ["sqrt(loss_usd)"],
        "policy": [str(LOAN_POLICY)],
        "actor": [CC, "credit_committee:cc2", AM, "auditor:aud1"],
        "app_id": site.applications,
        "application": site.applications,
        "reference": ["SWIFT-1"],
        "statements": [str(PROGRAM)],
        "amount": ["2500000"],
        "losses": ["3100000"],
        "term_days": ["360"],
        "repayment": ["bullet", "instalments"],
        "tier": ["vip", "institutional", "regular"],
        "manager": ["am7"],
        "on": ["2025-11-01"],
        "through": ["2025-11-01"],
        "since": ["2025-11-01"],
    }
    return common.get(name, [])


def junk_values(site: Site, param: Any) -> list[str]:
    """Adversarial values of the parameter's type (every value also as plain text)."""
    kind = param.bare_type()  # Typer's names: 'int', 'Path', …
    values = list(TEXTS)
    if kind in ("int", "float"):
        values += NUMBERS
    if kind == "Path" or param.name in ("db", "program", "commitment"):
        values += [
            "/nonexistent/recompense",
            ".",
            "/dev/null",
            str(site.policy / "below-a-file"),
            str(site.data),  # a folder where a file is expected
            str(site.policy),  # a file where a folder is expected
            str(site.run),  # exists: an output folder must not
            str(site.run / "manifest.json"),
        ]
    if param.name == "db":
        values += DB_JUNK
    return values


def argument_lists(site: Site, path: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    """argv for ``path``: a valid call with up to two parameters made adversarial.

    Starting from a call that works reaches the code behind the parser (no junk would
    get past ``--run`` otherwise); a parameter with no real value is always adversarial.
    """
    params = [p for p in command_of(path).params if p.name != "once"]  # --loop never ends
    choices = [(_good(site, path, p), _adversarial(site, p)) for p in params]
    extra = st.lists(st.sampled_from(["--bogus", "extra", "--json", "--"]), max_size=1)

    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        bad = draw(st.sets(st.sampled_from(range(len(params))), max_size=2)) if params else set()
        argv = list(path)
        for i, (good, adversarial) in enumerate(choices):
            argv += draw(adversarial if i in bad or good is None else good)
        return argv + draw(extra)

    return build()


def _good(site: Site, path: tuple[str, ...], param: Any) -> Any:
    """argv pieces that make ``param`` valid, or None when nothing real fits it."""
    name = param.name or ""
    if _is_flag(param):
        return st.sampled_from([[], [param.opts[0]]])
    if name in ("out_dir", "export_to"):
        values: Any = st.builds(lambda: site.fresh(name))
    elif good := good_values(site, path, name):
        values = st.sampled_from(good)
    elif not param.required:
        return st.just([])
    else:
        return None
    return values.map(lambda v: _argv(param, v))


def _adversarial(site: Site, param: Any) -> Any:
    if _is_flag(param):
        return st.just([param.opts[0]])
    values = st.one_of(st.sampled_from(junk_values(site, param)), junk_text)
    return values.map(lambda v: _argv(param, v))


def _is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False))


def _argv(param: Any, value: str) -> list[str]:
    """An argument as itself; an option as ``--name value`` (Typer vendors Click, so
    the kind is read from ``param_type_name``, not from Click's classes)."""
    return [value] if param.param_type_name == "argument" else [param.opts[0], value]


BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=SCALE == 1,  # deeper runs explore new ground each time
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def environment(site: Site) -> dict[str, str]:
    import base64

    key = base64.b64encode(bytes(range(32))).decode()
    return {
        "RECOMPENSE_JWT_SECRET": "fuzz-secret-" + "x" * 32,
        "RECOMPENSE_LOANS_KEYS": f"k1:{key}",
        "RECOMPENSE_LOANS_ACTIVE_KEY": "k1",
        "COLUMNS": "120",
        # An engine that needs more fails with a message (exit 3, caught) instead of
        # taking the machine's memory with it.
        "RECOMPENSE_DUCKDB_MEMORY_LIMIT": "1GB",
    }


# Crashes the fuzz found outside the CLI, fixed at their cause: a path component longer
# than the file system allows (ENAMETOOLONG) used to escape as OSError.
# test_path_names_too_long_are_refused keeps them fixed; the fuzz judges them too.
LONG_NAMES = (("run", "--out"), ("run", "--data"), ("check", "--data"))
NAME_MAX = 255


def invoke(site: Site, args: list[str]) -> str | None:
    """None if the command behaved, else what went wrong (with the argv to reproduce)."""
    started = clock.perf_counter()
    result = CliRunner().invoke(app, args, env=environment(site))
    command = args[0] if args[0] in EXIT_ONE else " ".join(args[:2])
    allowed = {0, 2} | ({1} if command in EXIT_ONE else set())
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    if os.environ.get("RECOMPENSE_FUZZ_LOG"):
        with open(os.environ["RECOMPENSE_FUZZ_LOG"], "a", encoding="utf-8") as log:
            log.write(
                f"{result.exit_code}\t{clock.perf_counter() - started:.2f}\t{args!r}\t{result.output[-200:]!r}\n"
            )
    if crashed or result.exit_code not in allowed or "Traceback" in result.output:
        return f"{args!r} exited {result.exit_code}: {result.exception!r} {result.output[-500:]}"
    return None


@pytest.mark.parametrize("path", commands(), ids=" ".join)
def test_adversarial_arguments_exit_0_or_2_with_a_message(site, path, monkeypatch):
    monkeypatch.chdir(site.root / "fresh")  # relative junk paths land in the sandbox
    failures: list[str] = []

    @BOUNDED
    @given(argument_lists(site, path))
    def check(args: list[str]) -> None:
        problem = invoke(site, args)
        if problem:
            failures.append(problem)

    check()
    assert not failures, "\n".join(failures[:5])


@pytest.mark.parametrize(("command", "option"), LONG_NAMES)
def test_path_names_too_long_are_refused(site, command, option, monkeypatch):
    monkeypatch.chdir(site.root / "fresh")
    args = {
        "run": ["run", "--program", str(PROGRAM), "--data", str(site.data), "--out", "x"],
        "check": ["check", "--program", str(PROGRAM), "--data", str(site.data)],
    }[command]
    args[args.index(option) + 1] = "a" * (NAME_MAX + 1)
    result = CliRunner().invoke(app, args, env=environment(site))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 2
    assert "File name too long" in result.output


# ---------------------------------------------------------------- policy files


def toml_values() -> st.SearchStrategy[Any]:
    """Random TOML values of every type, extreme ones over-represented."""
    scalars = st.one_of(
        st.sampled_from([0, -1, 2**63 - 1, -(2**63), 10**30, True, False]),
        st.integers(),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -0.0, 5e-324, 0.3]),
        st.floats(),
        st.sampled_from(NUMBERS + TEXTS + ["0." + "3" * 40, "1e999999999"]),
        junk_text,
        st.sampled_from(
            [
                datetime(1, 1, 1, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                datetime(2025, 10, 10, 12, tzinfo=timezone(timedelta(hours=-23, minutes=-59))),
                datetime(2025, 10, 10),  # a local date-time: naive
                date(2025, 10, 10),
                time(12, 30),
            ]
        ),
        st.datetimes(timezones=st.just(UTC)),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.sampled_from(["id", "start", "x"]), scalars, max_size=2),
    )


# Values `check` should accept, at the edges of their documented ranges (docs/policy.md),
# or that are valid but make the run's arithmetic extreme.
EDGES: dict[tuple[Any, ...], list[Any]] = {
    ("program", "budget_usd"): ["1000000000000", "1000000000000.00", "0.01", 10**12],
    ("program", "name"): ["ÿ" * 2000, "\u202e<script>alert(1)</script>"],
    ("program", "snapshot_at"): [datetime(1970, 1, 1, tzinfo=UTC)],
    ("program", "announced_at"): [datetime(2099, 12, 31, 23, 59, tzinfo=UTC)],
    # 31 days is the longest window; 74 years once ran the machine out of memory.
    ("window", "end"): [datetime(2025, 11, 10, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC)],
    ("eligibility", "min_loss_usd"): ["0", "1000000000000"],
    ("eligibility", "min_loss_ratio"): ["0", "9.999999", "0.000001", "0.333333", 10, "1e-6"],
    ("eligibility", "products"): [["usdm_futures"]],
    ("eligibility", "excluding_programs"): [[], ["", "ÿ", "depeg-2025-10"]],
    ("payout", "min_usd"): ["0", "10000000", "6000"],
    ("payout", "max_usd"): ["0.01", "10000000", "4.00"],
    ("payout", "cap_at_loss"): [False],
    ("payout", "weight"): [
        "0",
        "1e308 * loss_usd",
        "loss_usd ^ 1000",
        "1e-300 * loss_usd",
        "vip_tier",
        "log1p(net_assets_usd)",
        "sqrt(net_assets_usd)",
        "loss_usd / 0",
        "1e308 * 1e308",
    ],
    ("prices", "staleness_minutes"): [0, 1440],
    ("distribution", "start_within_hours"): [87_600],
    ("distribution", "complete_within_hours"): [87_600],
    ("distribution", "voucher_validity_days"): [3_650],
    ("incidents",): [[]],
}


def edge_values(where: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(EDGES[where]) if where in EDGES else toml_values()


@st.composite
def policy_files(draw: st.DrawFn, *, edges: bool = False) -> str:
    """The programme file with one to three keys (or whole tables) replaced: by random
    TOML values, or (``edges``) mostly by valid values at the edges of their ranges."""
    data = tomllib.loads(PROGRAM.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        keys = [(s,) for s in data] + [
            (s, k) for s, table in data.items() if isinstance(table, dict) for k in table
        ]
        keys += [("incidents", 0, k) for k in ("id", "start", "end", "description")]
        where = draw(st.sampled_from(sorted(EDGES, key=str) if edges else keys))
        value = draw(edge_values(where) if edges else toml_values())
        target: Any = data
        try:
            for part in where[:-1]:
                target = target[part]
            target[where[-1]] = value
        except (KeyError, IndexError, TypeError):
            data[where[0]] = value
    return dump_toml(data)


def dump_toml(data: dict[str, Any]) -> str:
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {
        k: v
        for k, v in data.items()
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
    }
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if k not in tables | arrays]
    for name, table in tables.items():
        lines += [f"[{_key(name)}]", *(f"{_key(k)} = {_value(v)}" for k, v in table.items())]
    for name, rows in arrays.items():
        for row in rows:
            lines += [f"[[{_key(name)}]]", *(f"{_key(k)} = {_value(v)}" for k, v in row.items())]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: printable ASCII as is, everything else escaped by code point."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            point = ord(char)
            out.append(f"\\u{point:04X}" if point <= 0xFFFF else f"\\U{point:08X}")
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)  # pragma: no cover


def test_the_toml_writer_round_trips_the_programme():
    data = tomllib.loads(PROGRAM.read_text(encoding="utf-8"))
    assert tomllib.loads(dump_toml(data)) == data


@settings(max_examples=50, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"])))
def test_the_toml_writer_round_trips_any_string(text):
    assert tomllib.loads(dump_toml({"k": text, text or "x": 1})) == {"k": text, text or "x": 1}


def test_adversarial_policy_files_are_checked_with_a_message(site, tmp_path):
    failures: list[str] = []

    @settings(BOUNDED, max_examples=POLICY_EXAMPLES)
    @given(policy_files())
    def check(text: str) -> None:
        policy = tmp_path / "policy.toml"
        policy.write_text(text, encoding="utf-8")
        problem = invoke(site, ["check", "--program", str(policy)])
        if problem:
            failures.append(problem + "\n" + text)

    check()
    assert not failures, "\n".join(failures[:3])


def test_what_check_accepts_runs(site, tmp_path):
    """``run`` exits 0 or 2 on adversarial policies, and 0 (or a data/budget message)
    whenever ``check`` accepted the file: no accepted value overflows later."""
    failures: list[str] = []

    @settings(BOUNDED, max_examples=RUN_EXAMPLES)
    @given(st.one_of(policy_files(edges=True), policy_files()))
    def check(text: str) -> None:
        policy = tmp_path / "policy.toml"
        policy.write_text(text, encoding="utf-8")
        args = ["run", "--program", str(policy), "--data", str(site.data)]
        problem = invoke(site, [*args, "--out", site.fresh("run"), "--json"])
        if problem:
            failures.append(problem + "\n" + text)

    check()
    assert not failures, "\n".join(failures[:3])
