"""Sessions against a simple model (hypothesis stateful): send, read, resume, restart.

A `RuleBasedStateMachine` generates a program for three users on four
devices (ann has a phone and a desk): direct sends (to another user or to
oneself, by `to` or by `conv`), group sends, group add / remove / leave,
`read`, retries of an earlier `client_msg_id`, disconnects (the client
closes, or an operator kicks the device), sends made while a device is
away (ClientSession sends them after the next `welcome`), reconnects that
resume from the device's own sync token, graceful server restarts on the same data
directory, and "check everything now" points. Each rule applies the
operation to a small pure model and records it with the model's
prediction; `teardown` reconnects every device, adds a last check, and
replays the program in one `trio.run` against a real server (real
sockets, real LMDB in a temp dir, an injected ManualClock), comparing:

* every reply: `ack` (conv, seq, time; `duplicate` and the original's
  fields for a retry, across restarts too), `ok` with the cursor after a
  `read` (forward only, lowered to the last message the reader may see),
  `ok` with the seq of a group change, or `error` with the predicted code;
* every (re)connection: `welcome.unread` and the last `sync.page.unread`
  equal the model's cursors and counts, and the resume delivers exactly
  the messages the device missed, in order, with no repeat on the wire
  (its own re-sent messages may come in the page too: §8.2), and each send
  made while away is answered once;
* at each check point and at the end: every device's whole stream of
  `msg` events (live and resumed, across connections and restarts) and of
  `read` events from the user's other devices, `pos` strictly increasing;
  and for every user, a paged `sync` from 0 equal to what the model lets
  them see, with its unread counts.

The replay runs step by step, so the model predicts exactly which live
`msg` each connected device gets; a device does a ping round trip before
it disconnects (and every device before a restart), so what it processed
is exactly what the model says, and its sync token is where the model
puts it. Visibility and roles follow test_group_model.py (whose model
types this file reuses); unread counts follow docs/protocol.md §18.3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from corpchat.protocol import (
    Ack,
    ClientSession,
    CloseCode,
    Error,
    Frame,
    GroupAdd,
    GroupCreate,
    GroupLeave,
    GroupRemove,
    Msg,
    Ok,
    Ping,
    Pong,
    Read,
    ReadEvent,
    Send,
    Sync,
    SyncPage,
    Welcome,
    decode_server_frame,
)
from corpchat.protocol.clock import ManualClock
from corpchat.server import ServerConfig

from ..client import TestClient, wait_closed
from ..conftest import running_server
from .test_group_model import (
    MEMBER,
    OWNER,
    Entry,
    Group,
    may_remove,
    msg_key,
    replay_in_fresh_dir,
    unique,
)
from .test_groups import make_group, people, request

USERS = ("ann", "ben", "cat")
DEVICES = {"ann-phone": "ann", "ann-desk": "ann", "ben-phone": "ben", "cat-phone": "cat"}
T0_MS = ManualClock().now_ms()
TICK_S = 0.007  # the clock moves this much before every `send`, so times tell sends apart
STEP_TIMEOUT_S = 5.0
SYNC_PAGE = 5  # small pages in the checks' `sync` from 0, so paging is exercised too

users_st = st.sampled_from(USERS)


def devices_of(user: str) -> list[str]:
    return [d for d, u in DEVICES.items() if u == user]


# ----- the program: steps with the model's predictions ----------------------------


@dataclass
class SendStep:
    device: str
    fields: dict[str, Any]  # client_msg_id, text, and `to` (a handle) or nothing
    conv: int | None  # the model conv a `conv`-addressed send names
    expect: str  # "ack" or an error code
    result: int | None = None  # the model conv of the ack
    seq: int | None = None
    pos: int | None = None  # model pos (1, 2, ...: the order of commits)
    time_ms: int | None = None
    duplicate: bool = False


@dataclass
class ReadStep:
    device: str
    conv: int
    seq: int
    expect: str  # "ok" or an error code
    cursor: int | None = None


@dataclass
class ChangeStep:
    device: str
    frame: type
    fields: dict[str, Any]
    conv: int | None  # None for group.create
    expect: str
    result: int | None = None
    seq: int | None = None
    pos: int | None = None


@dataclass
class DisconnectStep:
    device: str
    kick: bool  # an operator's `kick` (close 4003) rather than the client closing


@dataclass
class OfflineSendStep:
    device: str  # one that is away: the send goes out after its next `welcome`
    fields: dict[str, Any]
    conv: int | None


@dataclass
class ConnectStep:
    device: str
    unread: list[tuple[int, int, int]]  # (model conv, cursor, count), sorted
    missed: list[tuple]  # (model conv, *msg key) the resume must deliver, in order
    resent: list[SendStep] = field(default_factory=list)  # the sends made while away


@dataclass
class RestartStep:
    connects: list[ConnectStep]


@dataclass
class CheckStep:
    seen: dict[str, tuple[int, int]]  # device -> (msgs, read events) expected so far
    visible: dict[str, dict[int, list[tuple]]]  # user -> model conv -> msg keys
    unread: dict[str, list[tuple[int, int, int]]]


Step = (SendStep | OfflineSendStep | ReadStep | ChangeStep | DisconnectStep | ConnectStep
        | RestartStep | CheckStep)


# ----- the model ------------------------------------------------------------------


@dataclass
class DeviceModel:
    user: str
    connected: bool = True
    token: int = 0  # model pos of the last message processed
    msgs: list[tuple] = field(default_factory=list)  # (model conv, *msg key)
    reads: list[tuple[int, int]] = field(default_factory=list)  # read events: (conv, seq)
    away_windows: list = field(default_factory=list)  # memberships when it went away
    pending: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)  # unsent
    optional: set[tuple] = field(default_factory=set)  # own resent msgs a sync page may hold


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.convs: list[Group] = []  # direct conversations and groups, by model conv
        self.directs: dict[tuple[str, ...], int] = {}  # sorted member handles -> conv
        self.groups: list[int] = []
        self.stream: list[tuple[int, Entry]] = []  # every stored message, in commit order
        self.devices = {d: DeviceModel(u) for d, u in DEVICES.items()}
        self.cursors: dict[tuple[str, int], int] = {}  # (user, conv) -> read seq
        self.sent: dict[tuple[str, str], SendStep] = {}  # (user, client_msg_id) -> first ack
        self.program: list[Step] = []
        self.texts = 0
        self.now_ms = T0_MS
        self.restarts = 0

    # -- drawing --

    def _connected(self) -> list[str]:
        return [d for d, m in self.devices.items() if m.connected]

    def _device(self, data, fit=(), label: str = "device") -> str:
        """A connected device, of a user in `fit` three times in four (if any)."""
        connected = self._connected()
        fitting = [d for d in connected if DEVICES[d] in fit]
        if fitting and data.draw(st.integers(0, 3), label=f"{label}: fitting"):
            return data.draw(st.sampled_from(fitting), label=label)
        return data.draw(st.sampled_from(connected), label=label)

    def _away_first(self, data, users) -> list[str]:
        """Often only those of `users` with a device away: their resume has work to do."""
        away = [u for u in users if not all(self.devices[d].connected for d in devices_of(u))]
        return away if away and data.draw(st.booleans(), label="away first") else list(users)

    def _group(self, data) -> int:
        live = [ci for ci in self.groups if self.convs[ci].roles]
        pool = live if live and data.draw(st.integers(0, 5), label="live group?") else self.groups
        return data.draw(st.sampled_from(pool), label="group")

    # -- model helpers --

    def _store(self, ci: int, before: set[str], exclude: str | None, **entry_fields) -> Entry:
        """Log a message; deliver it live to the connected devices of members before or
        after it, except the device `exclude` (which sent it and gets an ack)."""
        g = self.convs[ci]
        entry = Entry(seq=len(g.log) + 1, **entry_fields)
        g.log.append(entry)
        self.stream.append((ci, entry))
        pos = len(self.stream)
        for device, m in self.devices.items():
            if m.user in before | set(g.roles) and m.connected and device != exclude:
                m.msgs.append((ci, *entry.key()))
                m.token = pos
        if exclude is not None:
            self.devices[exclude].token = pos
        return entry

    def _sees(self, user: str, ci: int, seq: int) -> bool:
        window = self.convs[ci].latest.get(user)
        return window is not None and window[0] < seq and (window[1] is None
                                                           or seq <= window[1] + 1)

    def _unread(self, user: str) -> list[tuple[int, int, int]]:
        out = []
        for ci, g in enumerate(self.convs):
            visible = g.visible(user)
            cursor = self.cursors.get((user, ci), 0)
            count = sum(1 for e in visible or () if e.seq > cursor and e.event is None
                        and e.sender != user)
            if count:
                out.append((ci, cursor, count))
        return out

    def _visible(self, user: str) -> dict[int, list[tuple]]:
        return {ci: [e.key() for e in v] for ci, g in enumerate(self.convs)
                if (v := g.visible(user)) is not None}

    def _windows(self, user: str) -> list:
        return [g.latest.get(user) for g in self.convs]

    def _connect(self, device: str) -> ConnectStep:
        m = self.devices[device]
        if m.away_windows != self._windows(m.user)[:len(m.away_windows)]:
            event("resume: membership changed while away")
        step = ConnectStep(device, self._unread(m.user), [
            (ci, *e.key()) for pos, (ci, e) in enumerate(self.stream, 1)
            if pos > m.token and self._sees(m.user, ci, e.seq)])
        m.msgs.extend(step.missed)
        m.connected = True
        # then the sends made while away go out again, in order; the device gets an ack for
        # each, and its own message in the sync page too if the page was read after it
        step.resent = [self._commit_send(device, fields, conv) for fields, conv in m.pending]
        m.pending.clear()
        m.optional.update((s.result, *self.convs[s.result].log[s.seq - 1].key())
                          for s in step.resent if s.expect == "ack")
        m.token = len(self.stream)  # the last page's token (the head), or the last ack
        event(f"resume: {min(len(step.missed), 3)}{'+' if len(step.missed) > 3 else ''} missed")
        return step

    def _direct(self, a: str, b: str) -> int:
        members = tuple(sorted({a, b}))
        if members not in self.directs:
            g = Group("", {u: MEMBER for u in members})
            g.latest = {u: (0, None) for u in members}
            self.directs[members] = len(self.convs)
            self.convs.append(g)
        return self.directs[members]

    def _record(self, step: Step) -> None:
        expect = getattr(step, "expect", "")
        event(f"{type(step).__name__}: {expect}")  # see --hypothesis-show-statistics
        self.program.append(step)

    # -- rules: groups --

    @initialize(owner=users_st, members=st.lists(users_st, min_size=1, max_size=3))
    def first_group(self, owner, members) -> None:
        self._create(devices_of(owner)[0], members)

    def _create(self, device: str, members: list[str]) -> None:
        actor = DEVICES[device]
        everyone = unique([actor] + members)
        ci = len(self.convs)
        self.convs.append(Group("team", {u: (OWNER if u == actor else MEMBER)
                                         for u in everyone}))
        self.groups.append(ci)
        entry = self._store(ci, set(), None, sender=actor, event="create",
                            users=tuple(everyone), name="team")
        self.convs[ci].latest.update({u: (0, None) for u in everyone})
        self._record(ChangeStep(device, GroupCreate, {"name": "team", "members": tuple(members)},
                                None, "ok", ci, entry.seq, len(self.stream)))

    @precondition(lambda self: len(self.groups) < 2 and self._connected())
    @rule(data=st.data(), members=st.lists(users_st, max_size=3))
    def create(self, data, members) -> None:
        self._create(self._device(data), members)

    def _change(self, device, frame, fields, ci, problem, apply) -> None:
        if problem is not None:
            self._record(ChangeStep(device, frame, fields, ci, problem))
            return
        g = self.convs[ci]
        entry = apply(g, set(g.roles))
        self._record(ChangeStep(device, frame, fields, ci, "ok", ci, entry.seq,
                                len(self.stream)))

    @precondition(lambda self: self.groups and self._connected())
    @rule(data=st.data(), op=st.sampled_from(("add", "add", "remove", "leave")))
    def membership(self, data, op) -> None:
        """One rule for the changes, so that messages stay most of the traffic."""
        getattr(self, op)(data)

    def add(self, data) -> None:
        ci = self._group(data)
        g = self.convs[ci]
        device = self._device(data, [u for u, r in g.roles.items() if r == OWNER], "actor")
        actor = DEVICES[device]
        outside = self._away_first(data, [u for u in USERS if u not in g.roles] or USERS)
        members = data.draw(st.lists(st.sampled_from(outside), max_size=2), label="members")
        new = [u for u in unique(members) if not g.active(u)]
        problem = ("not_member" if not g.active(actor) else
                   "forbidden" if g.roles[actor] != OWNER else
                   "bad_request" if not new else None)

        def apply(g, before):
            g.roles.update({u: MEMBER for u in new})
            entry = self._store(ci, before, None, sender=actor, event="add", users=tuple(new))
            g.latest.update({u: (entry.seq - 1, None) for u in new})
            return entry

        self._change(device, GroupAdd, {"members": tuple(members)}, ci, problem, apply)

    def remove(self, data) -> None:
        ci = self._group(data)
        g = self.convs[ci]
        device = self._device(data, [u for u, r in g.roles.items() if r == OWNER], "actor")
        actor = DEVICES[device]
        others = self._away_first(data, [u for u in g.roles if u != actor] or USERS)
        members = data.draw(st.lists(st.sampled_from(others), min_size=1, max_size=2),
                            label="members")
        targets = unique(members)
        problem = None
        if not g.active(actor):
            problem = "not_member"
        else:
            for u in targets:
                problem = ("not_member" if not g.active(u) else
                           "forbidden" if u == actor or not may_remove(g.roles[actor],
                                                                       g.roles[u]) else None)
                if problem:
                    break

        def apply(g, before):
            for u in targets:
                del g.roles[u]
            entry = self._store(ci, before, None, sender=actor, event="remove",
                                users=tuple(targets))
            g.latest.update({u: (g.latest[u][0], entry.seq - 1) for u in targets})
            return entry

        self._change(device, GroupRemove, {"members": tuple(members)}, ci, problem, apply)

    def leave(self, data) -> None:
        ci = self._group(data)
        g = self.convs[ci]
        device = self._device(data, [u for u, r in g.roles.items() if r != OWNER], "actor")
        actor = DEVICES[device]
        problem = ("not_member" if not g.active(actor) else
                   "forbidden" if g.roles[actor] == OWNER else None)

        def apply(g, before):
            del g.roles[actor]
            entry = self._store(ci, before, None, sender=actor, event="leave", users=(actor,))
            g.latest[actor] = (g.latest[actor][0], entry.seq - 1)
            return entry

        self._change(device, GroupLeave, {}, ci, problem, apply)

    # -- rules: messages --

    @precondition(lambda self: self._connected())
    @rule(data=st.data(), how=st.sampled_from(("to", "to", "group", "group", "conv")))
    def send(self, data, how) -> None:
        device = self._device(data)
        self.now_ms += int(TICK_S * 1000)
        fields, conv = self._draft(data, device, how)
        self._record(self._commit_send(device, fields, conv))

    def _draft(self, data, device: str, how: str,
               fresh: bool = False) -> tuple[dict[str, Any], int | None]:
        """A new message's fields (with `to`), or them and the model conv it names."""
        user = DEVICES[device]
        self.texts += 1
        cmid = f"m{self.texts}" if fresh else self._client_msg_id(data, user)
        fields: dict[str, Any] = {"client_msg_id": cmid, "text": f"text {self.texts} by {user}"}
        if how == "to" or not self.groups:
            fields["to"] = data.draw(users_st, label="to")
            return fields, None
        pool = self.groups if how == "group" else range(len(self.convs))
        return fields, data.draw(st.sampled_from(pool), label="conv")

    def _commit_send(self, device: str, fields: dict[str, Any], conv: int | None) -> SendStep:
        """The model's answer to a send arriving now: stored and delivered, or refused."""
        user = DEVICES[device]
        ci = self._direct(user, fields["to"]) if conv is None else conv
        step = SendStep(device, fields, conv, "ack")
        if not self.convs[ci].active(user):
            step.expect = "not_member"
        else:
            entry = self._store(ci, set(), device, sender=user, text=fields["text"])
            step.result, step.seq, step.pos, step.time_ms = ci, entry.seq, len(self.stream), \
                self.now_ms
            self.sent[(user, fields["client_msg_id"])] = step
        return step

    def _client_msg_id(self, data, user: str) -> str:
        """A fresh id; now and then one another user has used (ids are per user)."""
        theirs = sorted(c for u, c in self.sent if u != user and (user, c) not in self.sent)
        if theirs and data.draw(st.integers(0, 5), label="another user's id?") == 0:
            return data.draw(st.sampled_from(theirs), label="their id")
        return f"m{self.texts}"

    @precondition(lambda self: self._connected())
    @rule(data=st.data())
    def send_more(self, data) -> None:
        """Messages are most of the traffic: a second rule doubles their share."""
        self.send(data, data.draw(st.sampled_from(("to", "group")), label="how"))

    @precondition(lambda self: self._connected())
    @rule(data=st.data(), n=st.integers(2, 5))
    def burst(self, data, n) -> None:
        """A few messages in a row, so that devices away have something to miss."""
        for _ in range(n):
            if not self._connected():
                return
            self.send(data, data.draw(st.sampled_from(("to", "group")), label="how"))

    @precondition(lambda self: len(self._connected()) < len(DEVICES))
    @rule(data=st.data(), how=st.sampled_from(("to", "group")))
    def send_offline(self, data, how) -> None:
        """A send on a device that is away: ClientSession keeps it and sends it after the
        next `welcome` (protocol.md 8.3)."""
        away = [d for d, m in self.devices.items() if not m.connected]
        device = data.draw(st.sampled_from(away), label="device")
        # a fresh id: ClientSession keys its queue by id, and the server's answer to a
        # reused one depends on what is committed by the time it arrives
        fields, conv = self._draft(data, device, how, fresh=True)
        self.devices[device].pending.append((fields, conv))
        self._record(OfflineSendStep(device, fields, conv))

    @precondition(lambda self: self.sent and self._connected())
    @rule(data=st.data(), same_text=st.booleans())
    def retry(self, data, same_text) -> None:
        """A `send` again with a `client_msg_id` the user used before (on any device)."""
        device = self._device(data, {u for u, _ in self.sent}, "device")
        user = DEVICES[device]
        mine = sorted(c for u, c in self.sent if u == user)
        if not mine:
            return
        first = self.sent[(user, data.draw(st.sampled_from(mine), label="id"))]
        if not self.convs[first.result].active(user):
            event("retry: no longer a member")
        if first.device != device:
            event("retry: from another device")
        self.now_ms += int(TICK_S * 1000)
        fields = dict(first.fields)
        if not same_text:
            fields["text"] = "a different text: still the original's ack"
        self._record(SendStep(device, fields, first.conv, "ack", first.result, first.seq,
                              first.pos, first.time_ms, duplicate=True))

    @precondition(lambda self: self.convs and self._connected())
    @rule(data=st.data())
    def read(self, data) -> None:
        device = self._device(data)
        user = DEVICES[device]
        mine = [ci for ci, g in enumerate(self.convs) if user in g.latest]
        pool = mine if mine and data.draw(st.integers(0, 5), label="mine?") else \
            range(len(self.convs))
        ci = data.draw(st.sampled_from(pool), label="conv")
        g = self.convs[ci]
        seq = data.draw(st.integers(0, len(g.log) + 1), label="seq")
        if user not in g.latest:
            self._record(ReadStep(device, ci, seq, "not_member"))
            return
        last = g.visible(user)[-1].seq
        before = self.cursors.get((user, ci), 0)
        cursor = max(before, min(seq, last))
        self.cursors[(user, ci)] = cursor
        if cursor != before:
            for other, m in self.devices.items():
                if m.user == user and m.connected and other != device:
                    m.reads.append((ci, cursor))
        event("read: " + ("moved" if cursor != before else "no-op")
              + (", former member" if not g.active(user) else "")
              + (", lowered" if seq > last else ""))
        self._record(ReadStep(device, ci, seq, "ok", cursor))

    # -- rules: connections and restarts --

    @precondition(lambda self: self._connected())
    @rule(data=st.data(), kick=st.booleans())
    def disconnect(self, data, kick) -> None:
        device = self._device(data)
        self._away(device)
        self._record(DisconnectStep(device, kick))

    def _away(self, device: str) -> None:
        m = self.devices[device]
        m.connected, m.away_windows = False, self._windows(m.user)

    @precondition(lambda self: len(self._connected()) < len(DEVICES))
    @rule(data=st.data())
    def reconnect(self, data) -> None:
        away = [d for d, m in self.devices.items() if not m.connected]
        self._record(self._connect(data.draw(st.sampled_from(away), label="device")))

    @precondition(lambda self: self.restarts < 3)
    @rule(data=st.data())
    def restart(self, data) -> None:
        self.restarts += 1
        was = self._connected()
        for device in was:
            self._away(device)
        back = [d for d in DEVICES if (d in was) == data.draw(st.integers(0, 4), label=d) > 0]
        self._record(RestartStep([self._connect(d) for d in back]))

    @rule()
    def check(self) -> None:
        self.program.append(self.snapshot())

    def snapshot(self) -> CheckStep:
        return CheckStep({d: (len(m.msgs), len(m.reads)) for d, m in self.devices.items()},
                         {u: self._visible(u) for u in USERS},
                         {u: self._unread(u) for u in USERS})

    def teardown(self) -> None:
        for device, m in self.devices.items():  # at the end, everyone catches up
            if not m.connected:
                self.program.append(self._connect(device))
        self.program.append(self.snapshot())
        replay_in_fresh_dir(replay, self, "corpchat-session-model-")


