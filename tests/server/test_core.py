"""The core of protocol v1 over real sockets: handshake, send, fan-out, sync, history.

Every test runs a real server on port 0 with a real LMDB in tmp_path and
talks to it through our own client; every wait has a deadline.
"""

from __future__ import annotations

import trio

from corpchat.protocol import (
    Ack,
    CloseCode,
    Error,
    ErrorCode,
    HistoryPage,
    Msg,
    Pong,
    Send,
    Sync,
    SyncPage,
    Welcome,
)

from ..client import RawWs, TestClient, WireClient, send_frame, wait_closed


async def _pair(server, nursery, sender: str = "alice", recipient: str = "bob"):
    a_token = await server.user(sender)
    b_token = await server.user(recipient)
    a = await TestClient(nursery, server.url, a_token).connect()
    b = await TestClient(nursery, server.url, b_token).connect()
    return a, b


async def _barrier(client: TestClient) -> None:
    """Round-trip a ping: everything the server sent before the pong has arrived."""
    rid = client.session.ping()
    await client.flush()
    pong = await client.expect(Pong)
    assert pong.re == rid


async def _refused(client: TestClient, code: ErrorCode) -> Error:
    error = await client.expect(Error)
    assert error.code == code, error
    return error


# ----- handshake -----


async def test_good_token_gets_welcome(server, nursery):
    token = await server.user("alice")
    client = await TestClient(nursery, server.url, token, device="phone").connect()
    welcome = client.taken(Welcome)[0]
    assert welcome.user == "alice"
    assert welcome.protocol == 1
    assert welcome.sync == "0"
    assert welcome.limits["max_text_chars"] == 4000
    assert welcome.session


async def test_bad_token_is_refused_with_4001(server, nursery):
    client = TestClient(nursery, server.url, "not-a-token")
    await client.connect(wait_sync=False)
    await _refused(client, ErrorCode.AUTH_FAILED)
    assert await wait_closed(client) == CloseCode.AUTH_FAILED


async def test_revoked_token_is_refused_and_its_live_session_closed(server, nursery):
    await server.user("alice")
    issued = await server.admin("token.issue", user="alice")
    live = await TestClient(nursery, server.url, issued["token"]).connect()
    result = await server.admin("token.revoke", token_id=issued["token_id"])
    assert result["sessions_closed"] == 1
    assert await wait_closed(live) == CloseCode.AUTH_FAILED

    again = TestClient(nursery, server.url, issued["token"])
    await again.connect(wait_sync=False)
    await _refused(again, ErrorCode.AUTH_FAILED)
    assert await wait_closed(again) == CloseCode.AUTH_FAILED


async def test_other_tokens_of_the_user_survive_a_revocation(server, nursery):
    first = await server.user("alice")
    issued = await server.admin("token.issue", user="alice")
    await server.admin("token.revoke", token_id=issued["token_id"])
    client = await TestClient(nursery, server.url, first).connect()
    assert client.taken(Welcome)[0].user == "alice"


# ----- send, ack, receive -----


async def test_send_ack_receive(server, nursery):
    alice, bob = await _pair(server, nursery)
    cmid = await alice.send("hello bob", to="bob")
    ack = await alice.expect(Ack)
    assert (ack.client_msg_id, ack.seq, ack.duplicate) == (cmid, 1, False)
    msg = await bob.expect(Msg)
    assert (msg.conv, msg.seq, msg.pos) == (ack.conv, ack.seq, ack.pos)
    assert (msg.sender, msg.to, msg.text, msg.client_msg_id) == ("alice", "bob", "hello bob", cmid)
    assert msg.time == ack.time
    assert server.app.store.stats()["messages_stored"] == 1


async def test_replies_share_one_conversation_with_gap_free_seqs(server, nursery):
    alice, bob = await _pair(server, nursery)
    await alice.send("1", to="bob")
    first = await alice.expect(Ack)
    await bob.send("2", to="alice")
    second = await bob.expect(Ack)
    await alice.send("3", conv=first.conv)
    third = await alice.expect(Ack)
    assert first.conv == second.conv == third.conv
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert [m.text for m in (await bob.expect(Msg), await bob.expect(Msg))] == ["1", "3"]


