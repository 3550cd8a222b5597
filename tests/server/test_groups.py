"""Group conversations over real sockets: roles, caps, visibility, fan-out."""

from __future__ import annotations

import pytest
import trio

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
    Recall,
    Removed,
    Typing,
    TypingEvent,
)

from ..client import TestClient


async def request(client: TestClient, frame_type, reply=(Ok, Error), **fields):
    """Send one request and return its reply (matched by request id)."""
    rid = client.session.next_request_id()
    client.session.queue(frame_type(id=rid, **fields))
    await client.flush()
    with trio.fail_after(5):
        while True:
            for kind in reply:
                for event in client.taken(kind):
                    if getattr(event, "re", None) == rid:
                        return event
            client._arrived = trio.Event()
            await client._arrived.wait()


async def people(server, nursery, *handles, corp="acme"):
    clients = {}
    for handle in handles:
        token = await server.user(handle, corp=corp)
        clients[handle] = await TestClient(nursery, server.url, token).connect()
    return clients


async def make_contact(employee: TestClient, consumer: TestClient) -> None:
    """An accepted external contact, through the protocol."""
    from corpchat.protocol import ContactAccept, ContactRequest

    asked = await request(employee, ContactRequest, to=consumer.session.user)
    assert isinstance(asked, Ok), asked
    accepted = await request(consumer, ContactAccept, employee=employee.session.user)
    assert isinstance(accepted, Ok), accepted


async def make_group(owner: TestClient, *members: str, name="team") -> int:
    ok = await request(owner, GroupCreate, name=name, members=members)
    assert isinstance(ok, Ok), ok
    return ok.conv


