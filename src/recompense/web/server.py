"""How ``recompense serve`` runs the application: uvicorn with TCP_NODELAY on every connection.

Why a protocol class of our own: with ``--workers`` > 1 uvicorn binds the listening
socket itself (``socket.socket(family, SOCK_STREAM)``, protocol 0), and asyncio only
sets ``TCP_NODELAY`` on accepted connections when the socket's protocol is
``IPPROTO_TCP``. Without it, an answer written in two segments (headers, then body)
waits for the client's delayed ACK: about 40 ms a request (Nagle's algorithm). With one
worker asyncio binds the socket and sets the option; :class:`NoDelayH11` sets it in
both cases. The class lives in an importable module because uvicorn's workers are
spawned processes that receive the configuration pickled (the class by reference).
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the transport's TCP socket (Unix sockets: nothing)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol (h11) with TCP_NODELAY set on each connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


def run(*, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve ``recompense.web.app:create_app`` (its settings come from the environment)."""
    import uvicorn

    uvicorn.run(
        "recompense.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
        http=NoDelayH11,
    )
