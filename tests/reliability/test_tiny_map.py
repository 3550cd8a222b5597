"""A map that starts at 1 MiB grows under load without a client ever seeing an error.

3,000 messages of 500 bytes (about 2 MiB of records alone) from ten
clients at once into a server whose LMDB map starts at 1 MiB, fsync on:
the writer must abort, grow the map and retry several times. Every send is
acked, nothing is refused, and a fresh device reads all 3,000 back in order.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio

from corpchat.protocol import Ack, Error, Msg

from ..client import TestClient
from ..conftest import running_server

CLIENTS = 10
PER_CLIENT = 300  # under the per-connection burst of 400 (the test clock does not move)
TEXT_CHARS = 500


@pytest.mark.slow
async def test_tiny_map_grows_under_load_and_nobody_sees_an_error(nursery, server_config, clock):
    config = dataclasses.replace(server_config, map_initial_bytes=1024 * 1024, durable=True)
    async with running_server(nursery, config, clock) as server:
        sink_token = await server.user("sink")
        clients = [await TestClient(nursery, server.url, await server.user(f"u{i}")).connect()
                   for i in range(CLIENTS)]
        with trio.fail_after(60):
            for i, client in enumerate(clients):
                for n in range(PER_CLIENT):
                    text = f"{i:02d}-{n:04d}-".ljust(TEXT_CHARS, "x")
                    client.session.send_text(text, to="sink", client_msg_id=f"u{i}-{n}")
            async with trio.open_nursery() as senders:
                for client in clients:
                    senders.start_soon(client.flush)
            for client in clients:
                while len(client.taken(Ack)) < PER_CLIENT and not client.taken(Error):
                    await client.expect(Ack)
        assert [c.taken(Error) for c in clients] == [[]] * CLIENTS
        assert [c.session.unacked for c in clients] == [0] * CLIENTS
        stats = server.app.writer.stats
        assert stats.map_grows > 0 and stats.failures == 0, stats
        assert server.app.store.map_bytes > 1024 * 1024
        print(f"map_grows={stats.map_grows} map_bytes={server.app.store.map_bytes} "
              f"batches={stats.batches} max_batch={stats.max_batch}")
        assert server.app.store.stats()["messages_stored"] == CLIENTS * PER_CLIENT

        with trio.fail_after(60):
            fresh = await TestClient(nursery, server.url, sink_token, device="audit",
                                     sync_token="0").connect()
        msgs = fresh.taken(Msg)
        assert len(msgs) == CLIENTS * PER_CLIENT
        assert [m.pos for m in msgs] == sorted({m.pos for m in msgs})
        for i, client in enumerate(clients):
            mine = [m for m in msgs if m.sender == f"u{i}"]
            assert [m.seq for m in mine] == list(range(1, PER_CLIENT + 1))
            assert [m.text[:8] for m in mine] == [f"{i:02d}-{n:04d}-" for n in range(PER_CLIENT)]
            acked = {a.client_msg_id: (a.conv, a.seq, a.pos) for a in client.taken(Ack)}
            assert {m.client_msg_id: (m.conv, m.seq, m.pos) for m in mine} == acked
