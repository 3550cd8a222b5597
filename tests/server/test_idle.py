"""A silent client is pinged, then closed; one that answers pings stays."""

from __future__ import annotations

import dataclasses

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request

from corpchat.protocol import SUBPROTOCOL, Hello, encode

from ..client import TestClient
from ..conftest import running_server


@pytest.fixture
def quick_idle(server_config):
    return dataclasses.replace(server_config, ping_interval_s=0.2, idle_timeout_s=0.5)


async def silent_client(url_port: int, token: str):
    """Handshake and hello by hand, then read without ever answering a ping."""
    stream = await trio.open_tcp_stream("127.0.0.1", url_port)
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host="x", target="/", subprotocols=[SUBPROTOCOL])))
    seen: list = []
    with trio.fail_after(5):
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return seen
            ws.receive_data(data)
            for event in ws.events():
                seen.append(event)
                if isinstance(event, AcceptConnection):
                    await stream.send_all(ws.send(BytesMessage(encode(Hello(id=1, token=token)))))
                if isinstance(event, CloseConnection):
                    return seen


@pytest.mark.slow
async def test_silent_client_is_pinged_then_closed_while_a_live_one_stays(
        nursery, quick_idle, clock):
    async with running_server(nursery, quick_idle, clock) as server:
        live = await TestClient(nursery, server.url, await server.user("ann")).connect()
        events = await silent_client(server.app.port, await server.user("ben"))
        assert any(isinstance(e, Ping) for e in events)
        closes = [e for e in events if isinstance(e, CloseConnection)]
        assert closes and closes[0].code == 4002
        assert live.closed_code is None  # trio-websocket answers pings
