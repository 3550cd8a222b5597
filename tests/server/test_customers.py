"""Customer management: tags, mass messages, inheritance, moments."""

from __future__ import annotations

import trio

from corpchat.protocol import (
    Ack,
    BroadcastCustomers,
    BroadcastDone,
    ContactEvent,
    ContactList,
    ContactTag,
    Created,
    Error,
    History,
    HistoryPage,
    MomentConfirm,
    MomentDraft,
    MomentEvent,
    MomentPost,
    MomentsFeed,
    MomentsPage,
    Msg,
    Ok,
    People,
    TagAdd,
    TagGroupAdd,
    TransferEvent,
    TransferRefuse,
)

from ..client import TestClient
from .test_groups import make_contact, make_group, people, request


async def shop(server, nursery, customers=("c1", "c2", "c3")):
    """A corp admin, two employees and some customers of the first."""
    c = await people(server, nursery, "boss", "amy", "bea")
    await server.admin("user.set", handle="boss", corp_admin=True)
    c["boss"] = await TestClient(nursery, server.url, c["boss"].session.token).connect()
    c.update(await people(server, nursery, *customers, corp=None))
    for customer in customers:
        await make_contact(c["amy"], c[customer])
    return c


async def created(client, frame_type, **fields) -> int:
    reply = await request(client, frame_type, reply=(Created, Error), **fields)
    assert isinstance(reply, Created), reply
    return reply.id


async def test_tags_filter_the_contact_list(server, nursery):
    c = await shop(server, nursery)
    refused = await request(c["amy"], TagGroupAdd, reply=(Created, Error), name="tier")
    assert isinstance(refused, Error) and refused.code == "forbidden"
    group = await created(c["boss"], TagGroupAdd, name="tier")
    vip = await created(c["boss"], TagAdd, group=group, name="vip")
    new = await created(c["boss"], TagAdd, group=group, name="new")
    too_long = await request(c["boss"], TagAdd, reply=(Created, Error), group=group, name="x" * 31)
    assert isinstance(too_long, Error)
    await request(c["amy"], ContactTag, user="c1", add=(vip, new))
    await request(c["amy"], ContactTag, user="c2", add=(vip,))
    any_vip = await request(c["amy"], ContactList, reply=(People, Error), tags=(vip, new))
    assert sorted(p.user for p in any_vip.people) == ["c1", "c2"]
    both = await request(c["amy"], ContactList, reply=(People, Error), tags=(vip, new),
                         match="all")
    assert [(p.user, p.tags) for p in both.people] == [("c1", (vip, new))]


async def test_mass_message_by_tags_reaches_only_the_tagged_customers(server, nursery):
    c = await shop(server, nursery)
    group = await created(c["boss"], TagGroupAdd, name="tier")
    vip = await created(c["boss"], TagAdd, group=group, name="vip")
    new = await created(c["boss"], TagAdd, group=group, name="new")
    await request(c["amy"], ContactTag, user="c1", add=(vip, new))
    await request(c["amy"], ContactTag, user="c2", add=(vip,))
    both = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                         client_msg_id="vip-new", text="for vip+new", tags=(vip, new),
                         match="all")
    assert (both.sent, both.skipped) == (1, ())
    assert (await c["c1"].expect(Msg)).text == "for vip+new"
    any_ = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                         client_msg_id="vip-or-new", text="for vip or new", tags=(vip, new))
    # c1 had its mass message from amy today: skipped; c2 gets it; c3 has no tag
    assert (any_.sent, [(s.reason, s.count) for s in any_.skipped]) == (
        1, [("quota_exceeded", 1)])
    assert (await c["c2"].expect(Msg)).text == "for vip or new"
    assert c["c3"].taken(Msg) == []


async def test_mass_message_reaches_each_customer_once_a_day(server, nursery, clock):
    c = await shop(server, nursery)
    done = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                         client_msg_id="sale-1", text="spring sale")
    assert (done.sent, done.skipped) == (3, ())
    for customer in ("c1", "c2", "c3"):
        msg = await c[customer].expect(Msg)
        assert (msg.text, msg.sender, msg.display) == ("spring sale", "amy", "amy @acme")
    again = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                          client_msg_id="sale-2", text="second today")
    assert again.sent == 0 and again.skipped[0].count == 3
    clock.advance(24 * 3600)
    tomorrow = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                             client_msg_id="sale-3", text="tomorrow", users=("c1",))
    assert tomorrow.sent == 1


