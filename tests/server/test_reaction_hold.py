"""Held reaction events (1.8): a member's `reaction` frames wait for their next write
or `[everyday] reaction_hold_ms`, in position order, folded per message."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio

from corpchat.protocol import GroupAdd, GroupRemove, Msg, Ok, Ping, Pong, React, ReactionEvent
from corpchat.server.config import EverydayCaps

from ..client import TestClient, WireClient
from ..conftest import running_server
from .test_everyday import sent
from .test_groups import make_group, people, request

FOREVER_MS = 600_000  # longer than any test: a held frame goes only with a later write


def _holding(server_config, hold_ms: int):
    return replace(server_config, everyday=replace(EverydayCaps(), reaction_hold_ms=hold_ms))


def _positions(client: WireClient) -> list[int]:
    return [f.pos for f in client.wire if isinstance(f, (Msg, ReactionEvent))]


async def test_a_held_reaction_rides_with_the_next_message_in_order(nursery, server_config,
                                                                     clock):
    async with running_server(nursery, _holding(server_config, FOREVER_MS), clock) as server:
        c = await people(server, nursery, "ann", "ben", "cat")
        conv = await make_group(c["ann"], "ben", "cat")
        watcher = await WireClient(nursery, server.url, c["cat"].session.token).connect()
        first = await sent(c["ann"], "lunch?", conv=conv)
        ok = await request(c["ben"], React, conv=conv, seq=first.seq, emoji="👍", on=True)
        assert isinstance(ok, Ok)
        assert [e.pos for e in c["ben"].taken(ReactionEvent)] == [ok.pos]  # the reactor: now
        second = await sent(c["ann"], "12:30 then", conv=conv)
        with trio.fail_after(5):
            while not any(isinstance(f, Msg) and f.seq == second.seq for f in watcher.wire):
                watcher._arrived = trio.Event()
                await watcher._arrived.wait()
        [event] = [f for f in watcher.wire if isinstance(f, ReactionEvent)]
        assert (event.seq, event.pos, event.reactions) == (first.seq, ok.pos, {"👍": 1})
        assert _positions(watcher) == sorted(set(_positions(watcher)))  # increasing, once
        assert [e.seq for e in watcher.taken(ReactionEvent)] == [first.seq]  # not dropped


async def test_held_reactions_wait_for_any_write_and_keep_their_order(nursery, server_config,
                                                                       clock):
    async with running_server(nursery, _holding(server_config, FOREVER_MS), clock) as server:
        c = await people(server, nursery, "ann", "ben", "dan", "cat")
        conv = await make_group(c["ann"], "ben", "dan", "cat")
        watcher = await WireClient(nursery, server.url, c["cat"].session.token).connect()
        first = await sent(c["ann"], "vote", conv=conv)
        oks = []
        for who, emoji in (("ben", "👍"), ("dan", "🎉"), ("ben", "🎉")):
            oks.append(await request(c[who], React, conv=conv, seq=first.seq, emoji=emoji,
                                     on=True))
        assert not [f for f in watcher.wire if isinstance(f, ReactionEvent)]  # all held
        await request(watcher, Ping, reply=(Pong,))  # any write takes the held frames first
        frames = [f for f in watcher.wire if isinstance(f, ReactionEvent)]
        assert [f.pos for f in frames] == [ok.pos for ok in oks]  # one per commit, in order
        assert frames[-1].reactions == {"👍": 1, "🎉": 2}
        assert [e.pos for e in watcher.taken(ReactionEvent)] == [ok.pos for ok in oks]


@pytest.mark.parametrize("hold_ms", [50, 0])
async def test_a_held_reaction_goes_out_on_its_own_after_the_hold(nursery, server_config,
                                                                   clock, hold_ms):
    async with running_server(nursery, _holding(server_config, hold_ms), clock) as server:
        c = await people(server, nursery, "ann", "ben")
        conv = await make_group(c["ann"], "ben")
        first = await sent(c["ben"], "done", conv=conv)
        await c["ann"].expect(Msg)
        ok = await request(c["ben"], React, conv=conv, seq=first.seq, emoji="✅", on=True)
        event = await c["ann"].expect(ReactionEvent)  # no other write comes to ann
        assert (event.pos, event.reactions) == (ok.pos, {"✅": 1})


async def _reaction_at(client, ok: Ok) -> ReactionEvent:
    """The `reaction` event a react request answered with `ok` caused."""
    with trio.fail_after(10):
        while True:
            frame = await client.expect(ReactionEvent)
            if frame.pos == ok.pos:
                return frame


async def test_the_kept_audience_follows_devices_and_members(nursery, server_config, clock):
    """Round 3 keeps a conversation's audience of reaction events while nobody comes or
    goes (everyday_fanout._audience): a device that connects later, a member added later
    get the next reaction; a device that left and a removed member do not."""
    async with running_server(nursery, _holding(server_config, 0), clock) as server:
        c = await people(server, nursery, "ann", "ben", "cat")
        conv = await make_group(c["ann"], "ben")

        async def react(seq: int, emoji: str) -> Ok:
            return await request(c["ben"], React, conv=conv, seq=seq, emoji=emoji, on=True)

        first = await sent(c["ann"], "lunch?", conv=conv)
        assert (await _reaction_at(c["ann"], await react(first.seq, "👍"))).reactions == {
            "👍": 1}  # the audience is kept from here
        phone = await TestClient(nursery, server.url, c["ann"].session.token).connect()
        ok = await react(first.seq, "🎉")
        for device in (c["ann"], phone):
            assert (await _reaction_at(device, ok)).reactions == {"👍": 1, "🎉": 1}
        assert isinstance(await request(c["ann"], GroupAdd, conv=conv, members=("cat",)), Ok)
        second = await sent(c["ann"], "cat is here", conv=conv)
        assert (await _reaction_at(c["cat"], await react(second.seq, "👋"))).reactions == {
            "👋": 1}
        assert (await _reaction_at(phone, await react(first.seq, "👀"))).changes[0].emoji == "👀"
        assert isinstance(await request(c["ann"], GroupRemove, conv=conv, members=("cat",)), Ok)
        await phone.close()
        ok = await react(second.seq, "🎉")
        assert (await _reaction_at(c["ann"], ok)).reactions == {"👋": 1, "🎉": 1}
        await request(c["cat"], Ping, reply=(Pong,))  # anything for cat would have come by now
        assert [f.reactions for f in c["cat"].taken(ReactionEvent)] == [{"👋": 1}]
