"""``recompense import binance``: Binance's own exports in, a contract dataset out."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recompense.cli.app import INT64_MAX, Commands, app, bar_progress, err, guard, out
from recompense.errors import InputError

import_app = Commands(
    help="Import other systems' files into the data contract.", no_args_is_help=True
)
app.add_typer(import_app, name="import")

KlinesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--klines",
        help="ASSET=FILE: 1-minute Binance kline CSV giving ASSET's USD price (repeatable).",
    ),
]
PricesOpt = Annotated[
    list[Path] | None,
    typer.Option("--prices", help="A contract prices file asset,minute,usd (repeatable)."),
]
StableOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stablecoin",
        help="ASSET=USD: a stablecoin's fixed value (repeatable; USDT=1 and USDC=1 unless given).",
    ),
]
NetAssetsOpt = Annotated[
    str | None,
    typer.Option(help="The user's own net assets at the snapshot, USD (one user only)."),
]
ProgramOpt = Annotated[
    Path | None,
    typer.Option(
        help="Policy file: its snapshot, window and staleness (default: the 10-10 crash)."
    ),
]
UserIdOpt = Annotated[
    int | None,
    typer.Option(min=0, max=INT64_MAX, help="Owner of exports that name no uid."),
]


@import_app.command("binance")
def import_binance_cmd(
    files: Annotated[
        list[Path], typer.Argument(help="Export files or folders (a folder per user).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder to create.")],
    program: ProgramOpt = None,
    user_id: UserIdOpt = None,
    net_assets_usd: NetAssetsOpt = None,
    klines: KlinesOpt = None,
    prices: PricesOpt = None,
    stablecoin: StableOpt = None,
    user_type: Annotated[
        str, typer.Option(help="user_type for the users table: retail, vip or institutional.")
    ] = "retail",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the import report as JSON.")
    ] = False,
) -> None:
    """Import Binance futures exports (web CSV or REST API JSON) as a contract dataset.

    Writes the dataset and its import-report.json; `recompense run` and `explain` work on
    it unchanged. Rules: docs/import.md.

    Example: recompense import binance exports/26515667 --out imported
    --klines BTC=BTCUSD_PERP-markPriceKlines-1m-2025-10-10.csv
    """
    from recompense.imports.binance import import_binance

    options = guard(
        lambda: import_options(
            program, user_id, net_assets_usd, klines, prices, stablecoin, user_type
        )
    )
    with bar_progress(as_json, "Importing", unit="users") as progress:
        result = guard(
            lambda: import_binance(list(files), out_dir, options=options, progress=progress)
        )
    if as_json:
        print(json.dumps({"out": str(out_dir), **result.report}, indent=2, ensure_ascii=False))
        return
    _print_report(out_dir, result.report)


def import_options(
    program: Path | None,
    user_id: int | None,
    net_assets_usd: str | None,
    klines: list[str] | None,
    prices: list[Path] | None,
    stablecoin: list[str] | None,
    user_type: str,
) -> Any:
    """The importer's options from the command line (shared with ``selfcheck``)."""
    from recompense.imports.binance import DEFAULT_STABLECOINS, ImportOptions

    if user_type not in ("retail", "vip", "institutional"):
        raise InputError(f"--user-type: {user_type!r} is not retail, vip or institutional")
    options = ImportOptions(user_id=user_id, user_type=user_type)
    if program is not None:
        options = with_policy(options, program)
    series: dict[str, list[Path]] = {}
    for item in klines or []:
        asset, path = _pair("--klines", item)
        series.setdefault(asset, []).append(Path(path))
    stables = dict(DEFAULT_STABLECOINS)
    for item in stablecoin or []:
        asset, value = _pair("--stablecoin", item)
        stables[asset] = _usd("--stablecoin", value, positive=True)
    own = None if net_assets_usd is None else _usd("--net-assets-usd", net_assets_usd)
    return replace(
        options, klines=series, price_files=tuple(prices or ()), stablecoins=stables,
        net_assets_usd=own,
    )  # fmt: skip


def with_policy(options: Any, program: Path) -> Any:
    from recompense.imports.binance import for_policy
    from recompense.policy import load_policy

    return for_policy(options, load_policy(program))


def _pair(flag: str, item: str) -> tuple[str, str]:
    asset, sep, value = item.partition("=")
    asset = asset.strip().upper()
    if not sep or not asset or not value.strip() or not asset.isalnum():
        raise InputError(f"{flag}: expected ASSET=VALUE (e.g. BTC=klines.csv), got {item!r}")
    return asset, value.strip()


