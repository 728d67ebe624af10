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
import socket
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


# What every uvicorn of ours runs with: `recompense serve`, and the benchmark's floor.
UVICORN_OPTIONS: dict[str, Any] = {"http": NoDelayHttpTools, "loop": "uvloop"}


def serving_app() -> Any:
    """The factory each worker of ``recompense serve`` calls: the app, tuned for serving."""
    from recompense.web.app import create_app

    return create_app(tune=True)


def run(*, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve :func:`serving_app` (its settings come from the environment)."""
    import uvicorn

    uvicorn.run(
        "recompense.web.server:serving_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
        **UVICORN_OPTIONS,
    )
