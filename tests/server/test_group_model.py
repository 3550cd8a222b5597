"""Group membership against a simple model (hypothesis stateful).

A `RuleBasedStateMachine` generates a program of group operations by five
users: create, add, remove, leave, rename, set role, transfer, dissolve,
send, plus "check everything now" points. Each rule applies the operation
to a small pure model (roles and rights from server/groups.py's docstring,
and who may see which message) and records the operation with the model's
prediction. At the end of each example (`teardown`) the whole program is
replayed in one `trio.run` against a fresh server (real sockets, real LMDB
in a temp dir), comparing step by step:

* every reply: `ok` (with the predicted seq) or `ack`, or `error` with the
  predicted code;
* at each check point and at the end, for every user and every group:
  `group.info` (name, members, roles) or `not_member`; `history` (every
  page) equal to the messages the model lets that user see, from their
  join message on, up to and including their removal; `group.list`; and a
  `sync` from 0;
* at the end, every user's live stream: each `msg` exactly once, in order,
  for every stretch of membership (the sender's own text comes back as an
  `ack` instead), and a `removed` event for each removal or dissolve.

Modelling choice: a user removed and added again has one membership, the
latest, for history and sync (the store keeps one membership record per
user and group); live delivery covers every stretch they were a member.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
    Error,
    GroupAdd,
    GroupCreate,
    GroupDissolve,
    GroupInfo,
    GroupInfoReply,
    GroupLeave,
    GroupList,
    GroupListReply,
    GroupRemove,
    GroupRename,
    GroupSetRole,
    GroupTransfer,
    History,
    HistoryPage,
    Msg,
    Ok,
    Removed,
    Send,
    Sync,
    SyncPage,
)
from corpchat.protocol.clock import ManualClock
from corpchat.server import ServerConfig

from ..client import WireClient
from ..conftest import running_server
from .test_groups import request

USERS = ("ann", "ben", "cat", "dan", "eve")
OWNER, ADMIN, MEMBER = "owner", "admin", "member"
MANAGERS = (OWNER, ADMIN)
MAX_NAME_CHARS = 64
NAMES = ("team", "ops", "x", "новая группа", "g" * MAX_NAME_CHARS, "team", "ops",
         "", "n" * (MAX_NAME_CHARS + 1))
STEP_TIMEOUT_S = 5.0

users_st = st.sampled_from(USERS)
member_lists = st.lists(users_st, max_size=4)


# ----- the model ------------------------------------------------------------------


@dataclass
class Entry:
    """One message of a group's log, as `history` shows it."""

    seq: int
    sender: str
    text: str = ""
    event: str | None = None
    users: tuple[str, ...] | None = None
    name: str | None = None

    def key(self) -> tuple:
        kind = None if self.event is None else "system"
        return (self.seq, self.sender, self.text, kind, self.event, self.users, self.name)


def msg_key(m: Msg) -> tuple:
    return (m.seq, m.sender, m.text, m.kind, m.event, m.users, m.name)


@dataclass
class Group:
    name: str
    roles: dict[str, str]  # current members
    log: list[Entry] = field(default_factory=list)
    latest: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # [join, leave]
    live: dict[str, list[Entry]] = field(default_factory=dict)  # what each user got live
    removed: dict[str, int] = field(default_factory=dict)  # `removed` events per user

    def active(self, user: str) -> bool:
        return user in self.roles

    def visible(self, user: str) -> list[Entry] | None:
        """History/sync: the latest membership's window; None if never a member."""
        if user not in self.latest:
            return None
        join, leave = self.latest[user]
        return self.log[join: None if leave is None else leave + 1]


@dataclass
class Step:
    """One operation and the model's prediction of its reply."""

    actor: str
    frame: type
    fields: dict[str, Any]
    group: int | None  # index into the created groups; None for create
    expect: str  # "ok", "ack" or an error code
    seq: int | None = None  # the seq of the message an ok/ack names


@dataclass
class Check:
    """A point where the server's whole state must equal this snapshot."""

    groups: list[tuple[str, dict[str, str], dict[str, list[tuple] | None]]]


def unique(users) -> list[str]:
    return list(dict.fromkeys(users))


