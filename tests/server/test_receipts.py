"""Read cursors, receipts ("who has read my notice") and reminders."""

from __future__ import annotations

import trio

from corpchat.protocol import (
    Ack,
    Error,
    GroupSetRole,
    Msg,
    Ok,
    Read,
    ReadEvent,
    ReceiptEvent,
    Receipts,
    ReceiptsReply,
    Remind,
    Reminder,
    Welcome,
)

from ..client import TestClient
from .test_groups import make_contact, make_group, people, request


async def read(client: TestClient, conv: int, seq: int):
    return await request(client, Read, conv=conv, seq=seq)


async def test_cursor_only_moves_forward_and_follows_to_other_devices(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    ben_desk = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    for i in range(3):
        await c["ann"].send(f"m{i}", to="ben")
        ack = await c["ann"].expect(Ack)
    assert (await read(c["ben"], ack.conv, 2)).seq == 2
    assert (await ben_desk.expect(ReadEvent)).seq == 2
    assert (await read(c["ben"], ack.conv, 1)).seq == 2  # lower: a no-op, not an error
    assert (await read(c["ben"], ack.conv, 99)).seq == 3  # clamped to the last message
    assert (await ben_desk.expect(ReadEvent)).seq == 3
    stranger = (await people(server, nursery, "cat"))["cat"]
    refused = await read(stranger, ack.conv, 1)
    assert isinstance(refused, Error) and refused.code == "not_member"


async def test_unread_counts_are_exact_across_reconnects(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    for i in range(5):
        await c["ann"].send(f"g{i}", conv=conv)
        await c["ann"].expect(Ack)
    await c["cat"].send("from cat", to="ben")
    direct = (await c["cat"].expect(Ack)).conv
    await c["ben"].send("own message", conv=conv)  # own messages are never unread
    await c["ben"].expect(Ack)
    await read(c["ben"], conv, 3)  # create(1) g0(2) g1(3) read; g2 g3 g4 unread
    again = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    welcome = again.taken(Welcome)[0]
    assert {(u.conv, u.unread) for u in welcome.unread} == {(conv, 3), (direct, 1)}


async def test_receipts_recorded_once_and_reported_live_and_by_query(server, nursery):
    c = await people(server, nursery, "boss", "ann", "ben", "cat")
    conv = await make_group(c["boss"], "ann", "ben", "cat")
    await c["boss"].send("please read", conv=conv, receipt=True)
    notice = await c["boss"].expect(Ack)
    ann_tablet = await TestClient(nursery, server.url, c["ann"].session.token).connect()
    await read(c["ann"], conv, notice.seq)
    await read(ann_tablet, conv, notice.seq)  # the same reader again, another device
    await read(c["ben"], conv, notice.seq + 5)
    live = []
    with trio.fail_after(5):
        while sorted(r.user for e in live for r in e.readers) != ["ann", "ben"]:
            live.append(await c["boss"].expect(ReceiptEvent))
    reply = await request(c["boss"], Receipts, reply=(ReceiptsReply, Error), conv=conv,
                          seq=notice.seq)
    assert sorted(r.user for r in reply.read) == ["ann", "ben"]
    assert list(reply.unread) == ["cat"]
    assert (reply.read_count, reply.unread_count, reply.more) == (2, 1, False)
    times = {r.user: r.time for e in live for r in e.readers}
    assert {r.user: r.time for r in reply.read} == times


async def test_receipts_query_permissions(server, nursery):
    c = await people(server, nursery, "boss", "adm", "ann", "eve")
    conv = await make_group(c["boss"], "adm", "ann")
    await request(c["boss"], GroupSetRole, conv=conv, user="adm", role="admin")
    await c["ann"].send("ann's question", conv=conv, receipt=True)
    seq = (await c["ann"].expect(Ack)).seq
    cases = {"ann": ReceiptsReply, "boss": ReceiptsReply, "adm": ReceiptsReply,
             "eve": "not_found"}
    await c["boss"].send("boss's notice", conv=conv, receipt=True)
    boss_seq = (await c["boss"].expect(Ack)).seq
    for who, expected in cases.items():
        reply = await request(c[who], Receipts, reply=(ReceiptsReply, Error), conv=conv, seq=seq)
        if isinstance(expected, str):
            assert isinstance(reply, Error) and reply.code == expected, (who, reply)
        else:
            assert isinstance(reply, expected), (who, reply)
    refused = await request(c["ann"], Receipts, reply=(ReceiptsReply, Error), conv=conv,
                            seq=boss_seq)
    assert isinstance(refused, Error) and refused.code == "forbidden"


async def test_remind_reaches_only_unread_and_is_rate_limited(server, nursery, clock):
    c = await people(server, nursery, "boss", "ann", "ben")
    conv = await make_group(c["boss"], "ann", "ben")
    await c["boss"].send("deadline friday", conv=conv, receipt=True)
    seq = (await c["boss"].expect(Ack)).seq
    await read(c["ann"], conv, seq)
    assert isinstance(await request(c["boss"], Remind, conv=conv, seq=seq), Ok)
    reminder = await c["ben"].expect(Reminder)
    assert (reminder.conv, reminder.seq, reminder.sender) == (conv, seq, "boss")
    too_soon = await request(c["boss"], Remind, conv=conv, seq=seq)
    assert isinstance(too_soon, Error) and too_soon.code == "remind_too_soon"
    assert 0 < too_soon.retry_after_ms <= 300_000
    assert not c["ann"].taken(Reminder)
    not_sender = await request(c["ann"], Remind, conv=conv, seq=seq)
    assert isinstance(not_sender, Error) and not_sender.code == "forbidden"
    clock.advance(301)
    assert isinstance(await request(c["boss"], Remind, conv=conv, seq=seq), Ok)
    await c["ben"].expect(Reminder)


async def test_receipts_survive_a_restart(nursery, server_config, clock):
    from ..conftest import running_server

    async with running_server(nursery, server_config, clock) as srv:
        c = await people(srv, nursery, "boss", "ann")
        await c["boss"].send("keep this", to="ann", receipt=True)
        ack = await c["boss"].expect(Ack)
        await c["ann"].expect(Msg)
        await read(c["ann"], ack.conv, ack.seq)
        await c["boss"].expect(ReceiptEvent)
        boss_token = c["boss"].session.token
    async with running_server(nursery, server_config, clock) as srv:
        boss = await TestClient(nursery, srv.url, boss_token).connect()
        reply = await request(boss, Receipts, reply=(ReceiptsReply, Error), conv=ack.conv,
                              seq=ack.seq)
        assert [r.user for r in reply.read] == ["ann"] and reply.unread_count == 0


async def external_receipts(server, nursery, **policy):
    """emp and emp2 of acme (with `policy`) and their customer cons in one group, each
    side with a receipt-requested message that all three have read."""
    c = await people(server, nursery, "emp", "emp2")
    if policy:
        await server.admin("corp.set", corp="acme", **policy)
    c.update(await people(server, nursery, "cons", corp=None))
    await make_contact(c["emp"], c["cons"])
    conv = await make_group(c["emp"], "emp2", "cons")
    await c["emp"].send("employee asks", conv=conv, receipt=True)
    emp_seq = (await c["emp"].expect(Ack)).seq
    await c["cons"].send("consumer asks", conv=conv, receipt=True)
    cons_seq = (await c["cons"].expect(Ack)).seq
    for who in ("emp2", "cons", "emp"):
        await read(c[who], conv, cons_seq)
    return c, conv, emp_seq, cons_seq


async def test_read_state_across_realms_follows_the_bridge_rule(server, nursery):
    c, conv, emp_seq, cons_seq = await external_receipts(server, nursery)
    employee_view = await request(c["emp"], Receipts, reply=(ReceiptsReply, Error), conv=conv,
                                  seq=emp_seq)
    assert sorted(r.user for r in employee_view.read) == ["cons", "emp2"]  # consumers shown
    consumer_view = await request(c["cons"], Receipts, reply=(ReceiptsReply, Error), conv=conv,
                                  seq=cons_seq)
    assert consumer_view.read == () and consumer_view.unread == ()  # employees hidden


async def test_read_state_across_realms_follows_the_corp_policy(server, nursery):
    """`corp set` flips both directions; the employee's corp decides, live and by query."""
    c, conv, emp_seq, cons_seq = await external_receipts(
        server, nursery, show_consumer_reads=False, show_employee_reads=True)
    consumer_live = await c["cons"].expect(ReceiptEvent)  # emp2's read, then emp's
    assert consumer_live.seq == cons_seq and consumer_live.readers[0].user in ("emp", "emp2")
    employee_view = await request(c["emp"], Receipts, reply=(ReceiptsReply, Error), conv=conv,
                                  seq=emp_seq)
    assert [r.user for r in employee_view.read] == ["emp2"]  # the customer's read is hidden
    assert list(employee_view.unread) == []
    consumer_view = await request(c["cons"], Receipts, reply=(ReceiptsReply, Error), conv=conv,
                                  seq=cons_seq)
    assert sorted(r.user for r in consumer_view.read) == ["emp", "emp2"]
    live = [r.user for e in c["emp"].taken(ReceiptEvent) for r in e.readers]
    assert "cons" not in live