async def test_mass_message_in_many_chunks_while_colleagues_chat(server, nursery):
    """A mass message larger than a commit chunk: every customer gets it exactly once,
    colleagues' messages are acked meanwhile, and a retry stores nothing twice."""
    from corpchat.server.features.customers import BROADCAST_CHUNK

    customers = tuple(f"k{i}" for i in range(2 * BROADCAST_CHUNK + 3))
    c = await shop(server, nursery, customers=customers)
    team = await make_group(c["boss"], "bea")
    rid = c["amy"].session.next_request_id()
    c["amy"].session.queue(BroadcastCustomers(id=rid, client_msg_id="sale", text="sale"))
    await c["amy"].flush()
    for i in range(5):  # in flight alongside the chunks
        await c["bea"].send(f"chat {i}", conv=team)
    acks = [await c["bea"].expect(Ack) for _ in range(5)]
    assert [a.seq for a in acks] == sorted(a.seq for a in acks)
    done = await c["amy"].expect(BroadcastDone)
    assert (done.re, done.sent, done.skipped) == (rid, len(customers), ())
    convs = {customer: (await c[customer].expect(Msg)).conv for customer in customers}
    retry = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                          client_msg_id="sale", text="sale")
    assert isinstance(retry, BroadcastDone) and retry.sent == 0
    for customer, conv in convs.items():
        page = await request(c[customer], History, reply=(HistoryPage, Error), conv=conv)
        assert [m.text for m in page.msgs] == ["sale"], customer
    # the fan-out did not keep the customers' conversations (a mass message would
    # otherwise leave thousands in memory); one that comes alive is loaded as usual
    assert not set(convs.values()) & set(server.app.hub.convs)
    await c["k0"].send("how much?", to="amy")
    assert (await c["k0"].expect(Ack)).conv == convs["k0"]
    while (msg := await c["amy"].expect(Msg)).text == "sale":  # her copies of the sale
        pass
    assert (msg.text, msg.conv) == ("how much?", convs["k0"])


async def test_transfer_with_refusal_and_automatic_completion(server, nursery, clock):
    c = await shop(server, nursery)
    await c["c1"].send("my order?", to="amy")
    await c["c1"].expect(Ack)
    conv = (await c["amy"].expect(Msg)).conv
    result = await server.admin("transfer", **{"from": "amy", "to": "bea", "all": True,
                                               "message": "Bea takes over"})
    assert (result["started"], result["skipped"]) == (3, 0)
    notice = await c["c1"].expect(TransferEvent)
    assert (notice.state, notice.source.display, notice.target.display, notice.message) == (
        "pending", "amy @acme", "bea @acme", "Bea takes over")
    assert isinstance(await request(c["c2"], TransferRefuse, employee="amy"), Ok)
    clock.advance(24 * 3600 + 1)
    assert (await c["c1"].expect(TransferEvent)).state == "done"
    assert [(await c["c3"].expect(TransferEvent)).state for _ in range(2)] == ["pending", "done"]
    statuses = {s["customer"]: s["state"] for s in await server.admin("transfer.status")}
    assert statuses == {"c1": "done", "c2": "refused", "c3": "done"}
    page = await request(c["bea"], History, reply=(HistoryPage, Error), conv=conv)
    assert [m.text for m in page.msgs] == ["my order?"]  # bea sees the earlier history
    await c["c1"].send("thanks bea", to="bea")
    assert (await c["c1"].expect(Ack)).conv == conv
    await c["c2"].send("still amy?", to="amy")
    await c["c2"].expect(Ack)
    await c["c2"].send("hi bea", to="bea")
    assert (await c["c2"].expect(Error)).code == "not_contact"


async def test_a_customer_is_transferred_at_most_twice_in_90_days(server, nursery, clock):
    await shop(server, nursery, customers=("c1",))
    for source, target in (("amy", "bea"), ("bea", "boss")):
        started = await server.admin("transfer", **{"from": source, "to": target,
                                                    "customers": ["c1"]})
        assert started["started"] == 1
        clock.advance(24 * 3600 + 1)
        await trio.sleep(0.05)
    third = await server.admin("transfer", **{"from": "boss", "to": "amy", "customers": ["c1"]})
    assert (third["started"], third["skipped"]) == (0, 1)


