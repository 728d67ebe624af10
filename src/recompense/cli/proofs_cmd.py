"""Commands for published commitments and proofs (keys new, commit, proof, verify, chain)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from recompense.atomic import is_disk_error
from recompense.cli.app import INT64_MAX, INT64_MIN, Commands, app, guard, out
from recompense.errors import InputError, StorageError
from recompense.money import format_usd

if TYPE_CHECKING:
    from recompense.proofs import SignatureCheck, Verdict
    from recompense.proofs.amendments import ChainReport

keys_app = Commands(
    help="The programme's Ed25519 publication key, which signs commitment.json.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the key pair (made if missing).")
    ],
    key_id: Annotated[
        str | None,
        typer.Option(help="Name of the key (default: its fingerprint, 16 hex digits)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make the programme's Ed25519 publication key pair.

    Writes signing-key.json (secret, mode 0600) and public-key.json (publish it
    where users find it, apart from the service). Existing key files are never
    overwritten. `recompense commit --key DIR/signing-key.json` signs the
    commitment; users check it against public-key.json.

    Example: recompense keys new --out keys/together-2025-10
    """
    from recompense.proofs.publication import new_key_pair

    pair = guard(lambda: new_key_pair(out_dir, key_id))
    summary = {
        "key_id": pair.public.name,
        "public_key": pair.public.raw.hex(),
        "signing_key": str(pair.private_path),
        "public_key_file": str(pair.public_path),
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    lines = [
        f"[green]✔[/] Ed25519 publication key {summary['key_id']}",
        f"  public key   {summary['public_key']}",
        f"  public file  {summary['public_key_file']}  (publish it)",
        f"  signing key  {summary['signing_key']}  (secret, mode 0600: never publish)",
    ]
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)


@app.command()
def commit(
    run_dir: Annotated[Path, typer.Option("--run", help="Run folder to commit.")],
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes that hash (default: every usable core)."),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="The programme's signing key (keys new): signs commitment.json."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the commitment as JSON.")] = False,
) -> None:
    """Publish one commitment to the run's whole payout list, and keep the trees for proofs.

    Writes commitment.json (public: both roots, total, count, encodings, run
    hash; with --key, signed with the programme's Ed25519 publication key) and
    the private proofs/ folder. Salts come from the key in
    RECOMPENSE_COMMITMENT_KEY (hex), or from commitment.key, generated in the
    run folder: keep it secret, never publish it. Committing a committed run
    again changes nothing, except that --key signs a commitment published
    unsigned (its content stays as it is). Without --key the commitment is
    unsigned, and verify says so.

    Example: recompense commit --run demo/run --key keys/signing-key.json
    """
    from recompense.proofs import commit_run
    from recompense.proofs.publication import load_signing_key

    signing = guard(lambda: load_signing_key(key)) if key is not None else None
    done = guard(lambda: commit_run(run_dir, workers=workers, signing_key=signing))
    if as_json:
        summary = {
            "path": str(done.path),
            "created": done.created,
            "signed_now": done.signed_now,
            "key_source": done.key_source,
            "timings_s": done.timings_s,
        }
        print(json.dumps({**summary, **done.commitment}, indent=2))
        return
    c = done.commitment
    if done.signed_now:
        out.print(
            f"[green]✔[/] Signed the published commitment {done.path} (its content is unchanged)",
            highlight=False,
            soft_wrap=True,
        )
    elif not done.created:
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
    signature = c.get("signature")
    signed = (
        f"Ed25519, key {signature['key_id']}"
        if isinstance(signature, dict)
        else "none (unsigned: sign it with --key)"
    )
    out.print(f"  signature           {signed}", highlight=False, soft_wrap=True)


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
    guard(lambda: emit(json.dumps(bundle, indent=2)))


