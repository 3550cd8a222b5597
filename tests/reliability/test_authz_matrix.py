"""Authorization matrix: every request type × every kind of outsider → its documented answer.

The world (built afresh for each role): corp acme with a group owned by
olga (members mia, rex, dina, rita) holding a receipt-requested message;
rex was then removed. olga is a corp admin with a customer tag, a moment
draft for mia, an external contact — the consumer cleo — and a pending
contact request to cody. nick is an acme employee outside the group, gus
an employee of another corp, cora a consumer.

Roles (who sends the request):

  unauthenticated  a connection that never sent `hello` (fresh per request)
  non_member       nick: same corp, not in the group
  removed_member   rex: was in the group, removed
  other_corp       gus
  consumer         cora (the wrong realm for corp resources)
  disabled         dina after `admin user.disable` (fresh connection per request)
  revoked          rita after `admin token.revoke` of her token (likewise)

Each request is aimed at what the outsider should not reach: the group
(`conv`), its receipt-requested message (`seq`), olga, her contact cleo,
acme's tags and moment draft (1.3: olga's password and device token).
Rows for quiet hours, user.info, devices, tags, broadcasts, transfers and
moments follow server/features/quiet.py and server/features/customers.py
(docs/protocol.md does not cover them yet).
`TABLE` holds, per frame TYPE, the probe and one expectation per role:
`Refused(code, close)` — the documented error, and the close code when the
connection must end — or `Served(reply)` for requests any user may make
(`ping`, `sync`, `conversations`, `group.create`, ...), with a check that
the reply leaks nothing of the group or the other corp. Disabled users and
revoked tokens never get past `hello` (`auth_failed`, close 4001): a
request pipelined right behind that `hello` is never answered. The table's
keys must equal CLIENT_FRAMES': a new request type without a row fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from corpchat.protocol import (
    CLIENT_FRAMES,
    Ack,
    Attachment,
    CloseCode,
    ConversationsReply,
    Created,
    DepartmentReply,
    DevicesReply,
    Error,
    Frame,
    GroupListReply,
    GroupRemove,
    Hello,
    HistoryPage,
    Ok,
    People,
    Pong,
    RequestListReply,
    RobotAdded,
    SearchPage,
    SyncPage,
    TagsReply,
    UserInfoReply,
    Welcome,
)

from ..client import RawWs, TestClient, wait_closed
from ..server.test_groups import make_contact, make_group, request
from ..server.test_media import fetch, png, upload

ROLES = ("unauthenticated", "non_member", "removed_member", "other_corp", "consumer",
         "disabled", "revoked")
ACTORS = {"unauthenticated": "nick", "non_member": "nick", "removed_member": "rex",
          "other_corp": "gus", "consumer": "cora", "disabled": "dina", "revoked": "rita"}
ACME = ("olga", "mia", "rex", "nick", "dina", "rita")


@dataclass
class World:
    conv: int  # the group
    seq: int  # olga's receipt-requested message in it
    removed_pos: int  # the pos of rex's `remove` system message
    tag: int  # an acme customer tag
    draft: int  # olga's moment draft for mia
    tokens: dict[str, str]
    token_ids: dict[str, str]
    media_before: str = ""  # a picture in the receipt-requested message (rex saw it)
    media_after: str = ""  # one sent after rex's removal
    robot: int = 0  # a robot olga added to the group


@dataclass(frozen=True)
class Refused:
    code: str
    close: int | None = None


@dataclass(frozen=True)
class Served:
    reply: type[Frame]
    check: Callable[[World, str, Any], str | None] | None = None  # a problem, or None


# ----- what a served reply may show -----


def _no_group(world: World, role: str, reply: Any) -> str | None:
    """conversations / group.list: the group is absent (a former member sees it, left)."""
    rows = reply.convs if isinstance(reply, ConversationsReply) else reply.groups
    mine = [r for r in rows if r.conv == world.conv]
    if role == "removed_member" and isinstance(reply, ConversationsReply):
        return None if [r.left for r in mine] == [True] else f"group listed as {mine}"
    return f"group listed: {mine}" if mine else None


def _range_only(world: World, role: str, reply: Any) -> str | None:
    """sync / history: nothing of the group, or (rex) nothing after his removal."""
    msgs = [m for m in reply.msgs if m.conv == world.conv]
    if role == "removed_member":
        late = [m for m in msgs if m.pos > world.removed_pos]
        return f"after the removal: {late}" if late or not msgs else None
    return f"group messages: {msgs}" if msgs else None


def _own_corp(world: World, role: str, reply: Any) -> str | None:
    """directory: colleagues only — never another corp's people."""
    people = reply.people if isinstance(reply, People) else reply.members
    handles = {p.user for p in people}
    if role == "other_corp":
        return f"acme people shown: {handles & set(ACME)}" if handles & set(ACME) else None
    return None if "olga" in handles else f"own corp missing: {handles}"


