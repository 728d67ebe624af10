"""Command for the notification worker (notify)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from recompense.cli.app import app, bar_progress, err, guard, out
from recompense.ledger.db import DEFAULT_URL


@app.command()
def notify(
    db: Annotated[str, typer.Option("--db", help="Ledger database URL.")] = DEFAULT_URL,
    once: Annotated[
        bool,
        typer.Option(
            "--once/--loop",
            help="--once: deliver what is due now, then exit. --loop: keep delivering "
            "(retries included) until stopped.",
        ),
    ] = True,
    until_done: Annotated[
        bool,
        typer.Option(
            "--until-done",
            help="Loop, waiting out retries, and exit once nothing is left pending or sending.",
        ),
    ] = False,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Max sends per second for this worker, 0 = unlimited (RECOMPENSE_NOTIFY_RATE).",
        ),
    ] = None,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Rows claimed at a time (RECOMPENSE_NOTIFY_BATCH).")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Concurrent senders in this worker (RECOMPENSE_NOTIFY_THREADS)."),
    ] = None,
    push_url: Annotated[
        str | None, typer.Option(help="Push gateway URL (RECOMPENSE_PUSH_URL).")
    ] = None,
    smtp_host: Annotated[str | None, typer.Option(help="(RECOMPENSE_SMTP_HOST)")] = None,
    smtp_port: Annotated[int | None, typer.Option(help="(RECOMPENSE_SMTP_PORT)")] = None,
    max_seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds.")
    ] = None,
    requeue_failed: Annotated[
        bool,
        typer.Option(
            "--requeue-failed",
            help="First put rows that gave up after transient errors (an outage longer "
            "than the retries) back to pending.",
        ),
    ] = False,
    worker_id: Annotated[
        str | None, typer.Option(help="Name in lease_owner (default host:pid:random).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this worker's Prometheus metrics on this port while it runs "
            "(for --loop workers).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address of the metrics endpoint (with --metrics-port).")
    ] = "127.0.0.1",
    metrics_textfile: Annotated[
        Path | None,
        typer.Option(
            help="Write this worker's metrics to this file every few seconds and at exit, "
            "for node_exporter's textfile collector (for --once and --until-done runs).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Deliver pending notifications: email over SMTP, app push to the push gateway.

    Settings are RECOMPENSE_* variables, overridden by the options below:
    SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, SMTP_USERNAME, SMTP_PASSWORD, SMTP_CAFILE,
    SMTP_TIMEOUT, MAIL_FROM; PUSH_URL (unset: push rows stay pending), PUSH_TIMEOUT;
    REDEEM_URL; NOTIFY_RATE, NOTIFY_BATCH, NOTIFY_THREADS, NOTIFY_MAX_ATTEMPTS,
    NOTIFY_LEASE_SECONDS, NOTIFY_BACKOFF_BASE, NOTIFY_BACKOFF_CAP, NOTIFY_POLL_SECONDS.

    Run several workers at once to go faster: no notification is sent twice while its
    lease holds. Ctrl-C or SIGTERM finishes and records the batch in flight, then stops
    (press Ctrl-C twice to stop at once: the batch's rows return after their lease).

    Metrics (docs/operations.md): --metrics-port 9464 serves them at
    http://127.0.0.1:9464/metrics while the worker runs; --metrics-textfile
    /var/lib/node_exporter/textfile/notify.prom writes them for node_exporter.

    Example: recompense notify --db postgresql://localhost/recompense --loop --rate 500
    """
    from recompense.notify import NotifySettings, OutboxError, drain
    from recompense.notify.metrics import Exposition
    from recompense.notify.worker import requeue_failed as requeue

    settings = guard(
        lambda: NotifySettings.from_env(
            rate=rate,
            batch=batch,
            threads=threads,
            push_url=push_url,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
        )
    )
    requeued = guard(lambda: requeue(db)) if requeue_failed else 0
    stop = threading.Event()
    metrics = guard(
        lambda: Exposition(port=metrics_port, host=metrics_host, textfile=metrics_textfile).start()
    )
    try:
        with (
            metrics,
            _stop_on_signals(stop),
            bar_progress(as_json, "Notifying", "sent") as on_progress,
        ):
            result = guard(
                lambda: drain(
                    db,
                    settings,
                    worker_id=worker_id,
                    once=once and not until_done,
                    stop_when_idle=until_done,
                    max_seconds=max_seconds,
                    on_progress=on_progress,
                    stop=stop,
                )
            )
    except OutboxError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    if as_json:
        print(json.dumps({**asdict(result), "requeued": requeued}, indent=2))
        return
    _print_result(result, requeued)


def _print_result(result: Any, requeued: int) -> None:
    rate = result.sent / result.seconds if result.seconds > 0 else 0.0
    if requeued:
        out.print(f"Requeued {requeued:,} failed notifications")
    out.print(
        f"Sent {result.sent:,} · retried {result.retried:,} · failed {result.failed:,} · "
        f"left pending {result.pending_left:,} ({result.seconds:.1f} s, {rate:,.0f}/s)",
        highlight=False,
    )
    if "push" not in result.channels and result.pending_left:
        err.print(
            "[yellow]warning:[/] RECOMPENSE_PUSH_URL is not set: push notifications stay "
            "pending until a worker with a push gateway runs",
            highlight=False,
        )
    if result.failed:
        err.print(
            "[yellow]note:[/] failed rows keep their reason in notifications.last_error; "
            "after an outage, `recompense notify --requeue-failed` retries them",
            highlight=False,
        )


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C or SIGTERM sets ``stop`` (the batch in flight is finished and
    recorded); a second one gets the previous handler back, so it interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(sig: int, _frame: Any) -> None:
        stop.set()
        signal.signal(sig, previous[signal.Signals(sig)])

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