async def test_groups_pass_to_the_colleague_when_the_employee_leaves(server, nursery, clock):
    c = await shop(server, nursery, customers=("c1",))
    conv = await make_group(c["amy"], "c1", name="c1's project")
    await server.admin("user.remove", handle="amy")
    await server.admin("transfer", **{"from": "amy", "to": "bea", "all": True})
    clock.advance(24 * 3600 + 1)
    assert (await c["bea"].expect(ContactEvent)).event == "added"
    from corpchat.protocol import GroupInfo, GroupInfoReply

    info = await request(c["bea"], GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
    assert {m.user: m.role for m in info.members}["bea"] == "owner"


async def test_moments_daily_cap_confirm_flow_and_feed(server, nursery, clock):
    c = await shop(server, nursery, customers=("c1",))
    first = await created(c["amy"], MomentPost, text="new arrivals", attachments=("img:1",))
    event = await c["c1"].expect(MomentEvent)
    assert (event.moment.moment, event.moment.author.display) == (first, "amy @acme")
    second = await request(c["amy"], MomentPost, reply=(Created, Error), text="again")
    assert isinstance(second, Error) and second.code == "quota_exceeded"
    draft = await created(c["boss"], MomentDraft, text="company news", employees=("amy",))
    assert (await c["amy"].expect(MomentEvent)).draft == draft
    clock.advance(24 * 3600)
    assert isinstance(await request(c["amy"], MomentConfirm, reply=(Created, Error),
                                    draft=draft), Created)
    feed = await request(c["c1"], MomentsFeed, reply=(MomentsPage, Error))
    assert [m.text for m in feed.moments] == ["company news", "new arrivals"]
    page = await request(c["c1"], MomentsFeed, reply=(MomentsPage, Error), limit=1)
    assert page.more is True and len(page.moments) == 1
    stranger = (await people(server, nursery, "zz", corp=None))["zz"]
    empty = await request(stranger, MomentsFeed, reply=(MomentsPage, Error))
    assert empty.moments == ()
    listed = await request(c["boss"], MomentsFeed, reply=(MomentsPage, Error), employee="amy")
    assert len(listed.moments) == 2


async def test_a_refused_transfer_is_told_to_both_employees(server, nursery, clock):
    c = await shop(server, nursery, customers=("c1",))
    amy_phone = await TestClient(nursery, server.url, c["amy"].session.token).connect()
    await server.admin("transfer", **{"from": "amy", "to": "bea", "customers": ["c1"]})
    assert (await c["c1"].expect(TransferEvent)).state == "pending"
    assert isinstance(await request(c["c1"], TransferRefuse, employee="amy"), Ok)
    for employee in (c["amy"], amy_phone, c["bea"]):
        told = await employee.expect(TransferEvent)
        assert (told.state, told.source.user, told.target.user, told.customer.user) == (
            "refused", "amy", "bea", "c1")
    # the customer's own refusal is answered with `ok` alone
    assert [e.state for e in c["c1"].taken(TransferEvent)] == ["pending"]
    clock.advance(24 * 3600 + 1)
    await c["c1"].send("still with amy?", to="amy")
    assert (await c["c1"].expect(Ack)).conv
    assert [e.state for e in c["amy"].events if isinstance(e, TransferEvent)] == ["refused"]


async def _handed_over_group(nursery, server_config, clock, *members: str):
    """amy's group with c1 and `members`, in a server whose groups hold 3; amy → bea.
    The members' roles afterwards."""
    from dataclasses import replace as with_

    from corpchat.protocol import GroupInfo, GroupInfoReply, GroupList, GroupListReply

    from ..conftest import running_server

    async with running_server(nursery, with_(server_config, max_group_members=3),
                              clock) as srv:
        c = await shop(srv, nursery, customers=("c1",))
        conv = await make_group(c["amy"], "c1", *members, name="c1's project")
        await srv.admin("transfer", **{"from": "amy", "to": "bea", "all": True})
        clock.advance(24 * 3600 + 1)
        assert (await c["bea"].expect(ContactEvent)).event == "added"
        info = await request(c["bea"], GroupInfo, reply=(GroupInfoReply, Error), conv=conv)
        listed = await request(c["bea"], GroupList, reply=(GroupListReply, Error))
        assert [g.members for g in listed.groups] == [len(info.members)]  # the stored count
        return {m.user: m.role for m in info.members}


async def test_a_full_group_handed_over_does_not_grow(nursery, server_config, clock):
    # full (amy, c1, boss): bea takes amy's seat; amy leaves at the transfer message
    assert await _handed_over_group(nursery, server_config, clock, "boss") == {
        "bea": "owner", "c1": "member", "boss": "member"}


async def test_a_group_handed_to_a_member_changes_roles_only(nursery, server_config, clock):
    assert await _handed_over_group(nursery, server_config, clock, "bea") == {
        "bea": "owner", "c1": "member", "amy": "member"}


async def test_a_group_with_room_keeps_the_old_owner(nursery, server_config, clock):
    assert await _handed_over_group(nursery, server_config, clock) == {
        "bea": "owner", "c1": "member", "amy": "member"}


async def test_a_refused_mass_message_is_answered_and_sends_nothing(nursery, server_config,
                                                                    clock):
    """Recipients are looked up by the broadcast task, in steps: a refusal found on the
    way (not a customer, too many) is an error to the request, and nothing goes out."""
    from dataclasses import replace as with_

    from ..conftest import running_server

    caps = with_(server_config.customers, broadcast_max=2)
    async with running_server(nursery, with_(server_config, customers=caps), clock) as srv:
        c = await shop(srv, nursery)
        stranger = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                                 client_msg_id="s-1", text="hi", users=("c1", "bea"))
        assert isinstance(stranger, Error) and stranger.code == "not_contact"
        too_many = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                                 client_msg_id="s-2", text="hi")
        assert isinstance(too_many, Error) and too_many.code == "bad_request"
        assert "at most 2" in too_many.message
        listed = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                               client_msg_id="s-3", text="hi", users=("c1", "c2", "c3"))
        assert isinstance(listed, Error) and listed.code == "bad_request"
        done = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                             client_msg_id="s-4", text="only two", users=("c1", "c2"))
        assert (done.sent, done.skipped) == (2, ())
        for customer in ("c1", "c2"):  # the first message they get: the refused sent none
            assert (await c[customer].expect(Msg)).text == "only two"
        assert c["c3"].taken(Msg) == []