def _not_olgas_requests(world: World, role: str, reply: Any) -> str | None:
    """request.list: one's own pending requests — never olga's to cody (an employee's own
    contact.request to cleo, made earlier in the run, is theirs to see)."""
    handles = {r.profile.user for r in (*reply.incoming, *reply.outgoing)}
    return f"olga's request shown: {handles}" if "cody" in handles else None


def _no_group_hits(world: World, role: str, reply: Any) -> str | None:
    """search (1.6): no hit of the group — the probe's words are only in the message
    sent after rex's removal, so not even rex may find it."""
    hits = [(h.conv, h.seq) for h in reply.hits if h.conv == world.conv]
    return f"group hits: {hits}" if hits else None


def _no_acme_tags(world: World, role: str, reply: Any) -> str | None:
    tags = {t.tag for t in reply.tags}
    if role == "other_corp":
        return f"acme's tags shown: {tags}" if world.tag in tags else None
    return None if world.tag in tags else f"own corp's tags missing: {tags}"


def _not_olgas(world: World, role: str, reply: Any) -> str | None:
    handles = {p.user for p in reply.people}
    return f"someone else's contacts: {handles}" if handles & {"cleo", "cody"} else None


def _own_devices(world: World, role: str, reply: Any) -> str | None:
    """devices: the actor's own tokens, never anyone else's."""
    ids = {d.token_id for d in reply.devices}
    others = ids & (set(world.token_ids.values()) - {world.token_ids[ACTORS[role]]})
    return f"someone else's devices: {others}" if others else None


# ----- the table -----

NOT_AUTHENTICATED = Refused("not_authenticated", CloseCode.AUTH_FAILED)
DEAD = Refused("auth_failed", CloseCode.AUTH_FAILED)  # disabled user, revoked token
ALREADY = Refused("already_authenticated")
NOT_MEMBER, FORBIDDEN, NOT_FOUND = Refused("not_member"), Refused("forbidden"), \
    Refused("not_found")
NOT_CONTACT = Refused("not_contact")
AUTH_FAILED = Refused("auth_failed")  # login, redeem: the connection stays open


@dataclass(frozen=True)
class Row:
    probe: Callable[[World, str], dict[str, Any]]  # (world, actor) -> the request's fields
    expect: dict[str, Refused | Served]


def row(probe: Callable[[World, str], dict[str, Any]], non_member: Refused | Served,
        removed_member: Refused | Served, other_corp: Refused | Served,
        consumer: Refused | Served, *, unauthenticated: Refused | Served = NOT_AUTHENTICATED,
        ) -> Row:
    return Row(probe, {"unauthenticated": unauthenticated, "non_member": non_member,
                       "removed_member": removed_member, "other_corp": other_corp,
                       "consumer": consumer, "disabled": DEAD, "revoked": DEAD})


def _g(**fields: Any) -> Callable[[World, str], dict[str, Any]]:
    """A probe aimed at the group: `conv` filled in, ME the actor, SEQ the message."""
    def fill(value: Any, world: World, actor: str) -> Any:
        if isinstance(value, tuple):
            return tuple(fill(v, world, actor) for v in value)
        return actor if value is ME else world.seq if value is SEQ else value

    return lambda world, actor: {"conv": world.conv,
                                 **{k: fill(v, world, actor) for k, v in fields.items()}}


def _f(**fields: Any) -> Callable[[World, str], dict[str, Any]]:
    return lambda world, actor: dict(fields)


ME, SEQ = object(), object()
SERVED_OK = Served(Ok)

