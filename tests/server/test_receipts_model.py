"""Random interleavings of sends and reads against a model of read/unread sets."""

from __future__ import annotations

import os
import tempfile
from contextlib import asynccontextmanager

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpchat.protocol import Ack, Error, ReceiptEvent, Receipts, ReceiptsReply, Welcome
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


@asynccontextmanager
async def _group_of(*users: str):
    """A server on a fresh data directory (removed afterwards), clients for `users`,
    and a group of the first three, u0 its owner: (server, clients, conv, nursery)."""
    with tempfile.TemporaryDirectory(prefix="corpchat-model-") as data:
        config = ServerConfig(data_dir=os.path.join(data, "d"), port=0,
                              map_initial_bytes=4 * 1024 * 1024)
        async with trio.open_nursery() as nursery:
            async with running_server(nursery, config, ManualClock()) as server:
                c = await people(server, nursery, *users)
                yield server, c, await make_group(c["u0"], "u1", "u2"), nursery
                nursery.cancel_scope.cancel()


async def _send(c: dict[str, TestClient], user: str, conv: int, receipt: bool,
                senders: dict[int, str], readers: dict[int, set[str]]) -> None:
    """One send, into the model: its seq's sender, and no readers yet if it asks for
    receipts."""
    await c[user].send("x", conv=conv, receipt=receipt)
    seq = (await c[user].expect(Ack)).seq
    senders[seq] = user
    if receipt:
        readers[seq] = set()


async def _replay(actions):
    async with _group_of(*USERS) as (server, c, conv, nursery):
        senders = {1: "u0"}  # seq -> sender; seq 1 is the creation notice
        cursor = {u: 0 for u in USERS}
        readers: dict[int, set[str]] = {}  # receipt-requested seq -> who read it
        for kind, user, arg in actions:
            if kind == "send":
                await _send(c, user, conv, arg, senders, readers)
            else:
                last = max(senders)
                new = max(cursor[user], min(arg, last))
                reply = await read(c[user], conv, arg)
                assert not isinstance(reply, Error) and reply.seq == new
                for seq in readers:
                    if cursor[user] < seq <= new and senders[seq] != user:
                        readers[seq].add(user)
                cursor[user] = new
        for seq in readers:
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


LATE = "u3"  # joins after the start, may leave and come back; only reads
late_action = st.one_of(
    action,
    st.tuples(st.just("add"), st.just(LATE), st.just(0)),
    st.tuples(st.just("remove"), st.just(LATE), st.just(0)),
    st.tuples(st.just("read"), st.just(LATE), st.integers(0, 14)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(late_action, min_size=1, max_size=16))
def test_a_late_joiners_reads_record_only_what_they_see(actions):
    """Members see the run of messages from their (latest) joining to their leaving:
    a read records receipts for exactly those, wherever the cursor starts."""
    trio.run(_replay_late, actions)


async def _replay_late(actions):
    from corpchat.protocol import GroupAdd, GroupRemove, Ok

    async with _group_of(*USERS, LATE) as (_server, c, conv, _nursery):
        senders = {1: "u0"}  # seq -> sender (system messages: the owner)
        readers: dict[int, set[str]] = {}  # receipt-requested seq -> who read it
        cursor = 0  # the late joiner's
        period: tuple[int, int | None] | None = None  # (join seq, leave seq)

        def sees(seq: int) -> bool:
            return period is not None and period[0] < seq \
                and (period[1] is None or seq < period[1])

        for kind, user, arg in actions:
            if kind == "send":
                await _send(c, user, conv, arg, senders, readers)
            elif kind in ("add", "remove"):
                active = period is not None and period[1] is None
                if active == (kind == "add"):
                    continue  # already a member / not one: nothing to change
                frame = GroupAdd if kind == "add" else GroupRemove
                reply = await request(c["u0"], frame, conv=conv, members=(LATE,))
                assert isinstance(reply, Ok), reply
                senders[reply.seq] = "u0"
                period = (reply.seq, None) if kind == "add" else (period[0], reply.seq)
            elif user == LATE:
                reply = await read(c[LATE], conv, arg)
                if period is None:
                    assert isinstance(reply, Error) and reply.code == "not_member"
                    continue
                assert not isinstance(reply, Error)
                assert cursor <= reply.seq <= max(senders)
                if period[1] is None:
                    assert reply.seq == max(cursor, min(arg, max(senders)))
                for seq in readers:
                    if cursor < seq <= reply.seq and sees(seq):
                        readers[seq].add(LATE)
                cursor = reply.seq
            else:
                reply = await read(c[user], conv, arg)
                assert not isinstance(reply, Error)
                for seq in readers:
                    if senders[seq] != user and seq <= reply.seq:
                        readers[seq].add(user)
        for seq in readers:
            reply = await request(c[senders[seq]], Receipts, reply=(ReceiptsReply, Error),
                                  conv=conv, seq=seq)
            shown_late = sees(seq) and (LATE in readers[seq] or period[1] is None)
            expected_read = readers[seq] - ({LATE} if not sees(seq) else set())
            assert {r.user for r in reply.read} == expected_read, (seq, period, actions)
            unread = set(USERS) - readers[seq] - {senders[seq]}
            if shown_late and LATE not in readers[seq]:
                unread.add(LATE)
            assert set(reply.unread) == unread, (seq, period, actions)
        # the senders' live events (each answered its query after them): every reader
        # recorded, once, and nobody for a message they could not see
        live = [(e.seq, r.user) for u in USERS for e in c[u].taken(ReceiptEvent)
                for r in e.readers]
        assert sorted(live) == sorted((seq, u) for seq in readers
                                      for u in readers[seq]), actions
