"""``recompense serve``'s HTTP protocol sets TCP_NODELAY on every accepted connection.

The listening socket is made the way uvicorn makes it with ``--workers`` > 1 (protocol
0), where asyncio leaves the option off; the check reads the option on the server's own
end of a real loopback connection, so it does not depend on timing.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from recompense.web.server import NoDelayH11


async def _ok(scope, receive, send):  # pragma: no cover - no request is sent
    raise AssertionError("no request expected")


def _server_side_nodelay(protocol_class: type[H11Protocol]) -> int:
    """TCP_NODELAY on the server's end of one connection accepted by ``protocol_class``."""

    async def scenario() -> int:
        config = Config(app=_ok, lifespan="off", log_level="warning")
        state = ServerState()
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(protocol_class):  # type: ignore[misc,valid-type]
            def connection_made(self, transport):
                super().connection_made(transport)
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # protocol 0, as uvicorn
        listener.bind(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(
            lambda: Probe(config=config, server_state=state, app_state={}), sock=listener
        )
        try:
            with socket.create_connection(listener.getsockname(), timeout=10):
                return await asyncio.wait_for(accepted, timeout=10)
        finally:
            server.close()
            for connection in list(state.connections):
                connection.transport.close()
            await server.wait_closed()

    return asyncio.run(scenario())


def test_serve_protocol_sets_tcp_nodelay_on_accepted_connections():
    assert _server_side_nodelay(NoDelayH11) != 0


def test_uvicorn_own_protocol_leaves_it_off_on_such_a_socket():
    """The reason for the class: without it the option stays off (Nagle + delayed ACK)."""
    assert _server_side_nodelay(H11Protocol) == 0