async def test_a_mass_message_the_writer_cannot_take_is_answered_and_the_server_serves(
        nursery, server_config, clock):
    """The broadcast runs as a background task: a storage error there (here the writer
    stopped, as when the server shuts down) ends it with its counts so far, as a failed
    commit does, and must not escape into the server."""
    from corpchat.protocol import Ping, Pong

    from ..conftest import running_server

    async with running_server(nursery, server_config, clock) as srv:
        c = await shop(srv, nursery)
        await trio.to_thread.run_sync(srv.app.writer.stop)
        done = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                             client_msg_id="late", text="too late")
        assert isinstance(done, BroadcastDone) and (done.sent, done.skipped) == (0, ())
        assert isinstance(await request(c["bea"], Ping, reply=(Pong,)), Pong)


async def test_a_mass_message_text_out_of_bounds_is_a_bad_request(server, nursery):
    """§25: `bad_request`, checked after `forbidden` — unlike `send`, not `text_too_long`."""
    from corpchat.protocol import Ping, Pong

    c = await shop(server, nursery, customers=("c1",))
    longest = server.app.config.limits.max_text_chars
    for cmid, text in (("empty", ""), ("long", "x" * (longest + 1))):
        refused = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                                client_msg_id=cmid, text=text)
        assert isinstance(refused, Error) and refused.code == "bad_request", (cmid, refused)
    consumer = await request(c["c1"], BroadcastCustomers, reply=(BroadcastDone, Error),
                             client_msg_id="long", text="x" * (longest + 1))
    assert isinstance(consumer, Error) and consumer.code == "forbidden", consumer
    await c["amy"].send("x" * (longest + 1), to="c1")
    await request(c["amy"], Ping, reply=(Pong,))  # the send's answer has arrived
    assert c["amy"].taken(Error)[-1].code == "text_too_long"
    done = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                         client_msg_id="fits", text="x" * longest)
    assert (done.sent, done.skipped) == (1, ())
    assert (await c["c1"].expect(Msg)).text == "x" * longest