async def test_every_device_receives_and_the_sender_gets_only_the_ack(server, nursery):
    a_token = await server.user("alice")
    b_token = await server.user("bob")
    bob_phone = await WireClient(nursery, server.url, b_token, device="phone").connect()
    bob_desk = await WireClient(nursery, server.url, b_token, device="desk").connect()
    alice_phone = await WireClient(nursery, server.url, a_token, device="phone").connect()
    alice_desk = await WireClient(nursery, server.url, a_token, device="desk").connect()

    await alice_phone.send("from alice's phone", to="bob")
    ack = await alice_phone.expect(Ack)
    for device in (bob_phone, bob_desk, alice_desk):  # alice_desk: the carbon
        msg = await device.expect(Msg)
        assert (msg.seq, msg.pos, msg.text, msg.sender) == (
            ack.seq, ack.pos, "from alice's phone", "alice")

    await bob_desk.send("from bob's desk", to="alice")
    reply = await bob_desk.expect(Ack)
    for device in (alice_phone, alice_desk, bob_phone):
        assert (await device.expect(Msg)).pos == reply.pos

    for device in (bob_phone, bob_desk, alice_phone, alice_desk):
        await _barrier(device)
    live = {d: [f.pos for f in d.wire if isinstance(f, Msg)]
            for d in (bob_phone, bob_desk, alice_phone, alice_desk)}
    assert live[alice_phone] == [reply.pos]  # never its own message
    assert live[bob_desk] == [ack.pos]
    assert live[bob_phone] == live[alice_desk] == [ack.pos, reply.pos]


async def test_offline_user_gets_everything_on_sync(server, nursery):
    alice, bob = await _pair(server, nursery)
    await alice.send("while you were here", to="bob")
    await alice.expect(Ack)
    await bob.expect(Msg)
    old_token = bob.session.sync_token
    await bob.close()

    sent = []
    for i in range(5):
        sent.append(await alice.send(f"missed {i}", to="bob"))
        await alice.expect(Ack)
    bob_token = bob.session.token
    back = await TestClient(nursery, server.url, bob_token, sync_token=old_token).connect()
    msgs = back.taken(Msg)
    assert [m.client_msg_id for m in msgs] == sent
    assert [m.seq for m in msgs] == [2, 3, 4, 5, 6]
    assert int(back.session.sync_token) == msgs[-1].pos


async def test_a_never_connected_user_syncs_from_zero(server, nursery):
    a_token = await server.user("alice")
    b_token = await server.user("bob")
    alice = await TestClient(nursery, server.url, a_token).connect()
    for i in range(3):
        await alice.send(f"m{i}", to="bob")
        await alice.expect(Ack)
    bob = await TestClient(nursery, server.url, b_token, sync_token="0").connect()
    assert [m.text for m in bob.taken(Msg)] == ["m0", "m1", "m2"]


# ----- idempotency -----


async def test_retried_send_returns_the_original_ack_and_stores_nothing(server, nursery):
    alice, bob = await _pair(server, nursery)
    await alice.send("once", to="bob", client_msg_id="cmid-1")
    first = await alice.expect(Ack)
    await bob.expect(Msg)
    stored = server.app.store.stats()["messages_stored"]

    # a retry: new request id, same client_msg_id (the text need not match)
    await send_frame(alice, Send(id=777, client_msg_id="cmid-1", text="once", to="bob"))
    retry = await alice.expect(Ack)
    assert retry.re == 777
    assert retry.duplicate is True
    assert (retry.conv, retry.seq, retry.pos, retry.time) == (
        first.conv, first.seq, first.pos, first.time)
    assert server.app.store.stats()["messages_stored"] == stored
    await _barrier(bob)
    assert len(bob.taken(Msg)) == 1  # not delivered again


async def test_client_msg_ids_are_per_user(server, nursery):
    alice, bob = await _pair(server, nursery)
    await alice.send("from alice", to="bob", client_msg_id="same")
    a_ack = await alice.expect(Ack)
    await bob.send("from bob", to="alice", client_msg_id="same")
    b_ack = await bob.expect(Ack)
    assert not b_ack.duplicate
    assert b_ack.seq == a_ack.seq + 1