TABLE: dict[str, Row] = {
    "hello": row(lambda w, actor: {"token": w.tokens[actor]},
                 ALREADY, ALREADY, ALREADY, ALREADY, unauthenticated=Served(Welcome)),
    "send": row(_g(client_msg_id="probe", text="let me in"),
                NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "announce": row(_f(client_msg_id="probe-a", text="hear me"),
                    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    # §18.1: former members may still move their cursor
    "read": row(_g(seq=SEQ), NOT_MEMBER, SERVED_OK, NOT_MEMBER, NOT_MEMBER),
    # §18.5/18.6: not_found when never a member, forbidden when not the sender
    "receipts": row(_g(seq=SEQ), NOT_FOUND, FORBIDDEN, NOT_FOUND, NOT_FOUND),
    "remind": row(_g(seq=SEQ), NOT_FOUND, FORBIDDEN, NOT_FOUND, NOT_FOUND),
    # one's own settings and devices: anyone
    "quiet.set": row(_f(inherit=True), SERVED_OK, SERVED_OK, SERVED_OK, SERVED_OK),
    "quiet.break": row(_f(minutes=30), SERVED_OK, SERVED_OK, SERVED_OK, SERVED_OK),
    "quiet.resume": row(_f(), SERVED_OK, SERVED_OK, SERVED_OK, SERVED_OK),
    # colleagues and people one shares a conversation with; nobody else exists
    "user.info": row(_f(user="olga"), Served(UserInfoReply), Served(UserInfoReply),
                     Refused("no_such_user"), Refused("no_such_user")),
    "device.register": row(_f(platform="android", push_token="t"),
                           SERVED_OK, SERVED_OK, SERVED_OK, SERVED_OK),
    # one's own devices only: unknown (or someone else's) tokens are a harmless `ok`
    "device.unregister": row(_f(push_token="olgas-phone"),
                             SERVED_OK, SERVED_OK, SERVED_OK, SERVED_OK),
    "conversations": row(_f(), *[Served(ConversationsReply, _no_group)] * 4),
    "register": row(_f(handle="newcomer"), ALREADY, ALREADY, ALREADY, ALREADY,
                    unauthenticated=FORBIDDEN),  # open sign-up is off
    "directory.search": row(_f(prefix=""), *[Served(People, _own_corp)] * 3, FORBIDDEN),
    "directory.department": row(_f(), *[Served(DepartmentReply, _own_corp)] * 3, FORBIDDEN),
    # any employee may ask any consumer; a consumer may not ask
    "contact.request": row(_f(to="cleo"), SERVED_OK, SERVED_OK, SERVED_OK, FORBIDDEN),
    "contact.accept": row(_f(employee="olga"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "contact.decline": row(_f(employee="olga"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "contact.remove": row(_f(user="cleo"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "contact.remark": row(_f(user="cleo", remark="mine now"),
                          NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "contact.list": row(_f(), *[Served(People, _not_olgas)] * 4),
    # customer management: one's own customers, employees only; tags and drafts: corp admins
    "contact.tag": row(lambda w, actor: {"user": "cleo", "add": (w.tag,)},
                       NOT_CONTACT, NOT_CONTACT, NOT_CONTACT, FORBIDDEN),
    "tag.group.add": row(_f(name="mine"), FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "tag.add": row(_f(group=1, name="mine"), FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "tag.remove": row(lambda w, actor: {"tag": w.tag}, FORBIDDEN, FORBIDDEN, FORBIDDEN,
                      FORBIDDEN),
    "tag.list": row(_f(), *[Served(TagsReply, _no_acme_tags)] * 3, FORBIDDEN),
    "broadcast.customers": row(_f(client_msg_id="probe-b", text="buy now", users=("cleo",)),
                               NOT_CONTACT, NOT_CONTACT, NOT_CONTACT, FORBIDDEN),
    "transfer.refuse": row(_f(employee="olga"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "moment.post": row(_f(text="my news"), Served(Created), Served(Created), Served(Created),
                       FORBIDDEN),
    "moment.draft": row(_f(text="say this", employees=("mia",)),
                        FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "moment.confirm": row(lambda w, actor: {"draft": w.draft},
                          NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    "moments.feed": row(_f(employee="olga"), FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    # consumers befriend consumers; employees get forbidden
    "friend.request": row(_f(to="cleo"), FORBIDDEN, FORBIDDEN, FORBIDDEN, SERVED_OK),
    "friend.accept": row(_f(user="cleo"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # 1.2: only the addressee declines, only a friend removes; employees have neither
    "friend.decline": row(_f(user="cleo"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "friend.remove": row(_f(user="cleo"), NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # one's own pending requests only (olga's request to cody stays hers)
    "request.list": row(_f(), *[Served(RequestListReply, _not_olgas_requests)] * 4),
    "sync": row(_f(since="0"), *[Served(SyncPage, _range_only)] * 4),
    # §10.6: a removed member keeps reading the range they had
    "history": row(_g(), NOT_MEMBER, Served(HistoryPage, _range_only), NOT_MEMBER,
                   NOT_MEMBER),
    "ping": row(_f(), *[Served(Pong)] * 4),
    # anyone creates a group; inviting an acme employee needs acme (§10.1)
    "group.create": row(_f(name="mine", members=("mia",)),
                        SERVED_OK, SERVED_OK, FORBIDDEN, FORBIDDEN),
    # adding oneself: who may join is checked first (§10.4), then membership
    "group.add": row(_g(members=(ME,)), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, FORBIDDEN),
    "group.remove": row(_g(members=("mia",)), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "group.leave": row(_g(), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "group.rename": row(_g(name="pwned"), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    # making oneself the owner; a consumer is refused at once, member or not (§10.4:
    # owners are employees, checked before membership)
    "group.transfer": row(_g(to=ME), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, FORBIDDEN),
    "group.role": row(_g(user=ME, role="admin"), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER,
                      NOT_MEMBER),
    "group.dissolve": row(_g(), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "group.info": row(_g(), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "group.list": row(_f(), *[Served(GroupListReply, _no_group)] * 4),
    "typing": row(_g(), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "recall": row(_g(seq=SEQ), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    # §30: a file of the group, sent after rex's removal
    "media.url": row(lambda w, actor: {"media": w.media_after},
                     *[Refused("no_such_media")] * 4),
    # 1.5 (§31): everything on a conversation is for its current members
    "edit": row(_g(seq=SEQ, text="mine now"), *[NOT_MEMBER] * 4),
    "react": row(_g(seq=SEQ, emoji="👍", on=True), *[NOT_MEMBER] * 4),
    "reactions.list": row(_g(seq=SEQ, emoji="👍"), *[NOT_MEMBER] * 4),
    "forward": row(lambda w, actor: {"client_msg_id": "probe-f", "from_conv": w.conv,
                                     "seqs": (w.seq,), "to_conv": w.conv},
                   *[NOT_MEMBER] * 4),
    "group.notice": row(_g(text="hear ye"), *[NOT_MEMBER] * 4),
    "pin": row(_g(seq=SEQ), *[NOT_MEMBER] * 4),
    "unpin": row(_g(seq=SEQ), *[NOT_MEMBER] * 4),
    "pins": row(_g(), *[NOT_MEMBER] * 4),
    "conv.mute": row(_g(), *[NOT_MEMBER] * 4),
    # 1.3 sign-in: before hello only; olga's password is not theirs to guess (§29.2)
    "login": row(_f(handle="olga", password="not her password", device="probe"),
                 ALREADY, ALREADY, ALREADY, ALREADY, unauthenticated=AUTH_FAILED),
    "redeem": row(_f(invite="inv_" + "A" * 32, password="tulip bicycle 42", device="probe"),
                  ALREADY, ALREADY, ALREADY, ALREADY, unauthenticated=AUTH_FAILED),
    # one's own devices only: olga's token is not found for anyone else
    "devices": row(_f(), *[Served(DevicesReply, _own_devices)] * 4),
    "device.revoke": row(lambda w, actor: {"token_id": w.token_ids["olga"]},
                         NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # one's own password (these accounts have none yet: `old` is not asked for)
    "password.change": row(_f(new="seven lazy otters", keep_devices=True),
                           SERVED_OK, SERVED_OK, SERVED_OK, SERVED_OK),
    # 1.6: anyone searches; what is found is checked against the store (§32)
    "search": row(_f(query="after rex"), *[Served(SearchPage, _no_group_hits)] * 4),
    # 1.7: robots are the group's managers' to add and remove, its members' to list
    "robot.add": row(_g(name="spy"), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "robot.remove": row(lambda w, actor: {"conv": w.conv, "robot": w.robot},
                        NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
    "robot.list": row(_g(), NOT_MEMBER, NOT_MEMBER, NOT_MEMBER, NOT_MEMBER),
}


def test_the_table_has_a_row_for_every_request_type_and_every_role():
    assert sorted(TABLE) == sorted(CLIENT_FRAMES)
    assert all(sorted(r.expect) == sorted(ROLES) for r in TABLE.values())


# ----- the world -----


async def build_world(server, nursery) -> World:
    tokens, token_ids = {}, {}
    for corp in ("acme", "globex"):
        await server.admin("corp.add", name=corp)
    for handle, corp in [*((h, "acme") for h in ACME), ("gus", "globex"), ("cora", None),
                         ("cleo", None), ("cody", None)]:
        added = await server.admin("user.add", handle=handle, corp=corp, consumer=corp is None,
                                   token=True)
        tokens[handle], token_ids[handle] = added["token"], added["token_id"]
    olga = await TestClient(nursery, server.url, tokens["olga"]).connect()
    cleo = await TestClient(nursery, server.url, tokens["cleo"]).connect()
    await make_contact(olga, cleo)
    assert isinstance(await request(olga, _type("contact.request"), to="cody"), Ok)
    conv = await make_group(olga, "mia", "rex", "dina", "rita", name="inner circle")
    before, after = [(await upload(server, tokens["olga"], png(color=c))).json()["media"]
                     for c in ((1, 2, 3), (4, 5, 6))]
    await olga.send("who reads this?", conv=conv, receipt=True,
                    attachments=(Attachment(media=before),))
    seq = (await olga.expect(Ack)).seq
    removed = await request(olga, GroupRemove, conv=conv, members=("rex",))
    assert isinstance(removed, Ok), removed
    await olga.send("after rex", conv=conv, attachments=(Attachment(media=after),))
    await olga.expect(Ack)
    await server.admin("user.set", handle="olga", corp_admin=True)
    group = await request(olga, _type("tag.group.add"), reply=(Created, Error), name="tier")
    tag = await request(olga, _type("tag.add"), reply=(Created, Error), group=group.id,
                        name="vip")
    draft = await request(olga, _type("moment.draft"), reply=(Created, Error), text="news",
                          employees=("mia",))
    assert isinstance(tag, Created) and isinstance(draft, Created), (tag, draft)
    robot = await request(olga, _type("robot.add"), reply=(RobotAdded, Error), conv=conv,
                          name="CI")
    assert isinstance(robot, RobotAdded), robot
    return World(conv, seq, removed.pos, tag.id, draft.id, tokens, token_ids, before, after,
                 robot.robot)


def _type(name: str) -> type[Frame]:
    return CLIENT_FRAMES[name]


# ----- asking -----


async def ask(raw: RawWs, frame: Frame) -> Any:
    """Send one request on a live connection; its reply (or the close code if it closes)."""
    await raw.request(frame)
    try:
        while True:
            reply = await raw.receive()
            if getattr(reply, "re", None) == frame.id:
                return reply
    except ConnectionClosed as exc:
        return ("closed", exc.reason.code if exc.reason else None)


async def ask_then_close(raw: RawWs, *frames: Frame) -> tuple[Error | None, int | None, list]:
    """Send frames back to back; (the error answering the first, close code, all frames)."""
    for frame in frames:
        await raw.request(frame)
    seen, code = await raw.closed_code()
    error = next((f for f in seen if isinstance(f, Error) and f.re == frames[0].id), None)
    return error, code, seen


def judge(expect: Refused | Served, reply: Any, world: World, role: str) -> str | None:
    """None if the reply is what the table says; else what went wrong."""
    if isinstance(expect, Refused):
        ok = isinstance(reply, Error) and reply.code == expect.code
        return None if ok else f"expected {expect.code}, got {reply}"
    if not isinstance(reply, expect.reply):
        return f"expected {expect.reply.__name__}, got {reply}"
    return expect.check(world, role, reply) if expect.check else None


async def run_role(server, nursery, role: str) -> list[str]:
    """Every request type as `role`; the rows whose answer differs from the table."""
    world = await build_world(server, nursery)
    actor = ACTORS[role]
    problems: list[str] = []
    ids = iter(range(100, 10_000))

    def frame_for(kind: str) -> Frame:
        row_ = TABLE[kind]  # a KeyError here is a request type with no row
        return CLIENT_FRAMES[kind](id=next(ids), **row_.probe(world, actor))

    if role in ("disabled", "revoked"):
        await _kill_credentials(server, nursery, world, role)
    raw = None
    if role not in ("unauthenticated", "disabled", "revoked"):
        raw = await RawWs.open(nursery, server.url)
        await raw.hello(world.tokens[actor])
    for kind in CLIENT_FRAMES:
        expect = TABLE[kind].expect[role]
        frame = frame_for(kind)
        with trio.fail_after(10):
            if raw is not None:
                problem = judge(expect, await ask(raw, frame), world, role)
            elif role == "unauthenticated":
                problem = await _unauthenticated(server, nursery, world, expect, frame, role)
            else:
                problem = await _dead(server, nursery, world, actor, expect, frame)
        if problem:
            problems.append(f"{kind}: {problem}")
    return problems


async def _unauthenticated(server, nursery, world: World, expect: Refused | Served,
                           frame: Frame, role: str) -> str | None:
    raw = await RawWs.open(nursery, server.url)
    try:
        if isinstance(expect, Refused) and expect.close is not None:
            error, code, _ = await ask_then_close(raw, frame)
            got = Refused(error.code, code) if error else ("closed", code)
            return None if got == expect else f"expected {expect}, got {got}"
        problem = judge(expect, await ask(raw, frame), world, role)
        if problem is None and not isinstance(frame, Hello):  # still open, still anonymous
            welcome = await ask(raw, Hello(id=1, token=world.tokens["nick"]))
            if not isinstance(welcome, Welcome):
                return f"the connection did not survive: {welcome}"
        return problem
    finally:
        await raw.aclose()


async def _dead(server, nursery, world: World, actor: str, expect: Refused | Served,
                frame: Frame) -> str | None:
    """hello with the dead credentials, and the probe right behind it."""
    raw = await RawWs.open(nursery, server.url)
    hello = Hello(id=1, token=world.tokens[actor])
    frames = (frame,) if isinstance(frame, Hello) else (hello, frame)
    error, code, seen = await ask_then_close(raw, *frames)
    got = Refused(error.code, code) if error else ("closed", code)
    answered = [f for f in seen if getattr(f, "re", None) == frame.id and frame is not frames[0]]
    if got != expect or answered:
        return f"expected {expect}, got {got}; the request was answered with {answered}"
    return None


async def _kill_credentials(server, nursery, world: World, role: str) -> None:
    """Disable dina / revoke rita's token while she is connected: that session ends 4001."""
    actor = ACTORS[role]
    live = await TestClient(nursery, server.url, world.tokens[actor]).connect()
    if role == "disabled":
        await server.admin("user.disable", handle=actor)
    else:
        await server.admin("token.revoke", token_id=world.token_ids[actor])
    assert await wait_closed(live) == CloseCode.AUTH_FAILED


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
async def test_every_request_type_refused_or_served_as_documented(server, nursery, role):
    assert await run_role(server, nursery, role) == []


async def test_a_former_members_read_cursor_stops_at_their_removal(server, nursery):
    world = await build_world(server, nursery)  # the group's log: create, notice, remove, more
    raw = await RawWs.open(nursery, server.url)
    await raw.hello(world.tokens["rex"])
    reply = await ask(raw, _type("read")(id=5, conv=world.conv, seq=10**9))
    assert isinstance(reply, Ok), reply
    assert reply.seq == world.seq + 1  # his `remove` message, not the one posted after it


# ----- the media routes (docs/protocol.md §30): 404 for anyone who may not see -----

# (role) -> status of GET /media/<the file sent after rex's removal>, of ?thumb=64,
# and of the file rex saw before it; a POST /media upload.
MEDIA = {
    "unauthenticated": (401, 401, 401, 401),
    "non_member": (404, 404, 404, 201),
    "removed_member": (404, 404, 200, 201),  # what came before his removal stays his
    "other_corp": (404, 404, 404, 201),
    "consumer": (404, 404, 404, 201),
    "disabled": (401, 401, 401, 401),
    "revoked": (401, 401, 401, 401),
}


@pytest.mark.slow
async def test_the_media_routes_answer_each_role_as_documented(server, nursery):
    world = await build_world(server, nursery)
    for role in ("disabled", "revoked"):
        await _kill_credentials(server, nursery, world, role)
    problems = []
    for role, expected in MEDIA.items():
        token = None if role == "unauthenticated" else world.tokens[ACTORS[role]]
        got = (
            (await fetch(server, f"/media/{world.media_after}", token)).status_code,
            (await fetch(server, f"/media/{world.media_after}?thumb=64", token)).status_code,
            (await fetch(server, f"/media/{world.media_before}", token)).status_code,
            (await upload(server, token or "cc_none", png())).status_code,
        )
        if got != expected:
            problems.append(f"{role}: expected {expected}, got {got}")
    mia = world.tokens["mia"]
    assert (await fetch(server, f"/media/{world.media_after}", mia)).status_code == 200
    assert problems == []
