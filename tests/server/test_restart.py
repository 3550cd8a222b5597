"""A restart loses nothing that was acked, and retries stay idempotent across it.

Each test runs one App, stops it gracefully, and starts a new App on the
same data directory (the `running_server` helper of tests/conftest.py).
"""

from __future__ import annotations

import pytest
import trio

from corpchat.protocol import Ack, CloseCode, Msg, Send, Welcome

from ..client import TestClient, send_frame, wait_closed
from ..conftest import running_server


@pytest.mark.slow
async def test_every_acked_message_survives_a_restart(nursery, server_config, clock):
    n = 150  # more than one default sync page
    async with running_server(nursery, server_config, clock) as server:
        a_token = await server.user("alice")
        b_token = await server.user("bob")
        alice = await TestClient(nursery, server.url, a_token).connect()
        sent = [alice.session.send_text(f"m{i}", to="bob") for i in range(n)]
        await alice.flush()
        acks = [await alice.expect(Ack) for _ in range(n)]
        assert alice.session.unacked == 0
    assert await wait_closed(alice) == CloseCode.GOING_AWAY

    async with running_server(nursery, server_config, clock) as server:
        fresh = await TestClient(nursery, server.url, b_token, device="new",
                                 sync_token="0").connect()
        msgs = [await fresh.expect(Msg) for _ in range(n)]
        assert [m.client_msg_id for m in msgs] == sent
        assert [m.seq for m in msgs] == list(range(1, n + 1))
        assert [(m.conv, m.seq, m.pos) for m in msgs] == sorted(
            (a.conv, a.seq, a.pos) for a in acks)
        assert server.app.store.stats()["messages_stored"] == n
        # the stream goes on where it stopped
        welcome = fresh.taken(Welcome)[0]
        assert int(welcome.sync) == max(a.pos for a in acks)
        alice = await TestClient(nursery, server.url, a_token).connect()
        await alice.send("after the restart", to="bob")
        ack = await alice.expect(Ack)
        assert (ack.seq, ack.pos) == (n + 1, int(welcome.sync) + 1)
        assert (await fresh.expect(Msg)).text == "after the restart"


async def test_a_client_resumes_after_a_restart_without_loss_or_repeats(
        nursery, server_config, clock):
    async with running_server(nursery, server_config, clock) as server:
        a_token = await server.user("alice")
        b_token = await server.user("bob")
        alice = await TestClient(nursery, server.url, a_token).connect()
        bob = await TestClient(nursery, server.url, b_token).connect()
        for i in range(3):
            await alice.send(f"live {i}", to="bob")
            await alice.expect(Ack)
            await bob.expect(Msg)
        await bob.close()
        for i in range(3):
            await alice.send(f"missed {i}", to="bob")
            await alice.expect(Ack)

    async with running_server(nursery, server_config, clock) as server:
        back = await TestClient(nursery, server.url, b_token,
                                sync_token=bob.session.sync_token).connect()
        assert [m.text for m in back.taken(Msg)] == [f"missed {i}" for i in range(3)]


async def test_idempotency_survives_a_restart(nursery, server_config, clock):
    async with running_server(nursery, server_config, clock) as server:
        a_token = await server.user("alice")
        b_token = await server.user("bob")
        alice = await TestClient(nursery, server.url, a_token).connect()
        await alice.send("exactly once", to="bob", client_msg_id="retry-me")
        first = await alice.expect(Ack)

    async with running_server(nursery, server_config, clock) as server:
        alice = await TestClient(nursery, server.url, a_token).connect()
        await send_frame(alice, Send(id=900, client_msg_id="retry-me", text="exactly once",
                                     to="bob"))
        again = await alice.expect(Ack)
        assert again.re == 900
        assert again.duplicate is True
        assert (again.conv, again.seq, again.pos, again.time) == (
            first.conv, first.seq, first.pos, first.time)
        assert server.app.store.stats()["messages_stored"] == 1
        bob = await TestClient(nursery, server.url, b_token, sync_token="0").connect()
        assert [m.text for m in bob.taken(Msg)] == ["exactly once"]


async def test_unacked_sends_are_resent_after_a_restart(nursery, server_config, clock):
    """A client that lost its connection re-sends what was not acked; nothing doubles."""
    async with running_server(nursery, server_config, clock) as server:
        a_token = await server.user("alice")
        b_token = await server.user("bob")
        alice = await TestClient(nursery, server.url, a_token).connect()
        await alice.send("acked", to="bob")
        await alice.expect(Ack)
    # queued while the server is down: sent (once) on the next connection
    session = alice.session
    pending = session.send_text("written offline", to="bob")
    async with running_server(nursery, server_config, clock) as server:
        again = TestClient(nursery, server.url, a_token)
        again.session = session
        await again.connect()
        ack = await again.expect(Ack)
        assert (ack.client_msg_id, ack.duplicate, ack.seq) == (pending, False, 2)
        bob = await TestClient(nursery, server.url, b_token, sync_token="0").connect()
        assert [m.text for m in bob.taken(Msg)] == ["acked", "written offline"]


async def test_a_cancelled_serve_stops_its_writer_and_closes_the_store(
        nursery, server_config, clock):
    """Cancelling serve (a test's nursery, ^C) is not a shutdown request, yet nothing
    of the server may keep running on the data directory: the writer's thread stops and
    the store closes, so the same directory opens again and holds what was acked."""
    import threading

    from corpchat.adminclient import call, socket_path
    from corpchat.server.app import App

    from ..client import TestServer

    def writers() -> int:
        return sum(t.name == "corpchat-writer" for t in threading.enumerate())

    before = writers()
    app = App(server_config, clock=clock)
    async with trio.open_nursery() as inner:
        port = await inner.start(app.serve)
        admin = socket_path(server_config.data_dir)
        server = TestServer(app, f"ws://127.0.0.1:{port}/",
                            lambda cmd, **args: trio.to_thread.run_sync(call, admin, cmd, args))
        await server.user("bob")
        ann = await TestClient(nursery, server.url, await server.user("ann")).connect()
        await ann.send("before the cancel", to="bob")
        await ann.expect(Ack)
        assert writers() == before + 1
        inner.cancel_scope.cancel()
    assert writers() == before
    async with running_server(nursery, server_config, clock) as server:
        assert server.app.store.stats()["messages_stored"] == 1