def _usd(flag: str, text: str, *, positive: bool = False) -> Decimal:
    from recompense.data.contract import USD_LIMIT
    from recompense.imports.binance.records import FieldError, number

    try:
        value = number(text.strip())
    except FieldError as exc:
        raise InputError(f"{flag}: {exc}") from None
    if abs(value) >= USD_LIMIT or (positive and value <= 0):
        bound = "above 0 and " if positive else ""
        raise InputError(f"{flag}: {text!r} must be {bound}below $10^12 in magnitude")
    return value


def _print_report(out_dir: Path, report: dict[str, Any]) -> None:
    table = Table(title=f"Imported into {out_dir}")
    table.add_column("user")
    table.add_column("fills written", justify="right")
    table.add_column("liquidations in window", justify="right")
    table.add_column("net assets from")
    table.add_column("warnings", justify="right")
    for user in report["users"]:
        table.add_row(
            str(user["user_id"]),
            f"{user['fills_written']:,}",
            f"{user['liquidation_fills_in_window']:,}",
            user["net_assets"]["source"].split(":")[0].split(" summed")[0],
            str(len(user["warnings"])),
        )
    out.print(table)
    for user in report["users"]:
        for warning in user["warnings"]:
            err.print(f"[yellow]warning:[/] user {user['user_id']}: {warning}", highlight=False)
    skipped = report["skipped_files"]
    if skipped:
        out.print(f"Skipped {len(skipped)} file(s) that are not exports (listed in the report)")
    out.print(f"Report  {out_dir / 'import-report.json'}")


@app.command()
def selfcheck(
    program: Annotated[Path, typer.Option(help="Programme policy file (TOML).")],
    files: Annotated[list[Path], typer.Argument(help="Your Binance export files or folder.")],
    net_assets_usd: NetAssetsOpt = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run", help="A published run: your payout at its λ.")
    ] = None,
    user_id: UserIdOpt = None,
    klines: KlinesOpt = None,
    prices: PricesOpt = None,
    stablecoin: StableOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check your own case from your Binance exports: counted fills, loss, net assets,
    each rule with its numbers, and with --run the payout the formula gives you.

    Example: recompense selfcheck --program programs/together-2025-10.toml my-exports/
    --klines BTC=BTCUSD_PERP-markPriceKlines-1m-2025-10-10.csv --run published-run
    """
    from recompense.selfcheck import selfcheck as check_user

    options = guard(
        lambda: import_options(
            program, user_id, net_assets_usd, klines, prices, stablecoin, "retail"
        )
    )
    result = guard(lambda: check_user(program, list(files), options=options, run=run_dir))
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    _print_selfcheck(result)


def _print_selfcheck(r: Any) -> None:
    from recompense.money import format_usd

    verdict = "[bold green]ELIGIBLE[/]" if r.eligible else "[bold red]NOT ELIGIBLE[/]"
    out.print(f"User {r.user_id}, programme {r.program_id}: {verdict}")
    if r.fills:
        gains = sum(1 for f in r.fills if f.loss_micros < 0)
        out.print(
            f"{len(r.fills)} liquidation fill(s) counted, {gains} of them with a gain; "
            f"first {r.fills[0].ts}, last {r.fills[-1].ts}"
        )
    out.print(f"Loss          {format_usd(r.loss_cents)}")
    out.print(f"Net assets    {format_usd(r.net_assets_cents)}  ({r.net_assets_source})")
    for check in r.checks:
        mark = "[green]✔[/]" if check.passed else f"[red]✘ {check.code}[/]"
        out.print(f"  {mark} {check.detail}", highlight=False)
    p = r.payout
    if p is not None:
        out.print(
            f"At the run's λ = {p.lambda_cents_per_weight:.6g} cents per unit of weight, "
            f"your weight {p.weight:.6g} gives [bold]{format_usd(p.amount_cents)}[/] "
            f"({p.bound}; floor {format_usd(p.floor_cents)}, cap {format_usd(p.cap_cents)})",
            highlight=False,
        )
        if p.in_run:
            said = "matches" if p.matches else "[red]does not match[/]"
            paid = "nothing" if p.run_amount_cents is None else format_usd(p.run_amount_cents)
            out.print(f"The run pays you {paid}: it {said} your exports.", highlight=False)
        else:
            out.print("You are not in this run.")
        for note in p.notes:
            out.print(f"[yellow]note:[/] {note}")
    for warning in r.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
