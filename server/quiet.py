"""Quiet hours ("take a break"): who is resting now, kept in memory.

Resting changes only at transitions — a schedule window opening or closing,
a break starting or ending — so fan-out pays one dict lookup per delivery,
never a schedule evaluation. Each user with a schedule or a break has one
entry in a heap of due times; the one `run` task sleeps until the earliest
(an `Alarm` on the injected clock, woken early when a nearer one is added),
re-evaluates those users, and on a change tells their peers (`presence`),
their own devices (`quiet`) and, when a rest ends, sends one digest of what
arrived meanwhile. A replaced due time stays in the heap and is skipped
when popped (`_next` holds each user's current one).
"""

from __future__ import annotations

import heapq
import logging

import trio

from corpchat.protocol import Digest, Presence, QuietEvent, QuietState, QuietWindow
from corpchat.protocol.clock import Clock
from corpchat.protocol.quiet import Schedule, next_change, resting_at
from corpchat.store import Store, settings

from .online import Online
from .push import PushGateway

log = logging.getLogger("corpchat.quiet")
HORIZON_MS = 8 * 86_400_000
MAX_BREAK_MS = 7 * 86_400_000
MAX_SLEEP_S = 60.0
DUE_SLICE = 1000  # users evaluated between two checkpoints when many fall due at once
COMPACT_SLACK = 1024  # stale heap entries tolerated beyond one per user


class _Held:
    """Messages delivered to a resting user, and in how many conversations."""

    __slots__ = ("messages", "convs")

    def __init__(self) -> None:
        self.messages = 0
        self.convs: set[int] = set()


