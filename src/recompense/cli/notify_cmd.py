"""Command for the notification worker (notify)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from recompense.cli.app import app, err, guard, out
from recompense.errors import EXIT_UNAVAILABLE
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
    include_rejected: Annotated[
        bool,
        typer.Option(
            "--include-rejected",
            help="With --requeue-failed: also put back rows rejected for good (SMTP 5xx, "
            "HTTP 4xx, malformed payload), once the template, payload or address is fixed.",
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
    NOTIFY_LEASE_SECONDS, NOTIFY_BACKOFF_BASE, NOTIFY_BACKOFF_CAP, NOTIFY_POLL_SECONDS,
    NOTIFY_PROBE_BASE, NOTIFY_PROBE_CAP. SMTP_TIMEOUT and PUSH_TIMEOUT bound one whole
    send (every step of it), not each network operation.

    Run several workers at once to go faster: no notification is sent twice while its
    lease holds. Ctrl-C or SIGTERM finishes and records the batch in flight, then stops
    (press Ctrl-C twice to stop at once: the batch's rows return after their lease).

    When the mail relay or the push gateway is down (refused, timed out, bad credentials,
    SMTP 421, HTTP 502-504), that channel's rows wait without using attempts and the
    worker probes the peer (every 5 s at first, then up to every 60 s) until it answers;
    the other channel goes on. Each change is printed on stderr. A run that ends with a
    channel still down exits 3 (its rows wait; run again once the peer is back). Such an
    answer to one notification while the peer is up (it answers probes, takes others)
    counts as an attempt of that notification, which gives up after the max attempts.

    If the database fails mid-drain the worker exits 3: the rows it had claimed return
    to the queue when their lease expires; run the same command again to resume.

    Metrics (docs/operations.md): --metrics-port 9464 serves them at
    http://127.0.0.1:9464/metrics while the worker runs; --metrics-textfile
    /var/lib/node_exporter/textfile/notify.prom writes them for node_exporter.

    Example: recompense notify --db postgresql://localhost/recompense --loop --rate 500

    After fixing a template or an address: recompense notify --db URL --requeue-failed
    --include-rejected --until-done
    """
    from recompense.notify import NotifySettings, drain
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
    if include_rejected and not requeue_failed:
        err.print(
            "[bold red]error:[/] --include-rejected only goes with --requeue-failed "
            "(recompense notify --requeue-failed --include-rejected)",
            highlight=False,
        )
        raise typer.Exit(code=2)
    requeued = (
        guard(lambda: requeue(db, include_rejected=include_rejected)) if requeue_failed else None
    )
    stop = threading.Event()
    metrics = guard(
        lambda: Exposition(port=metrics_port, host=metrics_host, textfile=metrics_textfile).start()
    )
    # The database failing mid-drain is an OutboxError, an UnavailableError: the boundary
    # prints its message (leases expire, rows return, a re-run resumes) and exits 3.
    with (
        metrics,
        _stop_on_signals(stop),
        _progress(as_json) as (on_progress, on_channel),
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
                on_channel=on_channel,
                stop=stop,
            )
        )
    if as_json:
        counts = {
            "requeued": requeued.total if requeued else 0,
            "requeued_rejected": requeued.rejected if requeued else 0,
        }
        print(json.dumps({**asdict(result), **counts}, indent=2))
    else:
        _print_result(result, requeued)
    if result.channels_down:  # the relay or the gateway is unavailable: nothing lost
        raise typer.Exit(code=EXIT_UNAVAILABLE)


def _print_result(result: Any, requeued: Any) -> None:
    rate = result.sent / result.seconds if result.seconds > 0 else 0.0
    if requeued is not None:
        rejected = f" ({requeued.rejected:,} of them rejected before)" if requeued.rejected else ""
        out.print(f"Requeued {requeued.total:,} failed notifications{rejected}", highlight=False)
    waited = f" · waited for a channel {result.deferred:,}" if result.deferred else ""
    out.print(
        f"Sent {result.sent:,} · retried {result.retried:,} · failed {result.failed:,}"
        f"{waited} · left pending {result.pending_left:,} ({result.seconds:.1f} s, "
        f"{rate:,.0f}/s)",
        highlight=False,
    )
    for channel, reason in result.channels_down.items():
        err.print(
            f"[yellow]warning:[/] the {channel} channel is still down ({reason}); its rows "
            "wait in the outbox with their attempts intact: run the worker again once it "
            "is back (a --loop worker probes it by itself)",
            highlight=False,
            soft_wrap=True,
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
            "after an outage, `recompense notify --requeue-failed` retries those that gave "
            "up; add --include-rejected for rejected ones once the template, payload or "
            "address is fixed",
            highlight=False,
        )


@contextmanager
def _progress(quiet: bool) -> Iterator[tuple[Any, Any]]:
    """The progress bar (on a terminal, without --json), with each channel's breaker in
    it, and a line on stderr whenever a channel goes down or comes back (always)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from recompense.notify.worker import ChannelEvent

    down: dict[str, tuple[float, float]] = {}  # channel → (monotonic at the event, probe_in)

    def on_channel(event: ChannelEvent) -> None:
        state = event.state
        if event.kind == "up":
            down.pop(state.channel, None)
        else:
            down[state.channel] = (time.monotonic(), state.probe_in or 0.0)
        err.print(_channel_line(event), highlight=False, soft_wrap=True)

    def channels() -> str:
        now = time.monotonic()
        return " ".join(
            f"[yellow]{c} down, probe in {max(0.0, at + wait - now):.0f} s[/]"
            for c, (at, wait) in sorted(down.items())
        )

    class Channels(ProgressColumn):  # rendered at each refresh: the countdown moves
        def render(self, task: Any) -> Text:
            return Text.from_markup(channels())

    if quiet or not sys.stderr.isatty():
        yield None, on_channel
        return
    with Progress(
        TextColumn("Notifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        Channels(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("Notifying", total=None, rate="")

        def on_progress(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:,.0f} sent/s" if elapsed > 0 else ""
            progress.update(task, completed=done, total=total, rate=rate)

        yield on_progress, on_channel


def _channel_line(event: Any) -> str:
    s = event.state
    if event.kind == "up":
        return (
            f"[green]{s.channel} channel back up[/] after {s.down_seconds:.0f} s (a probe "
            "was answered): its waiting notifications are being sent"
        )
    probe = f"next probe in {s.probe_in or 0:.0f} s"
    if event.kind == "down" and event.counted:
        return (
            f"[yellow]warning:[/] {s.channel} channel failed right after a probe was "
            f"answered: {s.reason}; the notifications that failed used an attempt (the "
            f"peer answers probes, so the failure may be theirs), {probe}"
        )
    if event.kind == "down":
        return (
            f"[yellow]warning:[/] {s.channel} channel down: {s.reason}; its notifications "
            f"wait without using attempts, {probe}"
        )
    return (
        f"[yellow]warning:[/] {s.channel} channel still down after {s.down_seconds:.0f} s: "
        f"{s.reason}; {probe}"
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
