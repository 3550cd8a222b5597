"""What a new connection gets while the server drains, and after (docs/operations.md
"Signals and shutdown", docs/protocol.md §2 "draining").

A member that never reads holds the drain open: its session is closed with 1001 but
cannot take its last bytes, so the server waits (close_timeout_s, set long here) until
the test lets go of that socket.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio

from corpchat.protocol import Ack

from ..client import TestClient
from ..conftest import running_server
from .test_admin import _http_get
from .test_group_scale import SilentPeer, wait_for

UPGRADE = (b"GET / HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
           b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n"
           b"sec-websocket-protocol: corpchat.v1\r\n\r\n")


async def _answer(port: int, request: bytes) -> bytes:
    """Everything the server sends to one request before it closes the connection."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                data += chunk
    return data


async def test_a_draining_server_answers_503_then_refuses_connections(
        nursery, server_config, clock):
    config = dataclasses.replace(server_config, close_timeout_s=60.0, shutdown_timeout_s=60.0)
    runner = running_server(nursery, config, clock)
    async with runner as srv:
        app, port = srv.app, srv.app.port
        ann = await TestClient(nursery, srv.url, await srv.user("ann")).connect()
        silent = await SilentPeer.connect(port, await srv.user("ben"))
        (stuck,) = app.hub.sessions_of(app.store.user_by_handle("ben").uid)
        with trio.fail_after(30):  # until the server's writes to ben no longer fit the socket
            while stuck.buffered_bytes == 0:
                await ann.send("x" * 3000, to="ben")
                await ann.expect(Ack)

        await srv.admin("drain")
        await wait_for(lambda: stuck.close_code == 1001, 10, "the sessions to be closed with 1001")
        assert app.draining and stuck in [c.session for c in app.connections]
        status_line = (await _answer(port, UPGRADE)).split(b"\r\n", 1)[0]
        assert status_line.split()[1] == b"503"
        assert await _http_get(port, "/healthz") == (503, b"draining\n")

        await trio.aclose_forcefully(silent.stream)  # ben's socket goes: the drain can end
        with trio.fail_after(10):
            await runner.done.wait()
        with pytest.raises(OSError):  # the listener is closed: refused at the TCP level
            await trio.open_tcp_stream("127.0.0.1", port)
