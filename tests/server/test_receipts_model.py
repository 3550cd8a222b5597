"""Random interleavings of sends and reads against a model of read/unread sets."""

from __future__ import annotations

import os
import tempfile

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpchat.protocol import Ack, Error, Receipts, ReceiptsReply, Welcome
from corpchat.protocol.clock import ManualClock
from corpchat.server import ServerConfig

from ..client import TestClient
from ..conftest import running_server
from .test_groups import make_group, people, request
from .test_receipts import read

USERS = ("u0", "u1", "u2")
action = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(USERS), st.booleans()),
    st.tuples(st.just("read"), st.sampled_from(USERS), st.integers(0, 12)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(action, min_size=1, max_size=14))
def test_reads_and_receipts_match_the_model(actions):
    trio.run(_replay, actions)


async def _replay(actions):
    data = tempfile.mkdtemp(prefix="corpchat-model-")
    config = ServerConfig(data_dir=os.path.join(data, "d"), port=0,
                          map_initial_bytes=4 * 1024 * 1024)
    async with trio.open_nursery() as nursery:
        async with running_server(nursery, config, ManualClock()) as server:
            c = await people(server, nursery, *USERS)
            conv = await make_group(c["u0"], "u1", "u2")
            senders = {1: "u0"}  # seq -> sender; seq 1 is the creation notice
            receipt_seqs: set[int] = set()
            cursor = {u: 0 for u in USERS}
            readers: dict[int, set[str]] = {}
            for kind, user, arg in actions:
                if kind == "send":
                    await c[user].send("x", conv=conv, receipt=arg)
                    seq = (await c[user].expect(Ack)).seq
                    senders[seq] = user
                    if arg:
                        receipt_seqs.add(seq)
                        readers[seq] = set()
                else:
                    last = max(senders)
                    new = max(cursor[user], min(arg, last))
                    reply = await read(c[user], conv, arg)
                    assert not isinstance(reply, Error) and reply.seq == new
                    for seq in receipt_seqs:
                        if cursor[user] < seq <= new and senders[seq] != user:
                            readers[seq].add(user)
                    cursor[user] = new
            for seq in receipt_seqs:
                reply = await request(c[senders[seq]], Receipts, reply=(ReceiptsReply, Error),
                                      conv=conv, seq=seq)
                assert {r.user for r in reply.read} == readers[seq]
                assert set(reply.unread) == set(USERS) - readers[seq] - {senders[seq]}
            for user in USERS:
                fresh = await TestClient(nursery, server.url, c[user].session.token).connect()
                welcome = fresh.taken(Welcome)[0]
                expected = sum(1 for seq, who in senders.items()
                               if seq > cursor[user] and who != user and seq != 1)
                got = {u.conv: u.unread for u in welcome.unread}.get(conv, 0)
                assert got == expected, (user, got, expected)
            nursery.cancel_scope.cancel()
