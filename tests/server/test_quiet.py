"""Quiet hours over real sockets, driven by the injected clock (no sleeping)."""

from __future__ import annotations

import dataclasses
import json

import h11
import pytest
import trio

from corpchat.protocol import (
    Ack,
    Digest,
    Error,
    Msg,
    Ok,
    Presence,
    QuietBreak,
    QuietEvent,
    QuietResume,
    QuietSet,
    QuietWindow,
    UserInfo,
    UserInfoReply,
    Welcome,
)

from ..client import TestClient
from ..conftest import running_server
from .test_groups import make_contact, make_group, people, request

# The test clock starts at 2027-01-15 08:00 UTC, a Friday (weekday 4).
FRIDAY = 4


async def take_break(client: TestClient, minutes: int):
    return await request(client, QuietBreak, minutes=minutes)


async def settle() -> None:
    """Let the quiet-hours task run after the clock moved."""
    for _ in range(5):
        await trio.sleep(0.01)


async def test_a_break_makes_delivery_silent_and_tells_peers(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    await c["ann"].send("before", to="ben")
    await c["ann"].expect(Ack)
    assert (await c["ben"].expect(Msg)).silent is None
    assert isinstance(await take_break(c["ben"], 30), Ok)
    presence = await c["ann"].expect(Presence)
    until = clock.now_ms() + 30 * 60_000
    assert (presence.user, presence.status, presence.until) == ("ben", "resting", until)
    state = await c["ben"].expect(QuietEvent)
    assert state.quiet.resting_until == until
    await c["ann"].send("while resting", to="ben")
    ack = await c["ann"].expect(Ack)
    assert ack.recipient_resting_until == until
    msg = await c["ben"].expect(Msg)
    assert (msg.text, msg.silent) == ("while resting", True)
    info = await request(c["ann"], UserInfo, reply=(UserInfoReply, Error), user="ben")
    assert (info.status, info.until) == ("resting", until)
    assert isinstance(await request(c["ben"], QuietResume), Ok)
    assert (await c["ann"].expect(Presence)).status == "available"
    digest = await c["ben"].expect(Digest)
    assert (digest.messages, digest.conversations) == (1, 1)


async def test_a_break_is_bounded_and_well_formed(server, nursery):
    c = await people(server, nursery, "ann")
    for fields in ({"minutes": 7 * 24 * 60 + 1}, {"minutes": 0}, {}, {"minutes": 5, "until": 1}):
        reply = await request(c["ann"], QuietBreak, **fields)
        assert isinstance(reply, Error) and reply.code == "bad_request", fields


async def test_schedule_transitions_follow_the_clock(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    await c["ann"].send("hello", to="ben")  # peers: they share a conversation
    await c["ann"].expect(Ack)
    await c["ben"].expect(Msg)
    window = QuietWindow(day=FRIDAY, start="07:00", end="09:00")
    assert isinstance(await request(c["ben"], QuietSet, timezone="UTC", windows=(window,)), Ok)
    presence = await c["ann"].expect(Presence)
    assert (presence.status, presence.until) == ("resting", clock.now_ms() + 3600_000)
    await c["ann"].send("in the window", to="ben")
    await c["ann"].expect(Ack)
    assert (await c["ben"].expect(Msg)).silent is True
    clock.advance(3600)
    await settle()
    assert (await c["ann"].expect(Presence)).status == "available"
    assert (await c["ben"].expect(Digest)).messages == 1
    await c["ann"].send("after the window", to="ben")
    await c["ann"].expect(Ack)
    assert (await c["ben"].expect(Msg)).silent is None
    refused = await request(c["ben"], QuietSet, timezone="Mars/Olympus", windows=(window,))
    assert isinstance(refused, Error) and refused.code == "bad_request"


async def test_corp_default_applies_to_members_without_their_own(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    await request(c["ann"], QuietSet, timezone="UTC", windows=())
    await server.admin("corp.quiet_hours", corp="acme", timezone="UTC", windows="fri 06:00-10:00")
    await c["ann"].send("to ben", to="ben")
    assert (await c["ann"].expect(Ack)).recipient_resting_until is not None
    await c["ben"].send("to ann", to="ann")
    assert (await c["ben"].expect(Ack)).recipient_resting_until is None  # ann has her own
    fresh = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    assert fresh.taken(Welcome)[0].quiet.source == "corp"


@pytest.fixture
def urgent_config(server_config):
    return dataclasses.replace(server_config, urgent_per_day=2)


async def test_urgent_bypasses_quiet_hours_within_a_daily_quota(nursery, urgent_config, clock):
    async with running_server(nursery, urgent_config, clock) as server:
        c = await people(server, nursery, "ann", "ben")
        c.update(await people(server, nursery, "cora", corp=None))
        await make_contact(c["ann"], c["cora"])
        await take_break(c["ben"], 60)
        for i in range(2):
            await c["ann"].send(f"urgent {i}", to="ben", urgent=True)
            await c["ann"].expect(Ack)
            msg = await c["ben"].expect(Msg)
            assert (msg.urgent, msg.silent) == (True, None)
        await c["ann"].send("one too many", to="ben", urgent=True)
        over = await c["ann"].expect(Error)
        assert over.code == "quota_exceeded" and over.retry_after_ms > 0
        await c["cora"].send("help!", to="ann", urgent=True)
        assert (await c["cora"].expect(Error)).code == "forbidden"


class PushReceiver:
    """A real local HTTP endpoint that records the JSON it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.arrived = trio.Event()
        self.status_for: dict[str, int] = {}  # device token -> HTTP status (default 204)

    async def serve(self, nursery: trio.Nursery) -> str:
        listeners = await nursery.start(
            lambda task_status: trio.serve_tcp(self._handle, 0, host="127.0.0.1",
                                               task_status=task_status))
        port = listeners[0].socket.getsockname()[1]
        return f"http://127.0.0.1:{port}/push"

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        self.bodies.append(json.loads(body))
        self.arrived.set()
        status = self.status_for.get(self.bodies[-1]["device_token"], 204)
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=[])))
        await stream.send_all(conn.send(h11.EndOfMessage()))
        await stream.aclose()

    async def wait_for(self, count: int) -> list[dict]:
        with trio.fail_after(5):
            while len(self.bodies) < count:
                self.arrived = trio.Event()
                await self.arrived.wait()
        return self.bodies


async def test_push_is_held_while_resting_then_one_digest(nursery, server_config, clock):
    receiver = PushReceiver()
    url = await receiver.serve(nursery)
    config = dataclasses.replace(server_config, push_url=url)
    async with running_server(nursery, config, clock) as server:
        from corpchat.protocol import DeviceRegister

        c = await people(server, nursery, "ann", "ben")
        await request(c["ben"], DeviceRegister, platform="apns", push_token="tok-ben")
        await take_break(c["ben"], 30)
        await c["ben"].close()
        await c["ann"].send("held 1", to="ben")
        await c["ann"].send("held 2", to="ben")
        for _ in range(2):
            await c["ann"].expect(Ack)
        await settle()
        assert receiver.bodies == []
        clock.advance(31 * 60)
        await settle()
        (digest,) = await receiver.wait_for(1)
        assert (digest["kind"], digest["user"], digest["device_token"]) == ("digest", "ben",
                                                                             "tok-ben")
        assert "2 new messages in 1 conversations" in digest["preview"]
        await c["ann"].send("not resting now", to="ben")
        await c["ann"].expect(Ack)
        bodies = await receiver.wait_for(2)
        assert (bodies[1]["kind"], bodies[1]["preview"], bodies[1]["sender"]) == (
            "message", "not resting now", "ann")


async def _barrier(*clients: TestClient) -> None:
    """A ping answered on each connection: events sent before it have arrived."""
    from corpchat.protocol import Ping, Pong

    for client in clients:
        await request(client, Ping, reply=(Pong,))


async def test_each_break_and_resume_is_one_event_per_session(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    ben_phone = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    await make_group(c["ann"], "ben")  # a second shared conversation: still one presence
    await c["ann"].send("hi", to="ben")
    await c["ann"].expect(Ack)
    assert isinstance(await take_break(c["ben"], 30), Ok)
    await _barrier(c["ann"], c["ben"], ben_phone)
    assert [p.status for p in c["ann"].taken(Presence)] == ["resting"]
    for device in (c["ben"], ben_phone):
        assert [bool(q.quiet.resting_until) for q in device.taken(QuietEvent)] == [True]
    assert isinstance(await request(c["ben"], QuietResume), Ok)
    await _barrier(c["ann"], c["ben"], ben_phone)
    assert [p.status for p in c["ann"].taken(Presence)] == ["resting", "available"]
    for device in (c["ben"], ben_phone):
        assert [bool(q.quiet.resting_until) for q in device.taken(QuietEvent)] == [True, False]
    # a settings change that does not change resting is still one `quiet` event, no presence
    assert isinstance(await request(c["ben"], QuietSet, enabled=False), Ok)
    await _barrier(c["ann"], c["ben"], ben_phone)
    assert len(c["ann"].taken(Presence)) == 2
    for device in (c["ben"], ben_phone):
        assert len(device.taken(QuietEvent)) == 3


async def test_devices_are_unregistered_moved_and_dropped_when_gone(nursery, server_config,
                                                                    clock):
    from corpchat.protocol import DeviceRegister, DeviceUnregister
    from corpchat.store import settings

    receiver = PushReceiver()
    url = await receiver.serve(nursery)
    config = dataclasses.replace(server_config, push_url=url)
    async with running_server(nursery, config, clock) as server:
        store, push = server.app.store, server.app.push
        c = await people(server, nursery, "ann", "ben", "cat")
        ann, ben = (store.user_by_handle(h).uid for h in ("ann", "ben"))

        def tokens(uid: int) -> set[str]:
            return {token for _, token in store.read(settings.devices, uid)}

        await request(c["ann"], DeviceRegister, platform="fcm", push_token="tok-a")
        for token in ("tok-b", "tok-gone", "tok-x", "tok-a"):  # ann's phone is ben's now
            assert isinstance(await request(c["ben"], DeviceRegister, platform="fcm",
                                            push_token=token), Ok)
        for token in ("tok-x", "never-registered"):  # signing out twice is fine
            assert isinstance(await request(c["ben"], DeviceUnregister, push_token=token), Ok)
        assert isinstance(await request(c["ann"], DeviceUnregister, push_token="tok-b"), Ok)
        assert (tokens(ann), tokens(ben)) == (set(), {"tok-a", "tok-b", "tok-gone"})
        assert ann not in push.with_devices and ben in push.with_devices
        await c["ben"].close()
        receiver.status_for["tok-gone"] = 410  # the push service says: no such device
        await c["cat"].send("one", to="ben")
        await c["cat"].expect(Ack)
        first = await receiver.wait_for(3)
        assert {b["device_token"] for b in first} == {"tok-a", "tok-b", "tok-gone"}
        with trio.fail_after(5):
            while "tok-gone" in tokens(ben):  # dropped by the push task, after the 410
                await trio.sleep(0.01)
        await c["cat"].send("two", to="ben")
        await c["cat"].expect(Ack)
        second = (await receiver.wait_for(5))[3:]
        assert sorted((b["user"], b["device_token"], b["preview"]) for b in second) == [
            ("ben", "tok-a", "two"), ("ben", "tok-b", "two")]
        assert push.stats.dropped_devices == 1


async def test_the_digest_counts_what_counts_as_unread(server, nursery, clock):
    """§21.5 / §18.3: a text message from someone else, not a system message and not the
    user's own (from another device, or a mass message they sent)."""
    from corpchat.protocol import BroadcastCustomers, BroadcastDone, GroupRename

    from .test_customers import shop

    c = await shop(server, nursery, customers=("c1",))
    amy_phone = await TestClient(nursery, server.url, c["amy"].session.token).connect()
    team = await make_group(c["bea"], "amy")
    await _barrier(c["amy"])
    before = len(c["amy"].taken(Msg))  # the group's creation
    await take_break(c["amy"], 30)
    await c["bea"].send("missed", to="amy")
    await c["bea"].expect(Ack)
    assert isinstance(await request(c["bea"], GroupRename, conv=team, name="crew"), Ok)
    await amy_phone.send("from my phone", to="bea")
    await amy_phone.expect(Ack)
    done = await request(amy_phone, BroadcastCustomers, reply=(BroadcastDone, Error),
                         client_msg_id="sale", text="spring sale")
    assert done.sent == 1
    await _barrier(c["amy"])
    during = c["amy"].taken(Msg)[before:]
    assert len(during) == 4 and all(m.silent for m in during)
    clock.advance(30 * 60)
    await settle()
    digest = await c["amy"].expect(Digest)
    assert (digest.messages, digest.conversations) == (1, 1)
