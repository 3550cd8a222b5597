"""HTTP/1.1 keep-alive of the API and hooks routes (server/api/exchange.py): many
requests on one connection, pipelined ones, the bounds (requests per connection,
the idle timeout), and what ends a kept connection. Raw sockets and h11's client
side, so the test sees exactly what the server writes and when it closes."""

from __future__ import annotations

import dataclasses
import json

import h11
import pytest
import trio

from corpchat.protocol import Msg

from ..conftest import running_server
from .test_abuse import wait_until
from .test_api_robots import _add
from .test_descriptors import refused_at_accept
from .test_groups import make_group, people

LIMIT = 5


@pytest.fixture
def server_config(server_config):
    platform = dataclasses.replace(server_config.platform, keepalive_requests=LIMIT,
                                   keepalive_idle_s=0.3)
    return dataclasses.replace(server_config, platform=platform)


class Http:
    """One client connection, requests and answers through h11."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream, self.h11 = stream, h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, server) -> Http:
        return cls(await trio.open_tcp_stream("127.0.0.1", server.app.port))

    @staticmethod
    def request(method: str, target: str, body: bytes = b"",
                headers: tuple[tuple[str, str], ...] = ()) -> bytes:
        """A request's bytes (h11's client writes one at a time: pipelined ones are
        written each by a client of its own)."""
        writer = h11.Connection(h11.CLIENT)
        head = [("host", "x"), ("content-length", str(len(body))), *headers]
        return (writer.send(h11.Request(method=method, target=target, headers=head))
                + writer.send(h11.Data(data=body)) + writer.send(h11.EndOfMessage()))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def answer(self) -> tuple[int, dict[bytes, bytes], bytes]:
        status, headers, body = 0, {}, b""
        if self.h11.our_state is h11.IDLE:  # the reader's h11 must think it asked
            self.h11.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
            self.h11.send(h11.EndOfMessage())
        with trio.fail_after(10):
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA:
                    self.h11.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status, headers = event.status_code, dict(event.headers)
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
                        self.h11.start_next_cycle()
                    return status, headers, body
                else:
                    raise AssertionError(event)

    async def closed_by_server(self) -> bool:
        with trio.fail_after(10):
            try:
                return await self.stream.receive_some(65536) == b""
            except trio.BrokenResourceError:  # a reset is a close too
                return True


async def test_many_api_requests_on_one_connection(server):
    http = await Http.open(server)
    for _ in range(LIMIT - 1):
        await http.send(http.request("GET", "/api/v1/users/nobody"))
        status, headers, body = await http.answer()
        assert status == 401 and b"invalid_token" not in body  # no token sent
        assert b"connection" not in headers
    await http.send(http.request("GET", "/api/v1/users/nobody"))
    status, headers, _ = await http.answer()  # the last one the bound allows
    assert status == 401 and headers[b"connection"] == b"close"
    assert await http.closed_by_server()


async def test_pipelined_requests_are_answered_in_order(server):
    http = await Http.open(server)
    await http.send(http.request("POST", "/api/v1/token", b'{"app_id": 1}')
                    + http.request("GET", "/api/v1/nothing")
                    + http.request("POST", "/api/v1/token", b"not json"))
    answers = [await http.answer() for _ in range(3)]
    assert [status for status, _, _ in answers] == [400, 404, 400]
    assert b"secret" in answers[0][2] and b"bad_json" in answers[2][2]


async def test_an_idle_kept_connection_is_closed(server):
    http = await Http.open(server)
    await http.send(http.request("GET", "/api/v1/users/x"))
    assert (await http.answer())[0] == 401
    assert await http.closed_by_server()  # after keepalive_idle_s without a request


async def test_a_client_that_asks_to_close_is_closed(server):
    http = await Http.open(server)
    await http.send(http.request("GET", "/api/v1/users/x", headers=(("connection", "close"),)))
    status, headers, _ = await http.answer()
    assert status == 401 and headers[b"connection"] == b"close"
    assert await http.closed_by_server()


async def test_another_kind_of_request_after_an_api_one_is_answered_then_closed(server):
    http = await Http.open(server)
    await http.send(http.request("GET", "/api/v1/users/x"))
    assert (await http.answer())[0] == 401
    await http.send(http.request("GET", "/healthz"))
    status, headers, body = await http.answer()
    assert (status, body, headers[b"connection"]) == (200, b"ok\n", b"close")
    assert await http.closed_by_server()


async def test_a_websocket_upgrade_must_come_first(server):
    http = await Http.open(server)
    await http.send(http.request("GET", "/api/v1/users/x"))
    assert (await http.answer())[0] == 401
    await http.send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
                    b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: corpchat.v1\r\n\r\n")
    with trio.fail_after(10):
        data = b""
        while b"\r\n\r\n" not in data:
            more = await http.stream.receive_some(65536)
            assert more, data
            data += more
    assert data.startswith(b"HTTP/1.1 400 ")
    assert await http.closed_by_server()


async def test_a_413_closes_the_connection(server):
    http = await Http.open(server)
    await http.send(b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n")
    status, headers, _ = await http.answer()
    assert status == 413 and headers[b"connection"] == b"close"
    assert await http.closed_by_server()


async def test_a_robot_posts_over_one_kept_connection(server, nursery):
    c = await people(server, nursery, "ann", "bob")
    added = await _add(c["ann"], await make_group(c["ann"], "bob"))
    path = "/hooks/robot/" + added.url.rsplit("/", 1)[1]
    http = await Http.open(server)
    seqs = []
    for i in range(LIMIT - 1):
        await http.send(http.request("POST", path, b'{"text": "n%d"}' % i))
        status, headers, body = await http.answer()
        assert status == 200 and b"connection" not in headers, body
        seqs.append(json.loads(body)["seq"])
    assert seqs == sorted(seqs) and len(set(seqs)) == LIMIT - 1
    texts = []
    while len(texts) < LIMIT - 1:
        msg = await c["bob"].expect(Msg)
        if msg.robot:
            texts.append(msg.text)
    assert texts == [f"n{i}" for i in range(LIMIT - 1)]


async def test_kept_connections_count_against_the_per_address_cap(nursery, server_config):
    config = dataclasses.replace(server_config, max_unauthenticated_per_address=2)
    async with running_server(nursery, config) as server:
        kept = [await Http.open(server) for _ in range(2)]
        for http in kept:
            await http.send(http.request("GET", "/api/v1/users/x"))
            assert (await http.answer())[0] == 401  # answered, and kept
        assert server.app.admission.total == 2
        assert await refused_at_accept(server)  # a third from 127.0.0.1
        for http in kept:
            await http.stream.aclose()
        await wait_until(lambda: server.app.admission.total == 0)