# ----- the replay against a live server ---------------------------------------------


class Device:
    """One device: a ClientSession kept across connections, and every frame it got."""

    def __init__(self, label: str, token: str) -> None:
        self.label, self.user = label, DEVICES[label]
        self.session = ClientSession(token, device=label)
        self.conns: list[TestClient] = []
        self.wire: list[list[Frame]] = []  # per connection, every frame as it arrived
        receive = self.session.receive

        def recording(payload: bytes):
            self.wire[-1].append(decode_server_frame(payload))
            return receive(payload)

        self.session.receive = recording  # type: ignore[method-assign]

    @property
    def client(self) -> TestClient:
        return self.conns[-1]

    async def connect(self, nursery: trio.Nursery, url: str) -> TestClient:
        self.wire.append([])
        client = TestClient(nursery, url, self.session.token)
        client.session = self.session
        self.conns.append(client)
        with trio.fail_after(STEP_TIMEOUT_S):
            await client.connect()
        return client

    def events(self, kind: type) -> list[Any]:
        return [e for c in self.conns for e in c.events if isinstance(e, kind)]


class Replay:
    def __init__(self, machine: SessionMachine, clock: ManualClock) -> None:
        self.machine, self.clock = machine, clock
        self.devices: dict[str, Device] = {}
        self.convs: dict[int, int] = {}  # model conv -> conv
        self.pos: dict[int, int] = {}  # model pos -> pos
        self.connected: set[str] = set()

    def ci(self, conv: int) -> int:
        """The model conv of a conv (minus the conv for one the model does not know)."""
        for ci, c in self.convs.items():
            if c == conv:
                return ci
        return -conv

    def learn(self, ci: int, conv: int, model_pos: int, pos: int, where: str) -> None:
        assert self.convs.setdefault(ci, conv) == conv, (where, ci, conv, self.convs)
        assert pos > max(self.pos.values(), default=0), (where, "pos went back", pos, self.pos)
        self.pos[model_pos] = pos

    def keyed(self, m: Msg) -> tuple:
        return (self.ci(m.conv), *msg_key(m))

    def unread(self, frame: Welcome | SyncPage) -> list[tuple]:
        assert frame.unread is not None, frame
        return sorted((self.ci(u.conv), u.read, u.unread) for u in frame.unread)

    async def step(self, server, nursery, step: Step, where: str) -> None:
        match step:
            case SendStep():
                await self.send(step, where)
            case OfflineSendStep():
                fields = dict(step.fields)
                if step.conv is not None:
                    fields["conv"] = self.convs[step.conv]
                self.devices[step.device].session.send_text(**fields)
            case ReadStep():
                await self.read(step, where)
            case ChangeStep():
                await self.change(step, where)
            case DisconnectStep():
                await self.disconnect(server, step, where)
            case ConnectStep():
                await self.connect(server, nursery, step, where)
            case CheckStep():
                await self.check(step, where)

    async def send(self, step: SendStep, where: str) -> None:
        self.clock.advance(TICK_S)
        fields = dict(step.fields)
        if step.conv is not None:
            fields["conv"] = self.convs[step.conv]
        client = self.devices[step.device].client
        self.answer(step, await request(client, Send, reply=(Ack, Error), **fields), where)

    def answer(self, step: SendStep, reply: Ack | Error, where: str) -> None:
        fields = step.fields
        if step.expect != "ack":
            assert isinstance(reply, Error) and reply.code == step.expect, (where, reply)
            return
        assert isinstance(reply, Ack), (where, reply)
        assert (reply.seq, reply.time, reply.client_msg_id, bool(reply.duplicate)) == (
            step.seq, step.time_ms, fields["client_msg_id"], step.duplicate), (where, reply)
        if step.duplicate:
            assert (self.convs[step.result], self.pos[step.pos]) == (reply.conv, reply.pos), \
                (where, reply)
        else:
            self.learn(step.result, reply.conv, step.pos, reply.pos, where)

    async def read(self, step: ReadStep, where: str) -> None:
        client = self.devices[step.device].client
        reply = await request(client, Read, reply=(Ok, Error), conv=self.convs[step.conv],
                              seq=step.seq)
        if step.expect == "ok":
            assert isinstance(reply, Ok), (where, reply)
            assert (reply.conv, reply.seq) == (self.convs[step.conv], step.cursor), (where, reply)
        else:
            assert isinstance(reply, Error) and reply.code == step.expect, (where, reply)

    async def change(self, step: ChangeStep, where: str) -> None:
        fields = dict(step.fields)
        if step.conv is not None:
            fields["conv"] = self.convs[step.conv]
        client = self.devices[step.device].client
        reply = await request(client, step.frame, reply=(Ok, Error), **fields)
        if step.expect != "ok":
            assert isinstance(reply, Error) and reply.code == step.expect, (where, reply)
            return
        assert isinstance(reply, Ok) and reply.seq == step.seq, (where, reply)
        self.learn(step.result, reply.conv, step.pos, reply.pos, where)

    async def round_trip(self, device: Device) -> None:
        """A ping: everything fanned out to the device before it has now arrived."""
        assert isinstance(await request(device.client, Ping, reply=(Pong,)), Pong)

    async def disconnect(self, server, step: DisconnectStep, where: str) -> None:
        device = self.devices[step.device]
        await self.round_trip(device)
        if step.kick:
            await server.admin("kick", user=device.user, device=device.label)
            assert await wait_closed(device.client) == CloseCode.KICKED, where
        else:
            with trio.fail_after(STEP_TIMEOUT_S):
                await device.client.close()
        self.connected.discard(step.device)

    async def connect(self, server, nursery, step: ConnectStep, where: str) -> None:
        device = self.devices[step.device]
        client = await device.connect(nursery, server.url)
        self.connected.add(step.device)
        wire = device.wire[-1]
        welcome = next(f for f in wire if isinstance(f, Welcome))
        assert self.unread(welcome) == step.unread, (where, "welcome.unread", welcome.unread)
        pages = [f for f in wire if isinstance(f, SyncPage)]
        assert pages and not pages[-1].more, (where, pages)
        assert self.unread(pages[-1]) == step.unread, (where, "sync.page.unread", pages[-1])
        optional = self.machine.devices[step.device].optional
        on_wire = [self.keyed(f) for f in wire if isinstance(f, Msg)]
        on_wire += [self.keyed(m) for p in pages for m in p.msgs]
        on_wire = [k for k in on_wire if k not in optional]
        assert sorted(on_wire) == sorted(step.missed), (where, "resume on the wire", on_wire)
        got = [k for e in client.events if isinstance(e, Msg)
               if (k := self.keyed(e)) not in optional]
        assert got == step.missed, (where, "resumed", got)
        await self.resent(device, client, step, where)

    async def resent(self, device: Device, client: TestClient, step: ConnectStep,
                     where: str) -> None:
        """The sends made while away: each answered once, as the model says."""
        with trio.fail_after(STEP_TIMEOUT_S):
            while device.session.unacked:
                client._arrived = trio.Event()
                await client._arrived.wait()
        acks = {a.client_msg_id: a for a in client.events if isinstance(a, Ack)}
        assert len(acks) == len(client.taken(Ack)), (where, "acked twice", client.taken(Ack))
        for sent in step.resent:
            if sent.expect == "ack":
                self.answer(sent, acks.pop(sent.fields["client_msg_id"]), where)
        assert not acks, (where, "unexpected acks", acks)
        errors = sorted(e.code for e in client.taken(Error) if e.re is not None)
        assert errors == sorted(s.expect for s in step.resent if s.expect != "ack"), \
            (where, "resent", errors)

    async def check(self, step: CheckStep, where: str) -> None:
        for label in sorted(self.connected):
            await self.round_trip(self.devices[label])
        for label, (n_msgs, n_reads) in step.seen.items():
            device, model = self.devices[label], self.machine.devices[label]
            msgs = device.events(Msg)
            got = [k for m in msgs if (k := self.keyed(m)) not in model.optional]
            assert got == model.msgs[:n_msgs], (where, label, "msgs", got)
            positions = [m.pos for m in msgs]
            assert positions == sorted(set(positions)), (where, label, positions)
            reads = [(self.ci(e.conv), e.seq) for e in device.events(ReadEvent)]
            assert reads == model.reads[:n_reads], (where, label, "read events", reads)
        for user in USERS:
            online = [d for d in sorted(self.connected) if DEVICES[d] == user]
            if online:
                await self.check_sync(self.devices[online[0]], step, where)

    async def check_sync(self, device: Device, step: CheckStep, where: str) -> None:
        """A `sync` from 0, every page: what the user may see, and their unread counts."""
        got: dict[int, list[tuple]] = {}
        since, positions = "0", []
        for _ in range(100):
            rid = device.session.next_request_id()
            device.session.queue(Sync(id=rid, since=since, limit=SYNC_PAGE))
            await device.client.flush()
            page = await reply_on_wire(device, rid)
            for m in page.msgs:
                got.setdefault(self.ci(m.conv), []).append(msg_key(m))
                positions.append(m.pos)
            if not page.more:
                break
            assert len(page.msgs) == SYNC_PAGE, (where, page)
            since = page.sync
        else:
            raise AssertionError(f"{where}: sync never ended")
        at = (where, device.user, "sync from 0")
        assert positions == sorted(set(positions)), (*at, positions)
        want = {ci: keys for ci, keys in step.visible[device.user].items() if keys}
        assert got == want, (*at, got, want)
        assert self.unread(page) == step.unread[device.user], (*at, "unread", page.unread)


async def reply_on_wire(device: Device, rid: int) -> SyncPage:
    with trio.fail_after(STEP_TIMEOUT_S):
        while True:
            for f in device.wire[-1]:
                if isinstance(f, SyncPage) and f.re == rid:
                    return f
            device.client._arrived = trio.Event()
            await device.client._arrived.wait()


def describe(n: int, step: Step) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in vars(step).items()
                       if k not in ("seen", "visible", "unread", "missed", "connects"))
    return f"step {n}: {type(step).__name__}({fields})"


async def replay(machine: SessionMachine, data_dir: str) -> None:
    config = ServerConfig(data_dir=os.path.join(data_dir, "data"), port=0,
                          map_initial_bytes=4 * 1024 * 1024, durable=False)
    clock = ManualClock()
    state = Replay(machine, clock)
    program = list(machine.program)
    n = 0
    async with trio.open_nursery() as nursery:
        async with running_server(nursery, config, clock) as server:
            with trio.fail_after(10):
                tokens = {user: await server.user(user) for user in USERS}
                for label, user in DEVICES.items():
                    state.devices[label] = Device(label, tokens[user])
                for label, device in state.devices.items():
                    await device.connect(nursery, server.url)
                    state.connected.add(label)
            n = await run_until_restart(state, server, nursery, program, n)
        while n < len(program):
            restart = program[n]
            assert isinstance(restart, RestartStep)
            for label in sorted(state.connected):  # the old server closed them
                code = await wait_closed(state.devices[label].client)
                assert code == CloseCode.GOING_AWAY, (describe(n, restart), label, code)
            state.connected.clear()
            async with running_server(nursery, config, clock) as server:
                for connect in restart.connects:
                    await state.step(server, nursery, connect, f"{describe(n, connect)} "
                                     "after a restart")
                n = await run_until_restart(state, server, nursery, program, n + 1)
        for device in state.devices.values():
            for client in device.conns:
                await client.close()
        nursery.cancel_scope.cancel()