async def test_create_send_and_system_messages_in_order(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    await c["ben"].send("hi all", conv=conv)
    await c["ben"].expect(Ack)
    for who in ("ann", "cat"):
        create = await c[who].expect(Msg)
        assert (create.kind, create.event, create.users) == ("system", "create",
                                                            ("ann", "ben", "cat"))
        text = await c[who].expect(Msg)
        assert (text.seq, text.text, text.sender) == (2, "hi all", "ben")
    info = await request(c["cat"], GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
    assert {(m.user, m.role) for m in info.members} == {("ann", "owner"), ("ben", "member"),
                                                        ("cat", "member")}
    listed = await request(c["ben"], GroupList, reply=(GroupListReply, Error))
    assert [(g.conv, g.name, g.role, g.members) for g in listed.groups] == [
        (conv, "team", "member", 3)]


ROLE_CASES = [
    # (actor role, request, fields, expected code or None for success)
    ("member", GroupAdd, {"members": ("dan",)}, "forbidden"),
    ("admin", GroupAdd, {"members": ("dan",)}, None),
    ("owner", GroupAdd, {"members": ("dan",)}, None),
    ("member", GroupRename, {"name": "x"}, "forbidden"),
    ("admin", GroupRename, {"name": "x"}, None),
    ("member", GroupRemove, {"members": ("cat",)}, "forbidden"),
    ("admin", GroupRemove, {"members": ("cat",)}, None),
    ("admin", GroupRemove, {"members": ("ann",)}, "forbidden"),
    ("owner", GroupRemove, {"members": ("ben",)}, None),
    ("admin", GroupDissolve, {}, "forbidden"),
    ("owner", GroupDissolve, {}, None),
    ("owner", GroupLeave, {}, "forbidden"),
    ("member", GroupLeave, {}, None),
    ("admin", GroupTransfer, {"to": "cat"}, "forbidden"),
    ("owner", GroupTransfer, {"to": "cat"}, None),
    ("admin", GroupSetRole, {"user": "cat", "role": "admin"}, "forbidden"),
    ("owner", GroupSetRole, {"user": "cat", "role": "admin"}, None),
]


@pytest.mark.parametrize("role,frame_type,fields,code", ROLE_CASES,
                         ids=[f"{r}-{t.TYPE}-{c or 'ok'}" for r, t, _, c in ROLE_CASES])
async def test_rights_by_role(server, nursery, role, frame_type, fields, code):
    c = await people(server, nursery, "ann", "ben", "cat", "dan")
    conv = await make_group(c["ann"], "ben", "cat")
    assert isinstance(await request(c["ann"], GroupSetRole, conv=conv, user="ben",
                                    role="admin"), Ok)
    actor = {"owner": c["ann"], "admin": c["ben"], "member": c["cat"]}[role]
    reply = await request(actor, frame_type, conv=conv, **fields)
    if code is None:
        assert isinstance(reply, Ok), reply
    else:
        assert isinstance(reply, Error) and reply.code == code, reply


async def test_non_member_gets_not_member_for_every_group_request(server, nursery):
    c = await people(server, nursery, "ann", "ben", "eve")
    conv = await make_group(c["ann"], "ben")
    eve = c["eve"]
    for frame_type, fields in [(GroupAdd, {"members": ("eve",)}),
                               (GroupRemove, {"members": ("ben",)}),
                               (GroupLeave, {}), (GroupRename, {"name": "x"}),
                               (GroupTransfer, {"to": "eve"}), (GroupDissolve, {}),
                               (GroupSetRole, {"user": "ben", "role": "admin"}),
                               (Recall, {"seq": 1})]:
        reply = await request(eve, frame_type, conv=conv, **fields)
        assert isinstance(reply, Error) and reply.code == "not_member", (frame_type, reply)
    for frame_type, reply_type in [(GroupInfo, GroupInfoReply), (History, HistoryPage)]:
        reply = await request(eve, frame_type, reply=(reply_type, Error), conv=conv)
        assert isinstance(reply, Error) and reply.code == "not_member"
    await eve.send("let me in", conv=conv)
    assert (await eve.expect(Error)).code == "not_member"
    reply = await request(eve, Typing, conv=conv)
    assert isinstance(reply, Error) and reply.code == "not_member"


async def test_joiner_sees_from_join_and_removed_member_stops(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben")
    await c["ann"].send("before cat", conv=conv)
    await c["ann"].expect(Ack)
    assert isinstance(await request(c["ann"], GroupAdd, conv=conv, members=("cat",)), Ok)
    await c["ann"].send("with cat", conv=conv)
    await c["ann"].expect(Ack)
    page = await request(c["cat"], History, reply=(HistoryPage, Error), conv=conv)
    assert [m.event or m.text for m in reversed(page.msgs)] == ["add", "with cat"]
    assert isinstance(await request(c["ann"], GroupRemove, conv=conv, members=("cat",)), Ok)
    assert (await c["cat"].expect(Removed)).conv == conv
    await c["ann"].send("after cat", conv=conv)
    await c["ann"].expect(Ack)
    await c["ben"].send("ben after cat", conv=conv)
    await c["ben"].expect(Ack)
    page = await request(c["cat"], History, reply=(HistoryPage, Error), conv=conv)
    assert [m.event or m.text for m in reversed(page.msgs)] == ["add", "with cat", "remove"]
    fresh = await TestClient(nursery, server.url, c["cat"].session.token, sync_token="0").connect()
    assert [m.event or m.text for m in fresh.taken(Msg) if m.conv == conv] == [
        "add", "with cat", "remove"]
    live = [m.event or m.text for m in c["cat"].taken(Msg) if m.conv == conv]
    assert live == ["add", "with cat", "remove"]


async def test_typing_reaches_other_members_only(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    rid = c["ann"].session.next_request_id()
    c["ann"].session.queue(Typing(id=rid, conv=conv))
    await c["ann"].flush()
    event = await c["ben"].expect(TypingEvent)
    assert (event.conv, event.user) == (conv, "ann")
    assert not c["ann"].taken(TypingEvent)


async def test_recall_leaves_a_tombstone_everywhere(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    await c["ben"].send("oops", conv=conv)
    ack = await c["ben"].expect(Ack)
    clock.advance(25 * 3600)
    late = await request(c["ben"], Recall, conv=conv, seq=ack.seq)
    assert isinstance(late, Error) and late.code == "recall_expired"
    assert isinstance(await request(c["cat"], Recall, conv=conv, seq=ack.seq), Error)
    assert isinstance(await request(c["ann"], Recall, conv=conv, seq=ack.seq), Ok)
    page = await request(c["cat"], History, reply=(HistoryPage, Error), conv=conv)
    by_seq = {m.seq: m for m in page.msgs}
    assert by_seq[ack.seq].recalled and by_seq[ack.seq].text == ""
    assert by_seq[ack.seq + 1].event == "recall" and by_seq[ack.seq + 1].ref == ack.seq


async def test_group_cap_and_consumer_cap_refuse_atomically(server, nursery):
    server.app.groups.caps = type(server.app.groups.caps)(max_members=6, max_consumers=2)
    c = await people(server, nursery, "ann")
    for handle in ("m1", "m2", "m3", "m4", "m5"):
        await server.user(handle)
    consumers = await people(server, nursery, "x1", "x2", "x3", corp=None)
    for consumer in consumers.values():
        await make_contact(c["ann"], consumer)
    conv = await make_group(c["ann"], "m1")
    over = await request(c["ann"], GroupAdd, conv=conv, members=("m2", "m3", "m4", "m5", "x1"))
    assert isinstance(over, Error) and over.code == "group_full"
    assert isinstance(await request(c["ann"], GroupAdd, conv=conv, members=("x1", "x2")), Ok)
    third = await request(c["ann"], GroupAdd, conv=conv, members=("m2", "x3"))
    assert isinstance(third, Error) and third.code == "group_full" and "consumer" in third.message
    info = await request(c["ann"], GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
    assert sorted(m.user for m in info.members) == ["ann", "m1", "x1", "x2"]
    assert sorted(m.user for m in info.members if m.external) == ["x1", "x2"]


async def test_ownership_goes_only_to_an_employee_member(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    cleo = (await people(server, nursery, "cleo", corp=None))["cleo"]
    await make_contact(c["ann"], cleo)
    conv = await make_group(c["ann"], "ben", "cleo")
    refused = await request(c["ann"], GroupTransfer, conv=conv, to="cleo")
    assert isinstance(refused, Error) and refused.code == "forbidden", refused
    outsider = await request(cleo, GroupTransfer, conv=conv, to="cleo")
    assert isinstance(outsider, Error) and outsider.code == "forbidden", outsider  # not owner
    # §10.4: `to` a consumer is checked at once, before their membership or the caller's
    dora = (await people(server, nursery, "dora", corp=None))["dora"]
    for caller in (c["ann"], dora):
        refused = await request(caller, GroupTransfer, conv=conv, to="dora")
        assert isinstance(refused, Error) and refused.code == "forbidden", refused
    # and a non-owner is refused before the named user's membership is looked at
    await server.user("dan")
    not_owner = await request(c["ben"], GroupTransfer, conv=conv, to="dan")
    assert isinstance(not_owner, Error) and not_owner.code == "forbidden", not_owner
    not_theirs = await request(c["ann"], GroupTransfer, conv=conv, to="dan")
    assert isinstance(not_theirs, Error) and not_theirs.code == "not_member", not_theirs
    assert isinstance(await request(c["ann"], GroupTransfer, conv=conv, to="ben"), Ok)
    info = await request(c["ann"], GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
    assert {(m.user, m.role) for m in info.members} == {
        ("ann", "admin"), ("ben", "owner"), ("cleo", "member")}


async def test_announcement_reaches_every_employee_and_board_is_read_only(server, nursery):
    from corpchat.protocol import Announce

    c = await people(server, nursery, "boss", "ann", "ben")
    outsider = (await people(server, nursery, "zed", corp="other"))["zed"]
    rid = c["ann"].session.next_request_id()
    c["ann"].session.queue(Announce(id=rid, client_msg_id="n0", text="not allowed"))
    await c["ann"].flush()
    assert (await c["ann"].expect(Error)).code == "forbidden"
    await server.admin("user.set", handle="boss", corp_admin=True)
    late = (await people(server, nursery, "newbie"))["newbie"]  # joins after the flag
    rid = c["boss"].session.next_request_id()
    c["boss"].session.queue(Announce(id=rid, client_msg_id="n1", text="office closed friday"))
    await c["boss"].flush()
    ack = await c["boss"].expect(Ack)
    for who in (c["ann"], c["ben"], late):
        notice = await who.expect(Msg)
        assert (notice.conv, notice.text, notice.sender) == (ack.conv, "office closed friday",
                                                             "boss")
    await c["ann"].send("reply on the board", conv=ack.conv)
    assert (await c["ann"].expect(Error)).code == "forbidden"
    with trio.move_on_after(0.2):
        await outsider.expect(Msg)
        raise AssertionError("another corp's employee got the notice")


async def test_conversations_lists_every_chat_newest_first(server, nursery):
    from corpchat.protocol import Conversations, ConversationsReply

    c = await people(server, nursery, "ann", "ben")
    await c["ben"].send("direct", to="ann")
    direct = (await c["ben"].expect(Ack)).conv
    group = await make_group(c["ann"], "ben", name="crew")
    await c["ann"].send("in the group", conv=group)
    await c["ann"].expect(Ack)
    fresh = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    reply = await request(fresh, Conversations, reply=(ConversationsReply, Error))
    rows = [(s.conv, s.kind, s.name, s.peer, s.last_seq) for s in reply.convs]
    assert rows[:2] == [(group, "group", "crew", None, 2), (direct, "direct", "ann", "ann", 1)]
    assert rows[2][1] == "announce"