@app.command()
def verify(
    commitment: Annotated[Path, typer.Option(help="The published commitment.json.")],
    proof_file: Annotated[Path, typer.Option("--proof", help="One user's proof bundle.")],
    public_key: Annotated[
        Path | None,
        typer.Option(help="The programme's published public key: check the signature."),
    ] = None,
    previous: Annotated[
        list[Path] | None,
        typer.Option(
            help="For an amendment's proof: the commitments it amends, newest first, down "
            "to the base (repeat the option)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a proof bundle against a published commitment, with nothing else.

    For a proof from an amendment, give the earlier commitments with --previous
    (newest first, down to the base): the chain of commitments is checked, and
    what changed for the user at each amendment is proven back to the base.

    With --public-key (the programme's public-key.json, a PEM key or 64 hex
    digits) the commitment must carry a valid Ed25519 signature by that key;
    without it, the signature is reported, not checked, and an unsigned
    commitment is reported as unsigned.

    Exit code 0: valid; 1: not valid, with the step that failed (a tampered
    commitment, another key, or no signature when --public-key is given);
    2: a file cannot be read.

    Example: recompense verify --commitment c.json --proof p.json --public-key key.json
    """
    from recompense.proofs import verify_proof
    from recompense.proofs.publication import read_public_key
    from recompense.proofs.verify import verify_chain_proof

    published = guard(lambda: _read_json(commitment))
    bundle = guard(lambda: _read_json(proof_file))
    earlier = guard(lambda: [_read_json(path) for path in previous or []])
    key = guard(lambda: read_public_key(public_key)) if public_key is not None else None
    signature = _chain_signature([published, *earlier], key)
    if earlier:
        verdict = verify_chain_proof([*reversed(earlier), published], bundle)
    else:
        verdict = verify_proof(published, bundle)
    signed = signature.ok or (key is None and signature.status != "invalid")
    if as_json:
        answer = {**verdict.as_dict(), "ok": verdict.ok and signed}
        print(json.dumps({**answer, "signature": signature.as_dict()}, indent=2))
    else:
        _print_verdict(signature, verdict, signed)
    if not (verdict.ok and signed):
        raise typer.Exit(code=1)


def _chain_signature(commitments: list[Any], key: Any) -> SignatureCheck:
    """The first signature (newest first) that is not valid, else the newest one's check."""
    from recompense.proofs import check_signature

    checks = [check_signature(c, key) for c in commitments]
    return next((check for check in checks if not check.ok), checks[0])


@app.command()
def chain(
    run_dir: Annotated[Path, typer.Option("--run", help="A committed run (an amendment).")],
    public_key: Annotated[
        Path | None,
        typer.Option(help="The programme's published public key: check every signature."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Walk a run's chain of commitments back to its base, and check every link.

    Each amendment's commitment names the previous one (the SHA-256 of its
    canonical JSON without the signature), its run and its sequence; all name
    the same base. With --public-key every commitment must be signed by it.

    Exit code 0: the chain holds; 1: a link is broken (named), or a signature
    is missing or invalid; 2: a run is not committed or cannot be read.

    Example: recompense chain --run runs/together-a2 --public-key keys/public-key.json
    """
    from recompense.proofs.amendments import check_chain
    from recompense.proofs.publication import read_public_key

    key = guard(lambda: read_public_key(public_key)) if public_key is not None else None
    report = guard(lambda: check_chain(run_dir, key))
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_chain(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _print_chain(report: ChainReport) -> None:
    marks = {"valid": "[green]✔[/]", "invalid": "[bold red]✘[/]"}
    for link, check in zip(report.links, report.signatures, strict=True):
        name = "base" if link.sequence == 0 else f"amendment {link.sequence}"
        c = link.commitment
        out.print(
            f"{name:<13} {link.run}  {link.created_at or '—'}  total "
            f"{format_usd(int(c.get('total_cents', 0)))}  sum root {c['sum_tree']['root'][:16]}…",
            highlight=False,
            soft_wrap=True,
        )
        mark = marks.get(check.status, "[yellow]![/]")
        out.print(f"  {mark} {escape(check.detail)}", highlight=False, soft_wrap=True)
    for step in report.verdict.passed:
        out.print(f"[green]✔[/] {escape(step)}", highlight=False, soft_wrap=True)
    if report.verdict.failure is not None:
        final = f"[bold red]✘ BROKEN:[/] {escape(report.verdict.failure)}"
    elif not report.signed:
        final = "[bold red]✘ NOT VALID:[/] a commitment is not signed by the programme's key"
    else:
        final = f"[bold green]VALID[/] chain of {len(report.links)} commitments"
    out.print(final, highlight=False, soft_wrap=True)


def _print_verdict(signature: SignatureCheck, verdict: Verdict, signed: bool) -> None:
    marks = {"valid": "[green]✔[/]", "invalid": "[bold red]✘[/]"}
    out.print(
        f"{marks.get(signature.status, '[yellow]![/]')} {escape(signature.detail)}",
        highlight=False,
        soft_wrap=True,
    )
    for step in verdict.passed:
        out.print(f"[green]✔[/] {escape(step)}", highlight=False, soft_wrap=True)
    if verdict.failure is not None:
        final = f"[bold red]✘ NOT VALID:[/] {escape(verdict.failure)}"
    elif not signed:
        final = "[bold red]✘ NOT VALID:[/] " + (
            "the commitment is unsigned, and --public-key asks for the programme's signature"
            if signature.status == "unsigned"
            else "the commitment is not signed by the programme's key"
        )
    elif signature.status == "valid":
        final = "[bold green]VALID[/] (signed by the programme's key)"
    elif signature.status == "unsigned":
        final = "[bold green]VALID[/] proof, but the commitment is [yellow]UNSIGNED[/]"
    else:
        final = "[bold green]VALID[/] proof; signature [yellow]not checked[/] (give --public-key)"
    out.print(final, highlight=False, soft_wrap=True)


def emit(text: str) -> None:
    """Print ``text`` and flush it now: a full disk behind ``> proof.json`` is then this
    command's exit code 3 with a message, not a tail lost silently at exit."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as exc:
        if not is_disk_error(exc):
            raise
        _drop_stdout()
        raise StorageError(
            f"cannot write to standard output: {exc.strerror or exc}. The file it was "
            "redirected to is incomplete: delete it, free space, then run the same command "
            "again."
        ) from exc


def _drop_stdout() -> None:
    """Point standard output at /dev/null: what could not be written stays buffered, and
    the interpreter would try (and fail) again at exit."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc
