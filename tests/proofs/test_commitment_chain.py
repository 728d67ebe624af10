"""Proofs across amendments: the chain of commitments, cumulative proofs, what changed.

Amendment folders are written by hand (``amendment_runs.amend``) as ``recompense amend``
writes them; the OpenZeppelin check reuses the real JS library of
``test_openzeppelin_compat``.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from amendment_runs import amend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proof_runs import KEY, hand_made_run
from test_openzeppelin_compat import library, run_library  # noqa: F401 (a fixture)
from typer.testing import CliRunner

from recompense.cli.main import app
from recompense.proofs import Prover, commit_run, proof_bundle, read_commitment
from recompense.proofs.amendments import check_chain, walk
from recompense.proofs.errors import CommitError
from recompense.proofs.publication import load_signing_key, new_key_pair
from recompense.proofs.verify import chain_sha256, verify_chain, verify_chain_proof
from recompense.runs import read_allocations, read_manifest, run_fingerprint

ENV = {"RECOMPENSE_COMMITMENT_KEY": KEY}
USERS = [3, 10, 11, 40, 41, 42, 500]
AMOUNTS = [300, 1_000, 0, 4_000, 4_100, 4_200, 50_000]


def cli(*args: str, env: dict[str, str | None] | None = None):
    return CliRunner().invoke(
        app, list(args), env={"RECOMPENSE_COMMITMENT_KEY": None, **(env or {})}
    )


@pytest.fixture
def chain_runs(tmp_path):
    """A committed base and two committed amendments: 10 corrected, 77 added, then 40."""
    base = hand_made_run(tmp_path / "base", USERS, AMOUNTS)
    commit_run(base, environ=ENV)
    first = amend(base, tmp_path / "a1", {10: 2_234, 77: 700})
    commit_run(first, environ=ENV)
    second = amend(first, tmp_path / "a2", {40: 4_500})
    commit_run(second, environ=ENV)
    return base, first, second


def test_an_amendment_names_the_commitment_it_amends(chain_runs):
    base, first, second = chain_runs
    c0, c1, c2 = (read_commitment(run) for run in chain_runs)
    assert c2["previous"] == {
        "commitment_sha256": chain_sha256(c1),
        "manifest_sha256": run_fingerprint(first),
        "sequence": 1,
    }
    assert c2["amendment"] == {"sequence": 2, "base_manifest_sha256": run_fingerprint(base)}
    assert c1["previous"]["commitment_sha256"] == chain_sha256(c0)
    assert "previous" not in c0
    assert c2["program_id"] == c0["program_id"]
    assert c2["total_cents"] == read_manifest(second)["allocated_cents"]


def test_a_base_commitment_is_what_it_was_before_amendments(tmp_path):
    first = hand_made_run(tmp_path / "one", USERS, AMOUNTS)
    again = hand_made_run(tmp_path / "two", USERS, AMOUNTS)
    commit_run(first, environ=ENV)
    amended = amend(first, tmp_path / "a1", {10: 5_000})
    commit_run(amended, environ=ENV)
    commit_run(again, environ=ENV)
    assert (first / "commitment.json").read_bytes() == (again / "commitment.json").read_bytes()


def test_the_chain_is_walked_from_an_amendment_to_its_base(chain_runs):
    report = check_chain(chain_runs[2])
    assert report.ok, report.verdict.failure
    assert [link.sequence for link in report.links] == [0, 1, 2]
    assert [link.run for link in report.links] == list(chain_runs)
    assert report.verdict.passed[2].startswith("amendment 2: names amendment 1")


def test_the_chain_command_reports_each_link_as_json(chain_runs):
    result = cli("chain", "--run", str(chain_runs[2]), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"]
    assert [link["sequence"] for link in report["links"]] == [0, 1, 2]
    assert report["links"][1]["total_cents"] == sum(AMOUNTS) + 1_234 + 700


def _tampered(chain, edit):
    chain = copy.deepcopy(chain)
    edit(chain)
    return chain


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            lambda c: c[2]["previous"].update(commitment_sha256="ab" * 32),
            "amendment 2: previous commitment_sha256",
        ),
        (lambda c: c[1]["amendment"].update(sequence=2), "amendment 1: its sequence is 2"),
        (lambda c: c[2]["previous"].update(sequence=0), "amendment 2: previous sequence is 0"),
        (lambda c: c.__setitem__(slice(1, 3), [c[2], c[1]]), "amendment 1: its sequence is 2"),
        (
            lambda c: c[0].update(total_cents=c[0]["total_cents"] + 1),
            "amendment 1: previous commitment_sha256",
        ),
        (
            lambda c: c[1]["amendment"].update(base_manifest_sha256="cd" * 32),
            "amendment 1: base manifest",
        ),
        (
            lambda c: c[1]["sum_tree"].update(root="00" * 32),
            "amendment 2: previous commitment_sha256",
        ),
    ],
    ids=[
        "previous-hash",
        "sequence",
        "previous-sequence",
        "reordered",
        "base-edited",
        "other-base",
        "swapped",
    ],
)
def test_a_broken_link_fails_and_is_named(chain_runs, edit, named):
    chain = [read_commitment(run) for run in chain_runs]
    verdict = verify_chain(_tampered(chain, edit))
    assert not verdict.ok
    assert verdict.failure.startswith(named), verdict.failure


def test_a_swapped_commitment_on_disk_breaks_the_chain_command(chain_runs, tmp_path):
    other = hand_made_run(tmp_path / "other", USERS, [a + 1 for a in AMOUNTS])
    commit_run(other, environ=ENV)
    shutil.copy(other / "commitment.json", chain_runs[0] / "commitment.json")
    result = cli("chain", "--run", str(chain_runs[2]))
    assert result.exit_code == 1
    assert "BROKEN: amendment 1: base manifest" in result.stdout


def test_a_signature_added_later_keeps_the_chain(chain_runs, tmp_path):
    pair = new_key_pair(tmp_path / "keys")
    signing = load_signing_key(pair.private_path)
    for run in chain_runs:
        assert commit_run(run, environ=ENV, signing_key=signing).signed_now
    report = check_chain(chain_runs[2], signing.public)
    assert report.ok, report.verdict.failure
    result = cli("chain", "--run", str(chain_runs[2]), "--public-key", str(pair.public_path))
    assert result.exit_code == 0, result.output


def test_an_unsigned_link_fails_the_chain_when_a_key_is_asked_for(chain_runs, tmp_path):
    pair = new_key_pair(tmp_path / "keys")
    commit_run(chain_runs[2], environ=ENV, signing_key=load_signing_key(pair.private_path))
    result = cli("chain", "--run", str(chain_runs[2]), "--public-key", str(pair.public_path))
    assert result.exit_code == 1
    assert "not signed by the programme's key" in result.stdout


def test_an_amendment_is_not_committed_before_the_run_it_amends(tmp_path):
    base = hand_made_run(tmp_path / "base", USERS, AMOUNTS)
    first = amend(base, tmp_path / "a1", {10: 2_000})
    result = cli("commit", "--run", str(first), env=ENV)
    assert result.exit_code == 2
    assert f"recompense commit --run {base}" in result.output
    assert not (first / "commitment.json").exists()
    assert not (first / "proofs").exists()


def test_committing_an_amendment_again_changes_nothing(chain_runs):
    before = (chain_runs[2] / "commitment.json").read_bytes()
    again = commit_run(chain_runs[2], environ=ENV)
    assert not again.created
    assert (chain_runs[2] / "commitment.json").read_bytes() == before


def test_an_amendment_of_another_run_is_refused(chain_runs, tmp_path):
    first = amend(chain_runs[0], tmp_path / "late", {3: 900})
    manifest = read_manifest(first)
    manifest["amendment"]["previous_fingerprint"] = "ee" * 32
    (first / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(CommitError, match="amends run eeee"):
        commit_run(first, environ=ENV)


def test_a_user_proof_is_for_the_cumulative_amount_and_says_what_changed(chain_runs):
    bundle = proof_bundle(chain_runs[1], 10, environ=ENV)
    assert bundle["amount_cents"] == 2_234
    change = bundle["amendment"]
    assert (change["previous_cents"], change["topup_cents"], change["change"]) == (
        1_000,
        1_234,
        "increase",
    )
    assert change["previous_proof"]["amount_cents"] == 1_000
    chain = [read_commitment(run) for run in chain_runs[:2]]
    assert verify_chain_proof(chain, bundle).ok


def test_a_new_user_has_no_previous_proof(chain_runs):
    bundle = proof_bundle(chain_runs[2], 77, environ=ENV)
    first = bundle["amendment"]["previous_proof"]["amendment"]
    assert first["previous_proof"] is None
    assert (first["previous_cents"], first["topup_cents"], first["change"]) == (0, 700, "new")


def test_a_proof_is_checked_back_to_the_base(chain_runs):
    chain = [read_commitment(run) for run in chain_runs]
    bundle = proof_bundle(chain_runs[2], 10, environ=ENV)
    verdict = verify_chain_proof(chain, bundle)
    assert verdict.ok, verdict.failure
    assert any(line.startswith("base: sum tree") for line in verdict.passed)


@pytest.mark.parametrize(
    ("edit", "failure"),
    [
        (
            lambda b: b["amendment"].update(previous_cents=2_000, topup_cents=234),
            "amendment 2 change",
        ),
        (
            lambda b: b["amendment"]["previous_proof"]["sum_tree"]["path"][0].update(
                hash="00" * 32
            ),
            "amendment 1: sum tree",
        ),
        (
            lambda b: b["amendment"].update(
                previous_proof=None, previous_cents=0, topup_cents=2_234
            ),
            None,
        ),
        (lambda b: b["amendment"]["previous_proof"].update(user_id=11), "amendment 2 change"),
    ],
    ids=["previous-amount", "previous-proof-amount", "dropped-history", "other-user"],
)
def test_a_tampered_change_fails(chain_runs, edit, failure):
    chain = [read_commitment(run) for run in chain_runs]
    bundle = proof_bundle(chain_runs[2], 10, environ=ENV)
    edit(bundle)
    verdict = verify_chain_proof(chain, bundle)
    if failure is None:  # dropping the history is allowed: "new" is not proven absent
        assert verdict.ok
    else:
        assert not verdict.ok
        assert verdict.failure.startswith(failure), verdict.failure


def test_verify_with_the_previous_commitments(chain_runs, tmp_path):
    bundle = tmp_path / "proof.json"
    bundle.write_text(json.dumps(proof_bundle(chain_runs[2], 10, environ=ENV)))
    previous = [
        arg for run in chain_runs[1::-1] for arg in ("--previous", str(run / "commitment.json"))
    ]
    command = [
        "verify",
        "--commitment",
        str(chain_runs[2] / "commitment.json"),
        "--proof",
        str(bundle),
    ]
    result = cli(*command, *previous, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"]
    wrong = cli(*command, "--previous", str(chain_runs[0] / "commitment.json"))
    assert wrong.exit_code == 1


def test_an_amendment_inherits_the_chain_key(tmp_path):
    base = hand_made_run(tmp_path / "base", USERS, AMOUNTS)
    commit_run(base, environ={})
    first = amend(base, tmp_path / "a1", {10: 2_000})
    commit_run(first, environ={})
    assert (first / "commitment.key").read_bytes() == (base / "commitment.key").read_bytes()
    before, after = proof_bundle(base, 40, environ={}), proof_bundle(first, 40, environ={})
    assert before["user_hash"] == after["user_hash"]


def test_cumulative_proofs_verify_with_openzeppelin(library, chain_runs):  # noqa: F811
    run = chain_runs[2]
    commitment = read_commitment(run)
    prover = Prover(run, environ=ENV)
    bundles = [prover.bundle(user) for user in [*USERS, 77]]
    proofs = [
        {"value": b["standard_tree"]["value"], "proof": b["standard_tree"]["proof"]}
        for b in bundles
    ]
    [result] = run_library(
        library, [{"dump": str(run / "proofs" / "standard-tree.json"), "proofs": proofs}]
    )
    assert result["root"] == commitment["standard_tree"]["root"]
    assert all(result["ours"])
    assert [b["amount_cents"] for b in bundles][1] == 2_234


changes = st.dictionaries(
    st.integers(1, 60),
    st.integers(0, 5_000),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(changes, min_size=1, max_size=3))
def test_random_cumulative_changes_prove_every_user(tmp_path_factory, steps):
    folder = tmp_path_factory.mktemp("random")
    run = hand_made_run(folder / "base", USERS, AMOUNTS)
    commit_run(run, environ=ENV)
    cumulative = dict(zip(USERS, AMOUNTS, strict=True))
    for n, step in enumerate(steps, start=1):
        raised = {u: cumulative.get(u, 0) + extra for u, extra in step.items()}
        cumulative.update(raised)
        run = amend(run, folder / f"a{n}", raised)
        commit_run(run, environ=ENV)
    chain = [link.commitment for link in walk(run)]
    assert chain[-1]["total_cents"] == read_manifest(run)["allocated_cents"]
    assert chain[-1]["total_cents"] == sum(cumulative.values())
    prover = Prover(run, environ=ENV)
    for user, amount in cumulative.items():
        bundle = prover.bundle(user)
        assert bundle["amount_cents"] == amount
        assert verify_chain_proof(chain, bundle).ok


def test_an_amendment_by_recompense_amend_is_proven_back_to_its_base(
    small_run, ledger_url, tmp_path
):
    """End to end: a claim accepted in the ledger, ``amend_run``, ``commit``, the proof."""
    from amend.amend_support import accept
    from builders import approve_twice
    from recompense.amend import amend_run
    from recompense.distribution.distribute import distribute

    base = tmp_path / "base"
    shutil.copytree(small_run, base)
    approve_twice(base, ledger_url)
    distribute(base, ledger_url, batch_size=500)
    claimant = int(read_allocations(base)["user_id"][0].as_py())
    accept(ledger_url, "together-2025-10", claimant, claim_cents=12_345)
    amended = amend_run(base, ledger_url, tmp_path / "a1", run_by="ops:amender").out
    assert amended is not None
    commit_run(base, workers=1, environ=ENV)
    commitment = commit_run(amended, workers=1, environ=ENV).commitment
    assert commitment["total_cents"] == read_manifest(amended)["allocated_cents"]
    bundle = proof_bundle(amended, claimant, environ=ENV)
    assert bundle["amendment"]["topup_cents"] == 12_345
    assert bundle["amendment"]["change"] == "claim"
    assert verify_chain_proof([read_commitment(base), commitment], bundle).ok
    assert check_chain(amended).ok