async def run_until_restart(state: Replay, server, nursery, program: list[Step], n: int) -> int:
    """Run steps from `n`; at a restart, let every device catch up and return its index."""
    for i in range(n, len(program)):
        step = program[i]
        if isinstance(step, RestartStep):
            for label in sorted(state.connected):
                await state.round_trip(state.devices[label])
            return i
        with trio.fail_after(4 * STEP_TIMEOUT_S):
            await state.step(server, nursery, step, describe(i, step))
    return len(program)


@pytest.mark.slow
def test_sessions_match_the_model() -> None:
    run_state_machine_as_test(SessionMachine, settings=settings(
        max_examples=100, stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


# ----- examples the machine found, kept as regular tests -----------------------------


@pytest.mark.parametrize("how", ["leave", "remove"])
async def test_a_retry_after_losing_the_group_gets_the_original_ack(server, nursery, clock, how):
    """protocol.md 7.4: a repeat is recognised before membership is checked again.

    The server used to refuse the retry with `not_member` once the sender had
    left (or been removed from) the group.
    """
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    first = await request(c["ben"], Send, reply=(Ack, Error), client_msg_id="once",
                          text="hello", conv=conv)
    assert isinstance(first, Ack) and not first.duplicate, first
    if how == "leave":
        gone = await request(c["ben"], GroupLeave, conv=conv)
    else:
        gone = await request(c["ann"], GroupRemove, conv=conv, members=("ben",))
    assert isinstance(gone, Ok), gone
    clock.advance(1)
    again = await request(c["ben"], Send, reply=(Ack, Error), client_msg_id="once",
                          text="a different text", conv=conv)
    assert isinstance(again, Ack) and again.duplicate, again
    assert (again.conv, again.seq, again.pos, again.time) == (
        first.conv, first.seq, first.pos, first.time)
    fresh = await request(c["ben"], Send, reply=(Ack, Error), client_msg_id="new",
                          text="hello again", conv=conv)
    assert isinstance(fresh, Error) and fresh.code == "not_member", fresh