# ----- sync paging -----


async def test_sync_pages_return_exactly_the_missed_messages_in_order(server, nursery):
    alice, bob = await _pair(server, nursery)
    old_token = bob.session.sync_token
    await bob.close()
    n = 10
    for i in range(n):
        await alice.send(f"m{i}", to="bob")
    acks = [await alice.expect(Ack) for _ in range(n)]
    assert sorted(a.seq for a in acks) == list(range(1, n + 1))

    raw = await RawWs.open(nursery, server.url)
    await raw.hello(bob.session.token)
    since, seen, pages = old_token, [], 0
    while True:
        await raw.request(Sync(id=pages + 1, since=since, limit=3))
        page = await raw.expect(SyncPage)
        assert page.re == pages + 1
        pages += 1
        assert len(page.msgs) <= 3
        assert int(page.sync) > int(since) or not page.msgs
        seen.extend(page.msgs)
        since = page.sync
        if not page.more:
            break
    assert pages == 4
    assert [m.seq for m in seen] == list(range(1, n + 1))
    assert [m.text for m in seen] == [f"m{i}" for i in range(n)]
    assert int(since) == max(a.pos for a in acks) > int(old_token)

    await raw.request(Sync(id=99, since=since))
    empty = await raw.expect(SyncPage)
    assert (empty.msgs, empty.more, empty.sync) == ((), False, since)


async def test_client_follows_default_pages_after_reconnect(server, nursery):
    alice, bob = await _pair(server, nursery)
    old_token = bob.session.sync_token
    await bob.close()
    n = 230  # more than two default pages of 100
    for i in range(n):
        alice.session.send_text(f"m{i}", to="bob")
    await alice.flush()
    acks = [await alice.expect(Ack) for _ in range(n)]
    back = await TestClient(nursery, server.url, bob.session.token, sync_token=old_token).connect()
    msgs = back.taken(Msg)
    assert [m.seq for m in msgs] == list(range(1, n + 1))
    assert int(back.session.sync_token) == max(a.pos for a in acks)


async def test_a_sync_token_from_the_future_is_refused(server, nursery):
    token = await server.user("alice")
    raw = await RawWs.open(nursery, server.url)
    await raw.hello(token)
    for rid, since in ((1, "999"), (2, "abc"), (3, "-1")):
        await raw.request(Sync(id=rid, since=since))
        error = await raw.expect(Error)
        assert (error.code, error.re) == (ErrorCode.BAD_SYNC_TOKEN, rid)


# ----- history -----


async def test_history_pages_backwards(server, nursery):
    alice, bob = await _pair(server, nursery)
    for i in range(1, 8):
        await alice.send(f"m{i}", to="bob")
        ack = await alice.expect(Ack)
    conv = ack.conv

    async def page(before, limit):
        rid = bob.session.history(conv, before=before, limit=limit)
        await bob.flush()
        got = await bob.expect(HistoryPage)
        assert (got.re, got.conv) == (rid, conv)
        return [m.seq for m in got.msgs], got.more

    assert await page(None, 3) == ([7, 6, 5], True)
    assert await page(5, 3) == ([4, 3, 2], True)
    assert await page(2, 3) == ([1], False)
    assert await page(None, None) == ([7, 6, 5, 4, 3, 2, 1], False)
    assert await page(1, 5) == ([], False)


async def test_history_of_someone_elses_conversation_is_not_member(server, nursery):
    alice, bob = await _pair(server, nursery)
    carol = await TestClient(nursery, server.url, await server.user("carol")).connect()
    await alice.send("private", to="bob")
    ack = await alice.expect(Ack)
    for conv in (ack.conv, 12345):
        rid = carol.session.history(conv)
        await carol.flush()
        error = await _refused(carol, ErrorCode.NOT_MEMBER)
        assert error.re == rid
    # nor may carol post into it
    await carol.send("let me in", conv=ack.conv)
    await _refused(carol, ErrorCode.NOT_MEMBER)


# ----- ping -----


async def test_ping_pong(server, nursery, clock):
    client = await TestClient(nursery, server.url, await server.user("alice")).connect()
    rid = client.session.ping()
    await client.flush()
    pong = await client.expect(Pong)
    assert (pong.re, pong.server_time) == (rid, clock.now_ms())


