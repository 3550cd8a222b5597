"""The bridge between the realms: contacts, badges, cross-realm chat, archive."""

from __future__ import annotations

import json

import trio

from corpchat.adminclient import call_stream, socket_path
from corpchat.protocol import (
    Ack,
    ContactEvent,
    ContactList,
    ContactRequest,
    DirectorySearch,
    Error,
    GroupInfo,
    GroupInfoReply,
    History,
    HistoryPage,
    Msg,
    Ok,
    People,
)

from ..client import TestClient
from .test_groups import make_group, people, request


async def employee_and_customer(server, nursery):
    await server.admin("corp.add", name="acme", full_name="Acme Trading Ltd")
    c = await people(server, nursery, "alice", "bob")
    await server.admin("user.set", handle="alice", name="Alice Wang", title="Account manager")
    c.update(await people(server, nursery, "carol", corp=None))
    return c


async def test_no_direct_message_across_realms_without_a_contact(server, nursery):
    c = await employee_and_customer(server, nursery)
    await c["alice"].send("hello customer", to="carol")
    assert (await c["alice"].expect(Error)).code == "not_contact"
    await c["carol"].send("hello shop", to="alice")
    assert (await c["carol"].expect(Error)).code == "not_contact"


async def test_contact_flow_then_badged_chat_and_archive(server, nursery):
    c = await employee_and_customer(server, nursery)
    asked = await request(c["alice"], ContactRequest, to="carol", note="from the fair")
    assert isinstance(asked, Ok)
    event = await c["carol"].expect(ContactEvent)
    assert (event.event, event.profile.display, event.profile.corp, event.profile.note) == (
        "request", "Alice Wang @acme", "Acme Trading Ltd", "from the fair")
    assert event.profile.phone is None and event.profile.dept is None
    from corpchat.protocol import ContactAccept

    assert isinstance(await request(c["carol"], ContactAccept, employee="alice"), Ok)
    added = await c["alice"].expect(ContactEvent)
    assert (added.event, added.profile.user, added.profile.external) == ("added", "carol", True)
    await c["alice"].send("your order shipped", to="carol")
    await c["alice"].expect(Ack)
    seen = await c["carol"].expect(Msg)
    assert (seen.display, seen.corp, seen.title) == ("Alice Wang @acme", "Acme Trading Ltd",
                                                     "Account manager")
    await c["carol"].send("thanks!", to="alice")
    await c["carol"].expect(Ack)
    reply = await c["alice"].expect(Msg)
    assert reply.external is True
    page = await request(c["carol"], History, reply=(HistoryPage, Error), conv=seen.conv)
    assert {m.display for m in page.msgs if m.sender == "alice"} == {"Alice Wang @acme"}
    listed = await request(c["carol"], ContactList, reply=(People, Error))
    assert [p.display for p in listed.people] == ["Alice Wang @acme"]
    await c["bob"].send("internal note", to="alice")
    await c["bob"].expect(Ack)
    path = socket_path(server.app.config.data_dir)
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.export", {"corp": "acme"})))
    assert [(r["sender"], r["text"]) for r in rows] == [("alice", "your order shipped"),
                                                       ("carol", "thanks!")]
    json.dumps(rows)


