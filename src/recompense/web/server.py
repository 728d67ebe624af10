"""How ``recompense serve`` runs the application: uvicorn with TCP_NODELAY on every connection,
on httptools' HTTP parser and uvloop's event loop.

Why a protocol class of our own: with ``--workers`` > 1 uvicorn binds the listening
socket itself (``socket.socket(family, SOCK_STREAM)``, protocol 0), and asyncio only
sets ``TCP_NODELAY`` on accepted connections when the socket's protocol is
``IPPROTO_TCP``. Without it, an answer written in two segments (headers, then body)
waits for the client's delayed ACK: about 40 ms a request (Nagle's algorithm). With one
worker asyncio binds the socket and sets the option; :class:`NoDelayHttpTools` sets it
in both cases, on either event loop. The class lives in an importable module because
uvicorn's workers are spawned processes that receive the configuration pickled (the
class by reference).

Why httptools and uvloop (uvicorn's "standard" set-up): uvicorn's default parser, h11,
is pure Python; httptools (llhttp, in C) and uvloop (libuv) take a large part of the
per-request CPU off the two cores (measured in ``docs/benchmarks.md``, "Web service").
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the transport's TCP socket (Unix sockets: nothing)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpTools(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools with TCP_NODELAY set on each connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# What every uvicorn of ours runs with: `recompense serve`, and the benchmark's floor.
UVICORN_OPTIONS: dict[str, Any] = {"http": NoDelayHttpTools, "loop": "uvloop"}


def serving_app() -> Any:
    """The factory each worker of ``recompense serve`` calls: the app, tuned for serving.

    The JSON log lines carry no source file, thread or process: the worker does not
    look them up for every record (logging's documented switches; about a fifth of an
    access line's cost, ``docs/benchmarks.md``, "Metrics and logs").
    """
    import logging

    from recompense.web.app import create_app

    logging._srcfile = None  # no caller lookup per record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    return create_app(tune=True)


def run(
    *, host: str, port: int, workers: int, log_level: str = "info", json_logs: bool = True
) -> None:
    """Serve :func:`serving_app` (its settings come from the environment).

    Logs: uvicorn's and recompense's loggers write JSON lines to stderr through the
    redacting filter (:func:`recompense.observability.logs.logging_config`, applied by
    uvicorn in every worker); uvicorn's own access log is off, the service writes its
    own (:mod:`recompense.web.telemetry`). Metrics: with several workers, they share a
    fresh ``PROMETHEUS_MULTIPROC_DIR`` (:func:`metrics_directory`).
    """
    import uvicorn

    from recompense.observability.logs import logging_config

    with metrics_directory(workers):
        uvicorn.run(
            "recompense.web.server:serving_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            log_config=logging_config(log_level, json_lines=json_logs),
            access_log=False,
            proxy_headers=False,
            **UVICORN_OPTIONS,
        )


@contextmanager
def metrics_directory(workers: int) -> Iterator[None]:
    """With several worker processes, the directory their metrics share.

    Each worker writes its counters and histograms to memory-mapped files there, and
    the worker that answers a scrape adds all of them up. A directory set in
    ``PROMETHEUS_MULTIPROC_DIR`` is used (its old files removed first: counts of an
    earlier run must not be added in); otherwise a new one is made and removed at the
    end. One worker needs none: its metrics live in its memory.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        for kind in ("counter", "gauge", "histogram", "summary"):  # prometheus-client's files
            for stale in Path(given).glob(f"{kind}_*.db"):
                stale.unlink()
        yield
        return
    if workers <= 1:
        yield
        return
    folder = tempfile.mkdtemp(prefix="recompense-metrics-")
    os.environ[MULTIPROC_ENV] = folder  # inherited by the spawned workers
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
