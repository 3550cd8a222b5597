"""The close handshake over real sockets (issue 16, item 2; docs/protocol.md §5.4).

After its close frame the server shuts down writing and reads (discarding)
until the client's close frame or EOF, within `close_timeout_s`: closing
with unread bytes would make the kernel answer with a reset, and the client
would lose the `error` frame and the close code.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio
from wsproto.events import AcceptConnection, CloseConnection, Request

from corpchat.protocol import SUBPROTOCOL, CloseCode, ErrorCode, Welcome

from ..conftest import running_server
from .test_abuse import FrameWs, authenticated, errors, wait_until
from .test_bad_input import packed

ROUNDS = 5


def pipelined_pings(ws: FrameWs, count: int) -> bytes:
    """`count` protocol pings in one write, each padded so most stay unread in the kernel."""
    return b"".join(ws.data(packed({"type": "ping", "id": i, "pad": "x" * 100}))
                    for i in range(count))


async def slow_reader(server, handle: str) -> FrameWs:
    """An authenticated client with a small receive buffer, like one across a real
    network: what the server writes waits in the server's kernel, where a reset
    destroys it (on loopback it would be in the client's at once)."""
    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", server.app.port))
    ws = FrameWs(trio.SocketStream(sock))
    await ws.stream.send_all(ws.ws.send(Request(
        host="127.0.0.1", target="/", subprotocols=[SUBPROTOCOL])))
    with trio.fail_after(10):
        while not await ws._read(lambda e: isinstance(e, AcceptConnection)):
            pass
    assert isinstance(await ws.hello(await server.user(handle)), Welcome)
    return ws


async def test_a_pipelined_flood_gets_its_error_and_1008_not_a_reset(server):
    """3,000 pings written at once, read only afterwards: the bucket (manual
    clock) admits 400, and the 101st refusal in a row closes. Most of the flood
    is unread when the server decides to close."""
    for round_ in range(ROUNDS):
        ws = await slow_reader(server, f"flooder{round_}")
        await ws.send(pipelined_pings(ws, 3_000))
        frames, code = await ws.closed()
        assert code == CloseCode.POLICY_VIOLATION, f"round {round_}: {code}"
        assert ErrorCode.RATE_LIMITED in errors(frames)
        await ws.aclose()


async def test_a_bad_frame_gets_its_error_and_1002_with_requests_behind_it(server):
    for round_ in range(ROUNDS):
        ws = await slow_reader(server, f"garbler{round_}")
        # 300 answered pings first: their pongs fill the client's receive buffer.
        await ws.send(pipelined_pings(ws, 300), ws.data(b"\xc1"), pipelined_pings(ws, 2_000))
        frames, code = await ws.closed()
        assert code == CloseCode.PROTOCOL_ERROR, f"round {round_}: {code}"
        assert errors(frames) == [ErrorCode.BAD_FRAME]
        await ws.aclose()


@pytest.fixture
def patient_config(server_config):
    """A close timeout no test waits for: only the client's close or EOF ends a close."""
    return dataclasses.replace(server_config, close_timeout_s=600.0)


async def _closed_by_server(server) -> FrameWs:
    """An authenticated client the server has just closed (the 'kick' path: a bad frame)."""
    ws = await authenticated(server, "kicked")
    await ws.send(ws.data(b"\xc1"))
    assert (await ws.closed())[1] == CloseCode.PROTOCOL_ERROR
    return ws


async def test_the_clients_close_frame_ends_the_wait(nursery, patient_config):
    async with running_server(nursery, patient_config) as server:
        ws = await _closed_by_server(server)
        assert len(server.app.connections) == 1  # waiting for the client's close
        await ws.send(ws.ws.send(CloseConnection(code=CloseCode.PROTOCOL_ERROR)))
        await wait_until(lambda: not server.app.connections)
        await ws.aclose()


async def test_eof_ends_the_wait(nursery, patient_config):
    async with running_server(nursery, patient_config) as server:
        ws = await _closed_by_server(server)
        await ws.aclose()  # gone without a close frame
        await wait_until(lambda: not server.app.connections)


async def test_a_client_that_never_closes_is_closed_after_the_close_timeout(
        nursery, server_config):
    config = dataclasses.replace(server_config, close_timeout_s=1.0)
    async with running_server(nursery, config) as server:
        ws = await _closed_by_server(server)
        with trio.fail_after(30):  # a bound on failure, not a measurement
            while server.app.connections:
                await trio.sleep(0.05)
        await ws.aclose()


async def test_a_drain_ends_as_soon_as_the_clients_are_gone(nursery, patient_config):
    """Shutdown closes every session with 1001; clients that leave at once
    (EOF) end it, long before either timeout."""
    config = dataclasses.replace(patient_config, shutdown_timeout_s=600.0,
                                 max_unauthenticated_per_address=0)
    async with running_server(nursery, config) as server:
        clients = [await authenticated(server, f"u{i}") for i in range(100)]

        async def leave_when_closed(ws: FrameWs) -> None:
            assert (await ws.closed(timeout=30))[1] == 1001
            await ws.aclose()

        server.app.request_shutdown()
        with trio.fail_after(60):
            async with trio.open_nursery() as leaving:
                for ws in clients:
                    leaving.start_soon(leave_when_closed, ws)
            while server.app.connections:
                await trio.sleep(0.05)
