"""``recompense serve``'s HTTP protocol sets TCP_NODELAY on every accepted connection,
and its worker processes are tuned for serving.

The listening socket is made the way uvicorn makes it with ``--workers`` > 1 (protocol
0), where asyncio leaves the option off; the check reads the option on the server's own
end of a real loopback connection, so it does not depend on timing. It runs on both
event loops: asyncio's, and uvloop's (the one ``recompense serve`` uses).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import pytest
import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from recompense.gil import SWITCH_INTERVAL_S
from recompense.web.server import NoDelayHttpTools


async def _ok(scope, receive, send):  # pragma: no cover - no request is sent
    raise AssertionError("no request expected")


def _server_side_nodelay(protocol_class: type[HttpToolsProtocol], loop: str = "asyncio") -> int:
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

    return uvloop.run(scenario()) if loop == "uvloop" else asyncio.run(scenario())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_serve_protocol_sets_tcp_nodelay_on_accepted_connections(loop):
    assert _server_side_nodelay(NoDelayHttpTools, loop) != 0


def test_uvicorn_own_protocol_leaves_it_off_on_such_a_socket():
    """The reason for the class: without it the option stays off (Nagle + delayed ACK)."""
    assert _server_side_nodelay(HttpToolsProtocol) == 0


TUNED = """
import gc, json, sys
from fastapi.testclient import TestClient
from recompense.web.app import create_app
from recompense.web.settings import Settings
settings = Settings.from_env({"RECOMPENSE_JWT_SECRET": "t" * 40}, db_url=sys.argv[1])
before = {"interval": sys.getswitchinterval(), "frozen": gc.get_freeze_count()}
with TestClient(create_app(settings, tune=sys.argv[2] == "tune")) as client:
    assert client.get("/healthz").status_code == 200
    after = {"interval": sys.getswitchinterval(), "frozen": gc.get_freeze_count()}
print(json.dumps({"before": before, "after": after}))
"""


@pytest.mark.parametrize("tune", [True, False])
def test_serving_workers_freeze_the_heap_and_shorten_the_switch_interval(ledger_url, tune):
    """In a process of its own (the tuning is process-wide): ``recompense serve``'s
    workers freeze start-up objects out of the collector's sight and set the GIL's switch
    interval; an app made for a test or a script (``tune=False``) leaves both alone."""
    out = subprocess.run(
        [sys.executable, "-c", TUNED, ledger_url, "tune" if tune else "plain"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["before"] == {"interval": 0.005, "frozen": 0}
    if tune:
        assert found["after"]["interval"] == SWITCH_INTERVAL_S
        assert found["after"]["frozen"] > 50_000  # the imported packages at least
    else:
        assert found["after"] == found["before"]
