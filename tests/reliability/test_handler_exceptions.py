"""A bug inside one connection's handler, 1,000 times, never stops the server.

The bug is simulated by wrapping the server's request dispatch so that a
`ping` with a poison id raises RuntimeError (not one of the errors the
handler expects). Each poisoned connection must be closed with 1011 and
nothing else; meanwhile two other users chat without a break, and at the
end the server holds no trace of the dead connections.
"""

from __future__ import annotations

import logging

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from corpchat.protocol import SUBPROTOCOL, Ack, CloseCode, Hello, Msg, Ping, Welcome, encode
from corpchat.protocol.codec import decode_server_frame

from ..client import TestClient

POISON = 666_666
ROUNDS = 1000
WORKERS = 8


async def poisoned_connection(url: str, token: str) -> int | None:
    """hello, then the poison ping; the close code the server answers with."""
    async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send_message(encode(Hello(id=1, token=token)))
        assert isinstance(decode_server_frame(await ws.get_message()), Welcome)
        await ws.send_message(encode(Ping(id=POISON)))
        try:
            while True:
                await ws.get_message()  # the sync token etc. may come first: none expected
        except ConnectionClosed as exc:
            return exc.reason.code if exc.reason else None


@pytest.mark.slow
async def test_a_thousand_handler_failures_close_only_their_connections(
        server, nursery, monkeypatch, caplog):
    caplog.set_level(logging.ERROR)
    handlers = server.app.handlers
    dispatch = handlers._dispatch

    def buggy(session, frame):
        if isinstance(frame, Ping) and frame.id == POISON:
            raise RuntimeError("simulated handler bug")
        return dispatch(session, frame)

    monkeypatch.setattr(handlers, "_dispatch", buggy)
    tokens = [await server.user(f"victim{i}") for i in range(WORKERS)]
    alice = await TestClient(nursery, server.url, await server.user("alice")).connect()
    bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
    baseline = len(server.app.connections)
    codes: list[int | None] = []
    chatted = 0

    async def worker(token: str, rounds: int) -> None:
        for _ in range(rounds):
            codes.append(await poisoned_connection(server.url, token))

    with trio.fail_after(120):
        async with trio.open_nursery() as abusers:
            for token in tokens:
                abusers.start_soon(worker, token, ROUNDS // WORKERS)
            while len(codes) < ROUNDS:  # the others chat all along
                cmid = await alice.send(f"still here {chatted}", to="bob")
                ack = await alice.expect(Ack)
                msg = await bob.expect(Msg)
                assert (ack.client_msg_id, msg.client_msg_id, msg.seq) == (cmid, cmid,
                                                                           chatted + 1)
                chatted += 1
                await trio.sleep(0.01)
    assert codes == [CloseCode.INTERNAL_ERROR] * ROUNDS
    assert chatted >= 10
    print(f"handler exceptions: {ROUNDS} connections closed 1011; {chatted} messages "
          f"exchanged by others meanwhile")
    with trio.fail_after(5):
        while len(server.app.connections) > baseline:
            await trio.sleep(0.01)
    victims = [server.app.store.user_by_handle(f"victim{i}").uid for i in range(WORKERS)]
    assert [server.app.hub.sessions_of(uid) for uid in victims] == [[]] * WORKERS
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == ROUNDS, {r.getMessage()[:40] for r in failures}
    assert all("failed" in r.getMessage() and r.exc_info for r in failures)
    await alice.send("after it all", to="bob")
    assert (await bob.expect(Msg)).text == "after it all"