# ----- refusals -----


async def test_cross_corp_direct_message_is_forbidden(server, nursery):
    alice = await TestClient(nursery, server.url, await server.user("alice")).connect()
    await server.user("dave", corp="globex")
    await alice.send("hi", to="dave")
    await _refused(alice, ErrorCode.FORBIDDEN)
    assert server.app.store.stats()["messages_stored"] == 0


async def test_consumer_to_employee_is_not_contact(server, nursery):
    alice_token = await server.user("alice")
    carol = await TestClient(nursery, server.url, await server.user("carol", corp=None)).connect()
    await carol.send("hello shop", to="alice")
    await _refused(carol, ErrorCode.NOT_CONTACT)
    alice = await TestClient(nursery, server.url, alice_token).connect()
    await alice.send("hello customer", to="carol")
    await _refused(alice, ErrorCode.NOT_CONTACT)
    assert server.app.store.stats()["messages_stored"] == 0


async def test_a_note_to_self_reaches_the_other_devices_once(server, nursery):
    token = await server.user("alice")
    phone = await WireClient(nursery, server.url, token, device="phone").connect()
    desk = await WireClient(nursery, server.url, token, device="desk").connect()
    await phone.send("remember the milk", to="alice")
    ack = await phone.expect(Ack)
    assert (await desk.expect(Msg)).pos == ack.pos
    for device in (phone, desk):
        await _barrier(device)
    assert [f.pos for f in desk.wire if isinstance(f, Msg)] == [ack.pos]
    assert [f for f in phone.wire if isinstance(f, Msg)] == []


async def test_unknown_user(server, nursery):
    alice = await TestClient(nursery, server.url, await server.user("alice")).connect()
    await alice.send("anyone?", to="nobody")
    await _refused(alice, ErrorCode.NO_SUCH_USER)
    await alice.send("anyone?", to="NOT A HANDLE!")
    await _refused(alice, ErrorCode.NO_SUCH_USER)


async def test_text_limits(server, nursery):
    alice, bob = await _pair(server, nursery)
    await alice.send("x" * 4001, to="bob")
    await _refused(alice, ErrorCode.TEXT_TOO_LONG)
    await alice.send("é" * 4000, to="bob")  # the limit counts characters, not bytes
    assert (await alice.expect(Ack)).seq == 1
    await send_frame(alice, Send(id=500, client_msg_id="empty-text", text="", to="bob"))
    assert (await _refused(alice, ErrorCode.BAD_REQUEST)).re == 500


async def test_client_msg_id_limits(server, nursery):
    alice, _bob = await _pair(server, nursery)
    await send_frame(alice, Send(id=501, client_msg_id="", text="hi", to="bob"))
    assert (await _refused(alice, ErrorCode.BAD_REQUEST)).re == 501
    await send_frame(alice, Send(id=502, client_msg_id="c" * 65, text="hi", to="bob"))
    assert (await _refused(alice, ErrorCode.BAD_REQUEST)).re == 502
    await send_frame(alice, Send(id=503, client_msg_id="c" * 64, text="hi", to="bob"))
    assert (await alice.expect(Ack)).re == 503


async def test_send_needs_exactly_one_of_to_and_conv(server, nursery):
    alice, _bob = await _pair(server, nursery)
    await send_frame(alice, Send(id=510, client_msg_id="a", text="hi"))
    assert (await _refused(alice, ErrorCode.BAD_REQUEST)).re == 510
    await send_frame(alice, Send(id=511, client_msg_id="b", text="hi", to="bob", conv=1))
    assert (await _refused(alice, ErrorCode.BAD_REQUEST)).re == 511
    assert server.app.store.stats()["messages_stored"] == 0


async def test_refusals_leave_the_connection_usable(server, nursery):
    alice, bob = await _pair(server, nursery)
    await alice.send("hi", to="nobody")
    await _refused(alice, ErrorCode.NO_SUCH_USER)
    await alice.send("still here", to="bob")
    await alice.expect(Ack)
    assert (await bob.expect(Msg)).text == "still here"
    with trio.fail_after(5):
        await _barrier(alice)
