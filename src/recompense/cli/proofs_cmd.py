"""Commands for published commitments and proofs (commit, proof, verify)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from recompense.cli.app import INT64_MAX, INT64_MIN, app, guard, out
from recompense.errors import InputError
from recompense.money import format_usd


@app.command()
def commit(
    run_dir: Annotated[Path, typer.Option("--run", help="Run folder to commit.")],
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes that hash (default: every usable core)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the commitment as JSON.")] = False,
) -> None:
    """Publish one commitment to the run's whole payout list, and keep the trees for proofs.

    Writes commitment.json (public: both roots, total, count, encodings, run hash) and the
    private proofs/ folder. Salts come from the key in RECOMPENSE_COMMITMENT_KEY (hex), or
    from commitment.key, generated in the run folder: keep it secret, never publish it.
    Committing a committed run again changes nothing.

    Example: recompense commit --run demo/run
    """
    from recompense.proofs import commit_run

    done = guard(lambda: commit_run(run_dir, workers=workers))
    if as_json:
        summary = {
            "path": str(done.path),
            "created": done.created,
            "key_source": done.key_source,
            "timings_s": done.timings_s,
        }
        print(json.dumps({**summary, **done.commitment}, indent=2))
        return
    c = done.commitment
    if not done.created:
        out.print(
            f"Already committed: {done.path} (nothing changed)", highlight=False, soft_wrap=True
        )
    else:
        out.print(
            f"[green]✔[/] Committed {c['users']:,} payouts of programme {c['program_id']}, "
            f"total {format_usd(c['total_cents'])}, in {done.timings_s['total']:.2f} s",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"  sum tree root       {c['sum_tree']['root']}", highlight=False, soft_wrap=True)
    out.print(
        f"  standard tree root  {c['standard_tree']['root']}", highlight=False, soft_wrap=True
    )
    out.print(
        f"  commitment          {done.path}  (public: publish this file)",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"  trees               {run_dir / 'proofs'}  (private)", highlight=False, soft_wrap=True
    )
    out.print(
        f"  key                 {done.key_source}  (secret: never publish)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def proof(
    run_dir: Annotated[Path, typer.Option("--run", help="Committed run folder.")],
    user_id: Annotated[
        int,
        typer.Argument(min=INT64_MIN, max=INT64_MAX, help="The user whose payout to prove."),
    ],
) -> None:
    """Print one user's proof bundle (salt, amount, both paths) as JSON, for that user only.

    The bundle holds the user's salt: give it to that user alone. They check it with
    `recompense verify` (or verify.py) against the published commitment.json.

    Example: recompense proof --run demo/run 1234 > proof-1234.json
    """
    from recompense.proofs import proof_bundle

    bundle = guard(lambda: proof_bundle(run_dir, user_id))
    print(json.dumps(bundle, indent=2))


@app.command()
def verify(
    commitment: Annotated[Path, typer.Option(help="The published commitment.json.")],
    proof_file: Annotated[Path, typer.Option("--proof", help="One user's proof bundle.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a proof bundle against a published commitment, with nothing else.

    Exit code 0: valid; 1: not valid, with the step that failed; 2: a file cannot be read.

    Example: recompense verify --commitment commitment.json --proof proof-1234.json
    """
    from recompense.proofs import verify_proof

    published = guard(lambda: _read_json(commitment))
    bundle = guard(lambda: _read_json(proof_file))
    verdict = verify_proof(published, bundle)
    if as_json:
        print(json.dumps(verdict.as_dict(), indent=2))
    else:
        for step in verdict.passed:
            out.print(f"[green]✔[/] {step}", highlight=False, soft_wrap=True)
        if verdict.failure is not None:
            out.print(
                f"[bold red]✘ NOT VALID:[/] {verdict.failure}", highlight=False, soft_wrap=True
            )
        else:
            out.print("[bold green]VALID[/]", highlight=False, soft_wrap=True)
    if not verdict.ok:
        raise typer.Exit(code=1)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc
