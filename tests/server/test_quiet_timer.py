"""Quiet-hour transitions happen at their instant (issue 16, item 5).

The injected ManualClock wakes the transition timer only when it is moved past
the instant the timer sleeps until (as real time would), so a deadline added
while the timer sleeps for a later one (or for none) is only met if adding it
wakes the timer.
"""

from __future__ import annotations

import time

import trio

from corpchat.protocol import (
    Ack,
    Digest,
    Msg,
    Ok,
    Presence,
    QuietEvent,
    QuietSet,
    QuietWindow,
)
from corpchat.server import quiet as quiet_module

from ..conftest import running_server
from .test_groups import people, request
from .test_quiet import FRIDAY, _barrier, settle, take_break


async def peers(server, nursery):
    """ann and ben share a conversation, so ann hears ben's presence."""
    c = await people(server, nursery, "ann", "ben")
    await c["ann"].send("hello", to="ben")
    await c["ann"].expect(Ack)
    await c["ben"].expect(Msg)
    return c


async def silent_to_ben(c) -> bool | None:
    """Whether a message from ann reaches ben silently (the ack must agree)."""
    await c["ann"].send("probe", to="ben")
    ack = await c["ann"].expect(Ack)
    msg = await c["ben"].expect(Msg)
    assert (ack.recipient_resting_until is not None) == bool(msg.silent)
    return msg.silent


class SteppedWallClock:
    """Real time from an instant the test sets, and like SystemClock it never nudges a
    timer: what production runs on, where a timer must wake by itself."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def subscribe(self, callback) -> None:  # noqa: ANN001
        """Nothing to nudge, as for SystemClock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def monotonic(self) -> float:
        return time.monotonic()

    def set(self, now_ms: int) -> None:
        self.offset_ms += now_ms - self.now_ms()


async def test_a_window_added_while_the_timer_sleeps_opens_on_time(nursery, server_config):
    """The timer sleeps for lack of anything due; a window opening in 0.5 s must wake it
    (it used to be noticed by the next minute's re-check: up to 60 s late)."""
    clock = SteppedWallClock()
    async with running_server(nursery, server_config, clock) as server:
        c = await peers(server, nursery)
        clock.set(1_800_000_000_000 + 10 * 60_000 - 500)  # Friday 08:09:59.500 UTC
        window = QuietWindow(day=FRIDAY, start="08:10", end="08:11")
        assert isinstance(await request(c["ben"], QuietSet, timezone="UTC",
                                        windows=(window,)), Ok)
        presence = await c["ann"].expect(Presence)  # well before the next minute
        assert (presence.status, presence.until) == ("resting", 1_800_000_000_000 + 11 * 60_000)


async def test_a_break_ends_at_its_instant(server, nursery, clock):
    c = await peers(server, nursery)
    end = clock.now_ms() + 30 * 60_000
    assert isinstance(await take_break(c["ben"], 30), Ok)
    assert (await c["ben"].expect(QuietEvent)).quiet.resting_until == end
    assert (await c["ann"].expect(Presence)).status == "resting"
    clock.advance(30 * 60 - 0.01)
    await settle()
    assert await silent_to_ben(c) is True  # 10 ms before the end: still resting
    clock.advance(0.01)  # exactly the end
    await settle()
    assert (await c["ben"].expect(QuietEvent)).quiet.resting_until is None
    assert (await c["ann"].expect(Presence)).status == "available"
    assert (await c["ben"].expect(Digest)).messages == 1
    clock.advance(0.01)
    assert await silent_to_ben(c) is None


async def test_a_schedule_window_opens_and_closes_at_its_instants(server, nursery, clock):
    c = await peers(server, nursery)
    opens = clock.now_ms() + 10 * 60_000  # 08:10, the clock starting at 08:00
    window = QuietWindow(day=FRIDAY, start="08:10", end="08:20")
    assert isinstance(await request(c["ben"], QuietSet, timezone="UTC", windows=(window,)), Ok)
    assert (await c["ben"].expect(QuietEvent)).quiet.resting_until is None
    clock.advance(10 * 60)
    await settle()
    presence = await c["ann"].expect(Presence)
    assert (presence.status, presence.until) == ("resting", opens + 10 * 60_000)
    assert (await c["ben"].expect(QuietEvent)).quiet.resting_until == opens + 10 * 60_000
    assert await silent_to_ben(c) is True
    clock.advance(10 * 60)
    await settle()
    assert (await c["ann"].expect(Presence)).status == "available"
    assert (await c["ben"].expect(Digest)).messages == 1
    assert await silent_to_ben(c) is None


async def test_a_replaced_break_ends_when_the_new_one_does(server, nursery, clock):
    c = await peers(server, nursery)
    await take_break(c["ben"], 30)
    assert isinstance(await take_break(c["ben"], 10), Ok)  # shorter: the timer must wake
    clock.advance(10 * 60)
    await settle()
    await _barrier(c["ann"], c["ben"])
    # the replacement is announced too (a new `until`)
    assert [p.status for p in c["ann"].taken(Presence)] == ["resting", "resting", "available"]
    await take_break(c["ben"], 5)
    assert isinstance(await take_break(c["ben"], 20), Ok)  # longer: the 5-minute end is stale
    clock.advance(5 * 60)
    await settle()
    assert await silent_to_ben(c) is True
    clock.advance(15 * 60)
    await settle()
    await _barrier(c["ann"], c["ben"])
    assert [p.status for p in c["ann"].taken(Presence)] == [
        "resting", "resting", "available"] * 2
    clock.advance(30 * 60)  # past every replaced end: nothing more happens
    await settle()
    await _barrier(c["ann"], c["ben"])
    assert len(c["ann"].taken(Presence)) == 6
    assert [q.quiet.resting_until is None for q in c["ben"].taken(QuietEvent)] == [
        False, False, True, False, False, True]


async def test_many_users_due_at_once_are_turned_in_slices(server, nursery, clock,
                                                          monkeypatch):
    """Other tasks run between slices: an observer stepping once per scheduling round
    sees a partial count (all at once would jump from none to all)."""
    monkeypatch.setattr(quiet_module, "DUE_SLICE", 2)
    for i in range(7):
        await server.user(f"u{i}", corp="acme")
    await server.admin("corp.quiet_hours", corp="acme", timezone="UTC", windows="fri 08:10-08:20")
    quiet = server.app.quiet
    before = quiet.transitions
    seen: list[int] = []
    clock.advance(10 * 60)
    with trio.fail_after(5):
        while quiet.transitions - before < 7:
            seen.append(quiet.transitions - before)
            await trio.sleep(0)
    assert set(seen) & {2, 4, 6}, seen
    assert len(quiet.resting) == 7