class QuietHours:
    def __init__(self, store: Store, clock: Clock, online: Online, push: PushGateway) -> None:
        self.store, self.clock, self.online, self.push = store, clock, online, push
        self.resting: dict[int, int] = {}  # uid -> resting until (ms)
        self._own: dict[int, Schedule] = {}
        self._corp: dict[int, Schedule] = {}
        self._breaks: dict[int, int] = {}
        self._due: list[tuple[int, int]] = []  # (due ms, uid), stale entries included
        self._next: dict[int, int] = {}  # uid -> their current due time (ms)
        self._held: dict[int, _Held] = {}  # what reached each user while resting
        self._alarm = Alarm(clock)
        self.transitions = 0

    # ----- loading and evaluating -----

    def load(self) -> None:
        """Read every schedule and break; evaluate everyone who has one."""
        store = self.store
        self._own = {uid: Schedule.from_wire(w) for uid, w in store.read(settings.all_schedules)}
        self._corp = {c: Schedule.from_wire(w)
                      for c, w in store.read(settings.all_corp_schedules).items()}
        self._breaks = store.read(settings.all_breaks)
        users = set(self._own) | set(self._breaks)
        if self._corp:
            users |= {u.uid for u in store.users() if u.corp_id in self._corp}
        now = self.clock.now_ms()
        for uid in users:
            self._evaluate(uid, now, announce=False)

    def schedule_of(self, uid: int) -> tuple[Schedule | None, str]:
        own = self._own.get(uid)
        if own is not None:
            return own, "user"
        user = self.store.user(uid)
        corp = self._corp.get(user.corp_id) if user is not None and user.corp_id else None
        return (corp, "corp") if corp is not None else (None, "none")

    def _state(self, uid: int, now: int) -> tuple[int | None, int | None]:
        """(resting until or None, when to look again or None)."""
        schedule, _ = self.schedule_of(uid)
        active = schedule if schedule is not None and schedule.enabled else None
        until = self._breaks.get(uid)
        if until is not None and until <= now:
            self._breaks.pop(uid, None)
            until = None
        if until is not None:
            if active is not None and resting_at(active, until):
                until = next_change(active, until) or until + HORIZON_MS
            return until, until
        if active is None:
            return None, None
        change = next_change(active, now, HORIZON_MS)
        if resting_at(active, now):
            end = change or now + HORIZON_MS
            return end, end
        return None, change or now + HORIZON_MS

    def _evaluate(self, uid: int, now: int, *, announce: bool = True) -> bool:
        """Re-check one user; True if their resting state changed and was announced."""
        until, check = self._state(uid, now)
        before = self.resting.get(uid)
        if until is None:
            self.resting.pop(uid, None)
        else:
            self.resting[uid] = until
        if check is None:
            self._next.pop(uid, None)
        elif self._next.get(uid) != check:
            self._plan(uid, check)
        if announce and before != until:
            self.transitions += 1
            self._announce(uid, before, until)
            return True
        return False

    def _announce(self, uid: int, before: int | None, until: int | None) -> None:
        hub = self.online
        user = self.store.user(uid)
        if user is None:
            return
        presence = Presence(user=user.handle, status="resting" if until else "available",
                            until=until)
        hub.send_to_users(self.store.peers(uid), presence)
        hub.send_to_users((uid,), QuietEvent(quiet=self.state_frame(uid)))
        if until is None and before is not None:
            self._send_digest(uid)

    def _send_digest(self, uid: int) -> None:
        held = self._held.pop(uid, None)
        if held is None or not held.messages:
            return
        digest = Digest(messages=held.messages, conversations=len(held.convs))
        self.online.send_to_users((uid,), digest)
        self.push.digest(uid, digest)

    def state_frame(self, uid: int) -> QuietState:
        schedule, source = self.schedule_of(uid)
        windows = None
        if schedule is not None:
            windows = tuple(QuietWindow(**w.to_wire()) for w in schedule.windows)
        return QuietState(source=source, timezone=schedule.timezone if schedule else None,
                          windows=windows, enabled=schedule.enabled if schedule else None,
                          resting_until=self.resting.get(uid),
                          break_until=self._breaks.get(uid))

    # ----- changes, called after their commit -----

    def set_schedule(self, uid: int, schedule: Schedule | None) -> None:
        if schedule is None:
            self._own.pop(uid, None)
        else:
            self._own[uid] = schedule
        self._changed(uid)

    def set_corp_schedule(self, corp_id: int, schedule: Schedule | None) -> None:
        if schedule is None:
            self._corp.pop(corp_id, None)
        else:
            self._corp[corp_id] = schedule
        now = self.clock.now_ms()
        for user in self.store.users():
            if user.corp_id == corp_id and user.uid not in self._own:
                self._evaluate(user.uid, now)

    def set_break(self, uid: int, until: int | None) -> None:
        if until is None:
            self._breaks.pop(uid, None)
        else:
            self._breaks[uid] = until
        self._changed(uid)

    def _changed(self, uid: int) -> None:
        """A user's own settings changed: their devices get one `quiet` event — from the
        announcement when resting changed too, else here."""
        if not self._evaluate(uid, self.clock.now_ms()):
            self.online.send_to_users((uid,), QuietEvent(quiet=self.state_frame(uid)))

    def held(self, uid: int, conv: int) -> None:
        """A message reached a resting user: count it for the digest. On the fan-out path
        (once per resting receiver): nothing is allocated once the user has an entry."""
        entry = self._held.get(uid)
        if entry is None:
            entry = self._held[uid] = _Held()
        entry.messages += 1
        entry.convs.add(conv)

    # ----- the transition timer -----

    def _plan(self, uid: int, when: int) -> None:
        """Make `when` the user's one due time; an older entry of theirs becomes stale."""
        self._next[uid] = when
        heapq.heappush(self._due, (when, uid))
        if len(self._due) > 2 * len(self._next) + COMPACT_SLACK:
            # breaks replaced over and over: drop the stale entries in one O(n) pass
            self._due = [(due, who) for who, due in self._next.items()]
            heapq.heapify(self._due)
        self._alarm.wake_by(when)

    def _next_due(self) -> int | None:
        """The earliest current due time, popping stale entries off the top."""
        due, planned = self._due, self._next
        while due and planned.get(due[0][1]) != due[0][0]:
            heapq.heappop(due)
        return due[0][0] if due else None

    def process_due(self, limit: int | None = None) -> bool:
        """Evaluate the users whose time has come, at most `limit` of them; True if more
        are due (the caller checkpoints, then calls again)."""
        now = self.clock.now_ms()
        due, planned = self._due, self._next
        evaluated = 0
        while due and due[0][0] <= now:
            if limit is not None and evaluated >= limit:
                return True
            when, uid = heapq.heappop(due)
            if planned.get(uid) != when:
                continue  # stale: replaced or cleared since it was pushed
            del planned[uid]
            evaluated += 1
            self._evaluate(uid, now)
        return False

    async def run(self) -> None:
        """Re-evaluate users as their transitions fall due. Cancel-safe."""
        while True:
            # a corp's default schedule turns thousands of users at the same minute
            # (~35 µs each): let connections run between slices instead of stalling
            while self.process_due(DUE_SLICE):
                await trio.sleep(0)
            await self._alarm.sleep_until(self._next_due())


class Alarm:
    """One task's sleep until an instant of the injected clock, cut short when a nearer
    instant is announced (`wake_by`) or when a ManualClock is moved past it (tests).

    Only the earliest of many deadlines has a sleeper: a pending transition costs a
    heap entry, never a task. Touched only from the event loop.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._target: int | None = None
        self._scope: trio.CancelScope | None = None
        clock.subscribe(self._moved)

    def _moved(self) -> None:
        if self._target is not None and self.clock.now_ms() >= self._target:
            self._wake()

    def wake_by(self, when_ms: int) -> None:
        """Something is due at `when_ms`: if the sleeper would wake later, wake it now
        (it re-reads its deadlines). A no-op while nobody sleeps: the task reads them
        before it sleeps again."""
        if self._target is None or when_ms < self._target:
            self._wake()

    def _wake(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    async def sleep_until(self, when_ms: int | None) -> None:
        """Until `when_ms` (forever if None), or until woken."""
        self._target = when_ms
        try:
            with trio.CancelScope() as self._scope:
                if when_ms is None:
                    await trio.sleep_forever()
                # trio sleeps on monotonic time and wall time can be stepped (NTP):
                # re-read the clock at least every MAX_SLEEP_S
                delay = (when_ms - self.clock.now_ms()) / 1000
                await trio.sleep(min(max(delay, 0.0), MAX_SLEEP_S))
        finally:
            self._scope = self._target = None