async def test_consumers_get_no_directory_and_see_badges_in_groups(server, nursery):
    c = await employee_and_customer(server, nursery)
    refused = await request(c["carol"], DirectorySearch, reply=(People, Error), prefix="a")
    assert isinstance(refused, Error) and refused.code == "forbidden"
    found = await request(c["bob"], DirectorySearch, reply=(People, Error), prefix="ali")
    assert [(p.user, p.title) for p in found.people] == [("alice", "Account manager")]
    assert isinstance(await request(c["alice"], ContactRequest, to="carol"), Ok)
    from corpchat.protocol import ContactAccept, GroupCreate

    refused = await request(c["bob"], GroupCreate, name="vip", members=("carol",))
    assert isinstance(refused, Error) and refused.code == "not_contact"
    await request(c["carol"], ContactAccept, employee="alice")
    conv = await make_group(c["alice"], "bob", "carol", name="vip")
    info = await request(c["carol"], GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
    assert {m.user: m.display for m in info.members} == {
        "alice": "Alice Wang @acme", "bob": "bob @acme", "carol": "carol"}
    await c["bob"].send("welcome to the vip group", conv=conv)
    await c["bob"].expect(Ack)
    msgs = [m for m in c["carol"].taken(Msg) if m.conv == conv] or [await c["carol"].expect(Msg)]
    while not any(m.text for m in msgs):
        msgs.append(await c["carol"].expect(Msg))
    assert [m.display for m in msgs if m.text] == ["bob @acme"]


async def test_open_signup_and_friends(server, nursery):
    import dataclasses

    from trio_websocket import open_websocket_url

    from corpchat.protocol import (
        SUBPROTOCOL,
        FriendAccept,
        FriendRequest,
        Register,
        Registered,
        decode_server_frame,
        encode,
    )

    server.app.config = dataclasses.replace(server.app.config, open_signup=True)
    async with open_websocket_url(server.url, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send_message(encode(Register(id=1, handle="dora", name="Dora")))
        with trio.fail_after(5):
            registered = decode_server_frame(await ws.get_message())
    assert isinstance(registered, Registered) and registered.user == "dora"
    dora = await TestClient(nursery, server.url, registered.token).connect()
    eve = (await people(server, nursery, "eve", corp=None))["eve"]
    await dora.send("hi eve", to="eve")
    assert (await dora.expect(Error)).code == "not_contact"
    assert isinstance(await request(dora, FriendRequest, to="eve"), Ok)
    assert (await eve.expect(ContactEvent)).event == "friend_request"
    assert isinstance(await request(eve, FriendAccept, user="dora"), Ok)
    await dora.send("hi eve", to="eve")
    await dora.expect(Ack)
    assert (await eve.expect(Msg)).text == "hi eve"


async def _pending(client: TestClient) -> tuple[list, list]:
    from corpchat.protocol import RequestList, RequestListReply

    reply = await request(client, RequestList, reply=(RequestListReply, Error))
    assert isinstance(reply, RequestListReply), reply
    return ([(r.kind, r.profile.user, r.profile.note) for r in reply.incoming],
            [(r.kind, r.profile.user, r.profile.note) for r in reply.outgoing])


async def test_pending_requests_are_listed_on_both_sides(server, nursery):
    from corpchat.protocol import ContactAccept, FriendAccept, FriendRequest

    c = await employee_and_customer(server, nursery)
    c.update(await people(server, nursery, "dora", "eve", corp=None))
    assert isinstance(await request(c["alice"], ContactRequest, to="carol", note="hi"), Ok)
    assert isinstance(await request(c["dora"], FriendRequest, to="carol"), Ok)
    assert isinstance(await request(c["carol"], FriendRequest, to="eve"), Ok)
    incoming, outgoing = await _pending(c["carol"])
    assert sorted(incoming) == [("contact", "alice", "hi"), ("friend", "dora", None)]
    assert outgoing == [("friend", "eve", None)]
    assert await _pending(c["alice"]) == ([], [("contact", "carol", "hi")])
    assert await _pending(c["dora"]) == ([], [("friend", "carol", None)])
    assert await _pending(c["bob"]) == ([], [])  # nobody else's
    # answered requests leave both lists
    assert isinstance(await request(c["eve"], FriendAccept, user="carol"), Ok)
    assert isinstance(await request(c["carol"], ContactAccept, employee="alice"), Ok)
    assert await _pending(c["carol"]) == ([("friend", "dora", None)], [])
    assert await _pending(c["alice"]) == ([], [])


async def test_friend_decline_and_remove(server, nursery):
    from corpchat.protocol import FriendAccept, FriendDecline, FriendRemove, FriendRequest

    c = await people(server, nursery, "dora", "eve", corp=None)
    c.update(await people(server, nursery, "bob"))
    assert isinstance(await request(c["dora"], FriendRequest, to="eve"), Ok)
    assert isinstance(await request(c["eve"], FriendDecline, user="dora"), Ok)
    told = await c["dora"].expect(ContactEvent)
    assert (told.event, told.profile.user) == ("friend_declined", "eve")
    assert await _pending(c["dora"]) == ([], [])
    again = await request(c["eve"], FriendAccept, user="dora")  # nothing left to accept
    assert isinstance(again, Error) and again.code == "not_found"
    assert isinstance(await request(c["dora"], FriendRequest, to="eve"), Ok)
    assert isinstance(await request(c["eve"], FriendAccept, user="dora"), Ok)
    await c["dora"].send("friends now", to="eve")
    await c["dora"].expect(Ack)
    assert isinstance(await request(c["eve"], FriendRemove, user="dora"), Ok)
    events = [e.event for e in c["dora"].taken(ContactEvent)]
    while events[-1] != "friend_removed":
        await c["dora"].expect(ContactEvent)
        events = [e.event for e in c["dora"].taken(ContactEvent)]
    assert events == ["friend_declined", "friend_added", "friend_removed"]
    await c["dora"].send("still there?", to="eve")
    assert (await c["dora"].expect(Error)).code == "not_contact"
    listed = await request(c["dora"], ContactList, reply=(People, Error))
    assert listed.people == ()
    for frame_type in (FriendRemove, FriendDecline):
        gone = await request(c["dora"], frame_type, user="eve")
        assert isinstance(gone, Error) and gone.code == "not_found"
    employee = await request(c["bob"], FriendRemove, user="dora")
    assert isinstance(employee, Error) and employee.code == "not_found"


async def test_recalls_are_archived_where_the_messages_were(server, nursery):
    """A recall leaves a record in the corp's archive exactly when the recalled message
    was archived: a direct chat across realms or an external group, not a colleague chat."""
    from corpchat.protocol import Recall

    from .test_groups import make_contact

    c = await employee_and_customer(server, nursery)
    await make_contact(c["alice"], c["carol"])
    sent = {}
    for sender, to in (("alice", "carol"), ("bob", "alice")):
        await c[sender].send(f"{sender} to {to}", to=to)
        sent[sender] = await c[sender].expect(Ack)
    group = await make_group(c["alice"], "bob", "carol", name="vip")
    await c["bob"].send("in the group", conv=group)
    in_group = await c["bob"].expect(Ack)
    for sender, ack in (("alice", sent["alice"]), ("bob", sent["bob"]), ("bob", in_group)):
        assert isinstance(await request(c[sender], Recall, conv=ack.conv, seq=ack.seq), Ok)
    path = socket_path(server.app.config.data_dir)
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.export", {"corp": "acme"})))
    recalls = [(r["conv"], r["sender"], r["text"]) for r in rows if r["kind"] == "recall"]
    assert recalls == [(sent["alice"].conv, "alice", f"recalled seq {sent['alice'].seq}"),
                       (group, "bob", f"recalled seq {in_group.seq}")]