def may_remove(actor_role: str, target_role: str) -> bool:
    if actor_role == OWNER:
        return target_role != OWNER
    return actor_role == ADMIN and target_role == MEMBER


def bad_name(name: str) -> bool:
    return not 0 < len(name) <= MAX_NAME_CHARS


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.groups: list[Group] = []
        self.program: list[Step | Check] = []
        self.texts = 0

    # -- drawing: mostly users whose role lets the operation succeed, sometimes anyone --

    def _group(self, data) -> tuple[int, Group]:
        """A group, preferring ones that still have members."""
        live = [i for i, g in enumerate(self.groups) if g.roles]
        if live and data.draw(st.integers(0, 5), label="prefer a live group"):
            gi = data.draw(st.sampled_from(live), label="group")
        else:
            gi = data.draw(st.integers(0, len(self.groups) - 1), label="group")
        return gi, self.groups[gi]

    def _user(self, data, fit, label: str) -> str:
        """One of `fit` three times in four (if any), otherwise any user."""
        fit = sorted(fit)
        if fit and data.draw(st.integers(0, 3), label=f"{label}: fitting"):
            return data.draw(st.sampled_from(fit), label=label)
        return data.draw(users_st, label=label)

    def _users(self, data, fit, label: str) -> list[str]:
        """A list for add/remove: now and then empty, or with repeats."""
        n = data.draw(st.sampled_from((1, 1, 1, 2, 2, 3, 0)), label=f"{label}: how many")
        return [self._user(data, fit, label) for _ in range(n)]

    def _with(self, g: Group, *roles: str) -> list[str]:
        return [u for u, r in g.roles.items() if r in roles]

    # -- model helpers --

    def _record(self, actor, frame, fields, group, expect, seq=None) -> None:
        event(f"{frame.TYPE}: {expect}")  # see --hypothesis-show-statistics
        self.program.append(Step(actor, frame, fields, group, expect, seq))

    def _append(self, g: Group, before: set[str], entry_fields: dict[str, Any],
                joined=(), left=()) -> Entry:
        """Log a message; deliver it live to members before or after it."""
        entry = Entry(seq=len(g.log) + 1, **entry_fields)
        g.log.append(entry)
        i = len(g.log) - 1
        for user in joined:
            g.latest[user] = (i, None)
        for user in left:
            g.latest[user] = (g.latest[user][0], i)
        audience = before | set(g.roles)
        if entry.event is None:
            audience.discard(entry.sender)  # the sending device gets an ack instead
        for user in audience:
            g.live.setdefault(user, []).append(entry)
        return entry

    def _change(self, actor, frame, fields, gi, problem, apply) -> None:
        """A membership-type change: an error code, or ok plus the model's update."""
        if problem is not None:
            self._record(actor, frame, fields, gi, problem)
            return
        g = self.groups[gi]
        entry = apply(g, set(g.roles))
        self._record(actor, frame, fields, gi, "ok", entry.seq)

    # -- rules --

    @initialize(actor=users_st, members=st.lists(users_st, min_size=1, max_size=6),
                admins=st.lists(users_st, max_size=3))
    def first_group(self, actor, members, admins) -> None:
        """A first group, mostly with a few admins, so every role has work to do."""
        self.create(actor, "team", members)
        for who in unique(admins):
            self._set_role(0, actor, who, ADMIN)

    @precondition(lambda self: len(self.groups) < 6
                  and sum(bool(g.roles) for g in self.groups) < 2)
    @rule(actor=users_st, name=st.sampled_from(NAMES), members=member_lists)
    def create(self, actor, name, members) -> None:
        fields = {"name": name, "members": tuple(members)}
        if bad_name(name):
            self._record(actor, GroupCreate, fields, None, "bad_request")
            return
        everyone = unique([actor] + members)
        g = Group(name, {u: (OWNER if u == actor else MEMBER) for u in everyone})
        self.groups.append(g)
        entry = self._append(g, set(), dict(sender=actor, event="create",
                                            users=tuple(everyone), name=name),
                             joined=everyone)
        self._record(actor, GroupCreate, fields, None, "ok", entry.seq)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def add(self, data) -> None:
        gi, g = self._group(data)
        actor = self._user(data, self._with(g, OWNER, ADMIN), "actor")
        members = self._users(data, set(USERS) - set(g.roles), "members")
        new = [u for u in unique(members) if not g.active(u)]
        problem = ("not_member" if not g.active(actor) else
                   "forbidden" if g.roles[actor] not in MANAGERS else
                   "bad_request" if not new else None)

        def apply(g, before):
            for u in new:
                g.roles[u] = MEMBER
            return self._append(g, before, dict(sender=actor, event="add", users=tuple(new)),
                                joined=new)

        self._change(actor, GroupAdd, {"members": tuple(members)}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def add_more(self, data) -> None:
        """Removals and leaves shrink groups: a second rule doubles the adds."""
        self.add(data)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def remove(self, data) -> None:
        gi, g = self._group(data)
        admins = self._with(g, ADMIN)
        as_admin = admins and data.draw(st.booleans(), label="an admin removes")
        actor = self._user(data, admins if as_admin else self._with(g, OWNER, ADMIN), "actor")
        # targets of one role, drawn evenly, so every (actor role, target role) pair comes up
        role = data.draw(st.sampled_from((MEMBER, ADMIN, OWNER)), label="target role")
        members = self._users(data, [u for u in self._with(g, role) if u != actor], "members")
        targets = unique(members)
        problem = None
        if not g.active(actor):
            problem = "not_member"
        else:
            for u in targets:
                if not g.active(u):
                    problem = "not_member"
                elif u == actor or not may_remove(g.roles[actor], g.roles[u]):
                    problem = "forbidden"
                if problem:
                    break
            else:
                if not targets:
                    problem = "bad_request"

        def apply(g, before):
            for u in targets:
                del g.roles[u]
                g.removed[u] = g.removed.get(u, 0) + 1
            return self._append(g, before, dict(sender=actor, event="remove",
                                                users=tuple(targets)), left=targets)

        self._change(actor, GroupRemove, {"members": tuple(members)}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def leave(self, data) -> None:
        gi, g = self._group(data)
        actor = self._user(data, self._with(g, ADMIN, MEMBER), "actor")
        problem = ("not_member" if not g.active(actor) else
                   "forbidden" if g.roles[actor] == OWNER else None)

        def apply(g, before):
            del g.roles[actor]
            return self._append(g, before, dict(sender=actor, event="leave", users=(actor,)),
                                left=[actor])

        self._change(actor, GroupLeave, {}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def rename(self, data, name) -> None:
        gi, g = self._group(data)
        actor = self._user(data, self._with(g, OWNER, ADMIN), "actor")
        problem = ("not_member" if not g.active(actor) else
                   "bad_request" if bad_name(name) else
                   "forbidden" if g.roles[actor] not in MANAGERS else None)

        def apply(g, before):
            g.name = name
            return self._append(g, before, dict(sender=actor, event="rename", name=name))

        self._change(actor, GroupRename, {"name": name}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data(), role=st.sampled_from((ADMIN, ADMIN, ADMIN, MEMBER, OWNER)))
    def set_role(self, data, role) -> None:
        gi, g = self._group(data)
        actor = self._user(data, self._with(g, OWNER), "actor")
        who = self._user(data, self._with(g, ADMIN, MEMBER), "who")
        self._set_role(gi, actor, who, role)

    def _set_role(self, gi: int, actor: str, who: str, role: str) -> None:
        g = self.groups[gi]
        problem = ("not_member" if not g.active(actor) else
                   "bad_request" if role not in (ADMIN, MEMBER) else
                   "forbidden" if g.roles[actor] != OWNER else
                   "not_member" if not g.active(who) else
                   "forbidden" if g.roles[who] == OWNER else None)

        def apply(g, before):
            g.roles[who] = role
            return self._append(g, before, dict(sender=actor, event="role", users=(who,),
                                                name=role))

        self._change(actor, GroupSetRole, {"user": who, "role": role}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def transfer(self, data) -> None:
        gi, g = self._group(data)
        actor = self._user(data, self._with(g, OWNER), "actor")
        who = self._user(data, self._with(g, ADMIN, MEMBER), "who")
        problem = ("not_member" if not g.active(actor) else
                   "forbidden" if g.roles[actor] != OWNER else
                   "not_member" if not g.active(who) or who == actor else None)

        def apply(g, before):
            g.roles[actor], g.roles[who] = ADMIN, OWNER
            return self._append(g, before, dict(sender=actor, event="transfer",
                                                users=(who,)))

        self._change(actor, GroupTransfer, {"to": who}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def dissolve(self, data) -> None:
        gi, g = self._group(data)
        # the owner only now and then: a dissolved group has little left to test
        owner = self._with(g, OWNER) if data.draw(st.integers(0, 3), label="owner?") == 0 else ()
        actor = self._user(data, owner, "actor")
        problem = ("not_member" if not g.active(actor) else
                   "forbidden" if g.roles[actor] != OWNER else None)

        def apply(g, before):
            everyone = list(g.roles)
            g.roles.clear()
            for u in everyone:
                g.removed[u] = g.removed.get(u, 0) + 1
            return self._append(g, before, dict(sender=actor, event="dissolve"), left=everyone)

        self._change(actor, GroupDissolve, {}, gi, problem, apply)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def send(self, data) -> None:
        gi, g = self._group(data)
        actor = self._user(data, g.roles, "actor")
        self.texts += 1
        text = f"text {self.texts} from {actor}"
        fields = {"client_msg_id": f"m{self.texts}", "text": text}
        if not g.active(actor):
            self._record(actor, Send, fields, gi, "not_member")
            return
        entry = self._append(g, set(g.roles), dict(sender=actor, text=text))
        self._record(actor, Send, fields, gi, "ack", entry.seq)

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def send_more(self, data) -> None:
        """Messages are most of the traffic: a second rule doubles their share."""
        self.send(data)

    @rule()
    def check(self) -> None:
        self.program.append(self.snapshot())

    def snapshot(self) -> Check:
        return Check([(g.name, dict(g.roles),
                       {u: (None if (v := g.visible(u)) is None else [e.key() for e in v])
                        for u in USERS})
                      for g in self.groups])

    def teardown(self) -> None:
        self.program.append(self.snapshot())
        replay_in_fresh_dir(replay, self, "corpchat-model-")


# ----- the replay against a live server ---------------------------------------------


async def replay(machine: GroupMachine, data_dir: str) -> None:
    config = ServerConfig(data_dir=os.path.join(data_dir, "data"), port=0,
                          map_initial_bytes=4 * 1024 * 1024, durable=False)
    async with trio.open_nursery() as nursery:
        async with running_server(nursery, config, ManualClock()) as server:
            clients: dict[str, WireClient] = {}
            with trio.fail_after(10):
                for user in USERS:
                    token = await server.user(user)
                    clients[user] = await WireClient(nursery, server.url, token).connect()
            convs: list[int] = []
            for n, step in enumerate(machine.program):
                if isinstance(step, Check):
                    where = f"step {n}: check"
                else:
                    where = f"step {n}: {step.actor} {step.frame.TYPE} {step.fields} " \
                            f"group {step.group}, expecting {step.expect} {step.seq or ''}"
                if isinstance(step, Check):
                    await check_state(clients, convs, step, where)
                else:
                    await run_step(clients, convs, step, where)
            await check_live(clients, convs, machine.groups)
            for client in clients.values():
                await client.close()
        nursery.cancel_scope.cancel()


async def run_step(clients, convs: list[int], step: Step, where: str) -> None:
    client = clients[step.actor]
    fields = dict(step.fields)
    if step.group is not None:
        fields["conv"] = convs[step.group]
    reply_types = (Ack, Error) if step.frame is Send else (Ok, Error)
    with trio.fail_after(STEP_TIMEOUT_S):
        reply = await request(client, step.frame, reply=reply_types, **fields)
    if step.expect in ("ok", "ack"):
        assert isinstance(reply, Ok if step.expect == "ok" else Ack), (where, reply)
        assert reply.seq == step.seq, (where, reply)
        if step.frame is GroupCreate:
            convs.append(reply.conv)
        else:
            assert reply.conv == fields["conv"], (where, reply)
    else:
        assert isinstance(reply, Error) and reply.code == step.expect, (where, reply)


async def full_history(client, conv: int, where: str) -> list[tuple] | str:
    """Every page of a group's history, oldest first; or the error code."""
    out: list[tuple] = []
    before = None
    for _ in range(50):
        fields = {"conv": conv, "limit": 7}  # small pages, so paging is exercised too
        if before is not None:
            fields["before"] = before
        page = await request(client, History, reply=(HistoryPage, Error), **fields)
        if isinstance(page, Error):
            assert before is None, (where, page)
            return page.code
        out.extend(msg_key(m) for m in page.msgs)
        if not page.more:
            return list(reversed(out))
        assert page.msgs, (where, page)
        before = page.msgs[-1].seq
    raise AssertionError(f"{where}: history never ended")


async def sync_from_zero(client, where: str) -> dict[int, list[tuple]]:
    """A `sync` from 0, every page, read from the wire: visible msgs per conv."""
    out: dict[int, list[tuple]] = {}
    since = "0"
    for _ in range(50):
        rid = client.session.next_request_id()
        client.session.queue(Sync(id=rid, since=since, limit=500))
        await client.flush()
        with trio.fail_after(STEP_TIMEOUT_S):
            while not any(isinstance(f, SyncPage) and f.re == rid for f in client.wire):
                client._arrived = trio.Event()
                await client._arrived.wait()
        page = next(f for f in client.wire if isinstance(f, SyncPage) and f.re == rid)
        positions = [m.pos for m in page.msgs]
        assert positions == sorted(set(positions)), (where, positions)
        for m in page.msgs:
            out.setdefault(m.conv, []).append(msg_key(m))
        if not page.more:
            return out
        since = page.sync
    raise AssertionError(f"{where}: sync never ended")


async def check_state(clients, convs: list[int], check: Check, where: str) -> None:
    for user, client in clients.items():
        mine = []
        synced = await sync_from_zero(client, where)
        for conv, (name, roles, visible) in zip(convs, check.groups, strict=True):
            at = f"{where} user {user} conv {conv}"
            info = await request(client, GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
            if user in roles:
                assert isinstance(info, GroupInfoReply), (at, info)
                assert info.name == name, (at, info)
                assert {m.user: m.role for m in info.members} == roles, (at, info)
                assert not any(m.external for m in info.members), (at, info)
                mine.append((conv, name, roles[user], len(roles)))
            else:
                assert isinstance(info, Error) and info.code == "not_member", (at, info)
            history = await full_history(client, conv, at)
            expected = visible[user]
            assert history == ("not_member" if expected is None else expected), (at, history)
            assert synced.get(conv, []) == (expected or []), (at, "sync", synced.get(conv))
        listed = await request(client, GroupList, reply=(GroupListReply, Error))
        assert isinstance(listed, GroupListReply), (where, listed)
        got = sorted((g.conv, g.name, g.role, g.members) for g in listed.groups)
        assert got == sorted(mine), (where, user, got)


async def check_live(clients, convs: list[int], groups: list[Group]) -> None:
    for user, client in clients.items():
        # a round trip: everything fanned out to this client before it has arrived
        assert isinstance(await request(client, GroupList, reply=(GroupListReply, Error)),
                          GroupListReply)
        for conv, g in zip(convs, groups, strict=True):
            got = [msg_key(f) for f in client.wire if isinstance(f, Msg) and f.conv == conv]
            want = [e.key() for e in g.live.get(user, [])]
            assert got == want, ("live", user, conv, got, want)
            removed = [f for f in client.wire if isinstance(f, Removed) and f.conv == conv]
            assert len(removed) == g.removed.get(user, 0), ("removed", user, conv, removed)


@pytest.mark.slow
def test_group_membership_matches_the_model() -> None:
    run_state_machine_as_test(GroupMachine, settings=settings(
        max_examples=25, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


def replay_in_fresh_dir(replay, model, prefix: str) -> None:  # noqa: ANN001
    """Run a model's program against a server on a fresh data directory, raising the
    failed comparison itself rather than the exception groups around it."""
    data_dir = tempfile.mkdtemp(prefix=prefix)
    try:
        trio.run(replay, model, data_dir)
    except BaseExceptionGroup as group:
        while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
            group = group.exceptions[0]
        raise group from None
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
