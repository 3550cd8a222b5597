"""Everyday messaging (1.5) over real sockets: mentions, replies, edits, reactions,
forwarding, the group notice and pins, mute — and their interplay with recall,
removal, sync/resume, quiet hours, the bridge and the archive."""

from __future__ import annotations

import trio

from corpchat.adminclient import call_stream, socket_path
from corpchat.protocol import (
    Ack,
    Conversations,
    ConversationsReply,
    ConvMute,
    Edit,
    Edited,
    Error,
    Forward,
    Forwarded,
    GroupAdd,
    GroupNotice,
    GroupRemove,
    History,
    HistoryPage,
    Msg,
    MuteEvent,
    Ok,
    Pin,
    Pins,
    PinsReply,
    React,
    ReactionEvent,
    ReactionsList,
    ReactionsListReply,
    Recall,
    Receipts,
    ReceiptsReply,
    Unpin,
)

from ..client import TestClient, WireClient
from .test_groups import make_contact, make_group, people, request
from .test_quiet import take_break


async def sent(client: TestClient, text: str, **kw) -> Ack:
    await client.send(text, **kw)
    return await client.expect(Ack)


async def history(client: TestClient, conv: int) -> dict[int, Msg]:
    page = await request(client, History, reply=(HistoryPage, Error), conv=conv)
    assert isinstance(page, HistoryPage), page
    return {m.seq: m for m in page.msgs}


# ----- mentions ------------------------------------------------------------------


async def test_a_mention_marks_only_the_mentioned_receivers(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    ack = await sent(c["ben"], "@cat look", conv=conv, mentions=("cat",))
    to_cat, to_ann = await c["cat"].expect(Msg), await c["ann"].expect(Msg)
    while to_cat.seq != ack.seq:
        to_cat = await c["cat"].expect(Msg)
    while to_ann.seq != ack.seq:
        to_ann = await c["ann"].expect(Msg)
    assert (to_cat.mentioned, to_cat.mentions) == (True, ("cat",))
    assert (to_ann.mentioned, to_ann.mentions) == (None, ("cat",))
    assert (await history(c["cat"], conv))[ack.seq].mentioned is True
    assert (await history(c["ann"], conv))[ack.seq].mentioned is None


async def test_mention_all_is_for_owners_and_admins_and_members_only(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat", "dan")
    conv = await make_group(c["ann"], "ben", "cat")
    await c["ben"].send("@all", conv=conv, mentions=("all",))
    refused = await c["ben"].expect(Error)
    assert refused.code == "forbidden"
    await c["ben"].send("@dan", conv=conv, mentions=("dan",))
    assert (await c["ben"].expect(Error)).code == "not_member"
    await c["ben"].send("@nobody", conv=conv, mentions=("nobody",))
    assert (await c["ben"].expect(Error)).code == "not_member"
    ack = await sent(c["ann"], "@all standup", conv=conv, mentions=("all",))
    for who in ("ben", "cat"):
        msg = await c[who].expect(Msg)
        while msg.seq != ack.seq:
            msg = await c[who].expect(Msg)
        assert msg.mentioned is True


async def test_unread_counts_carry_mentions(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    await sent(c["ann"], "plain", conv=conv)
    await sent(c["ann"], "@ben one", conv=conv, mentions=("ben",))
    await sent(c["ann"], "@all two", conv=conv, mentions=("all",))
    from corpchat.protocol import Welcome

    again = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    [welcome] = again.taken(Welcome)
    [unread] = [u for u in welcome.unread if u.conv == conv]
    assert (unread.unread, unread.mentions) == (3, 2)


async def test_a_mention_still_arrives_silent_while_resting(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    assert isinstance(await take_break(c["ben"], 30), Ok)
    ack = await sent(c["ann"], "@ben urgent-ish", conv=conv, mentions=("ben",))
    msg = await c["ben"].expect(Msg)
    while msg.seq != ack.seq:
        msg = await c["ben"].expect(Msg)
    assert (msg.mentioned, msg.silent) == (True, True)


# ----- replies ---------------------------------------------------------------------


async def test_a_reply_quotes_what_its_reader_may_see(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben")
    original = await sent(c["ben"], "the draft is in the share " + "x" * 200, conv=conv)
    assert isinstance(await request(c["ann"], GroupAdd, conv=conv, members=("cat",)), Ok)
    reply = await sent(c["ann"], "thanks", conv=conv, reply_to=original.seq)
    seen = (await history(c["ben"], conv))[reply.seq]
    assert seen.reply_to == original.seq
    assert seen.quote.sender == "ben" and seen.quote.text == ("the draft is in the share "
                                                              + "x" * 200)[:100]
    late = (await history(c["cat"], conv))[reply.seq]
    assert late.quote.seq == original.seq and late.quote.text is None  # added after it
    live = await c["cat"].expect(Msg)
    while live.seq != reply.seq:
        live = await c["cat"].expect(Msg)
    assert live.quote.text is None
    assert isinstance(await request(c["ben"], Recall, conv=conv, seq=original.seq), Ok)
    after = (await history(c["ann"], conv))[reply.seq]
    assert after.quote.recalled is True and after.quote.text is None


async def test_a_reply_to_an_unseen_or_missing_message_is_refused(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    await c["ben"].send("to nothing", conv=conv, reply_to=999)
    assert (await c["ben"].expect(Error)).code == "not_found"
    await c["ben"].send("to a system message", conv=conv, reply_to=1)
    assert (await c["ben"].expect(Error)).code == "not_found"


# ----- edits -----------------------------------------------------------------------


async def test_an_edit_reaches_every_device_once_and_history_shows_it(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    phone = await WireClient(nursery, server.url, c["ann"].session.token).connect()
    ack = await sent(c["ann"], "teh plan", conv=conv)
    clock.advance(60.0)
    ok = await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="the plan")
    assert isinstance(ok, Ok) and ok.pos > ack.pos
    for client in (c["ann"], c["ben"], phone):
        event = await client.expect(Edited)
        assert (event.seq, event.text, event.version, event.pos) == (ack.seq, "the plan", 1,
                                                                     ok.pos)
    shown = (await history(c["ben"], conv))[ack.seq]
    assert (shown.text, shown.version, shown.edited_at) == ("the plan", 1, clock.now_ms())
    assert sum(isinstance(f, Edited) for f in phone.wire) == 1


async def test_edits_are_the_senders_within_the_window(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ann"], "mine", conv=conv)
    other = await request(c["ben"], Edit, conv=conv, seq=ack.seq, text="yours")
    assert other.code == "forbidden"
    system = await request(c["ann"], Edit, conv=conv, seq=1, text="no")
    assert system.code == "forbidden"
    clock.advance(24 * 3600 + 1)
    late = await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="too late")
    assert late.code == "edit_expired"
    fresh = await sent(c["ann"], "recall me", conv=conv)
    assert isinstance(await request(c["ann"], Recall, conv=conv, seq=fresh.seq), Ok)
    recalled = await request(c["ann"], Edit, conv=conv, seq=fresh.seq, text="back")
    assert recalled.code == "forbidden"
    empty = await request(c["ann"], Edit, conv=conv, seq=fresh.seq, text="")
    assert empty.code == "bad_request"


async def test_a_device_that_was_away_gets_each_edit_once_by_sync(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ann"], "v0", conv=conv)
    laptop = await WireClient(nursery, server.url, c["ben"].session.token).connect()
    token = laptop.session.sync_token
    await laptop.close()
    for text in ("v1", "v2"):
        assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text=text), Ok)
    back = WireClient(nursery, server.url, c["ben"].session.token)
    back.session.sync_token = token
    await back.connect()
    seen = [e for e in back.events if isinstance(e, Edited)]
    assert [(e.seq, e.text, e.version) for e in seen] == [(ack.seq, "v1", 1), (ack.seq, "v2", 2)]
    assert int(back.session.sync_token) >= seen[-1].pos


async def test_a_former_member_keeps_the_version_of_their_removal(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    ack = await sent(c["ann"], "v0", conv=conv)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="v1"), Ok)
    assert isinstance(await request(c["ann"], GroupRemove, conv=conv, members=("cat",)), Ok)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="v2"), Ok)
    assert isinstance(await request(c["ben"], React, conv=conv, seq=ack.seq, emoji="👍",
                                    on=True), Ok)
    await c["ben"].expect(ReactionEvent)
    shown = (await history(c["cat"], conv))[ack.seq]
    assert (shown.text, shown.version, shown.reactions) == ("v1", 1, None)
    assert [e.text for e in c["cat"].taken(Edited)] == ["v1"]
    assert c["cat"].taken(ReactionEvent) == []


async def test_the_archive_keeps_every_version(server, nursery):
    c = await people(server, nursery, "alice", "bob")
    consumer_token = await server.user("carol", corp=None)
    carol = await TestClient(nursery, server.url, consumer_token).connect()
    await make_contact(c["alice"], carol)
    ack = await sent(c["alice"], "price: 100", to="carol")
    assert isinstance(await request(c["alice"], Edit, conv=ack.conv, seq=ack.seq,
                                    text="price: 90"), Ok)
    path = socket_path(server.app.config.data_dir)
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.export", {"corp": "acme"})))
    assert [(r["text"], r["kind"]) for r in rows][-2:] == [("price: 100", "text"),
                                                          ("price: 90", "edit")]


# ----- reactions -------------------------------------------------------------------


async def test_reactions_count_once_per_user_and_show_in_pages(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    ack = await sent(c["ann"], "ship it?", conv=conv)
    for who in ("ben", "cat", "ben"):
        assert isinstance(await request(c[who], React, conv=conv, seq=ack.seq, emoji="👍",
                                        on=True), Ok)
    event = await c["ann"].expect(ReactionEvent)
    while event.reactions != {"👍": 2}:
        event = await c["ann"].expect(ReactionEvent)
    mine = (await history(c["ben"], conv))[ack.seq]
    assert (mine.reactions, mine.reacted) == ({"👍": 2}, ("👍",))
    theirs = (await history(c["ann"], conv))[ack.seq]
    assert (theirs.reactions, theirs.reacted) == ({"👍": 2}, None)
    who = await request(c["ann"], ReactionsList, reply=(ReactionsListReply, Error), conv=conv,
                        seq=ack.seq, emoji="👍")
    assert (set(who.users), who.count, who.more) == ({"ben", "cat"}, 2, False)
    assert isinstance(await request(c["ben"], React, conv=conv, seq=ack.seq, emoji="👍",
                                    on=False), Ok)
    assert (await history(c["ann"], conv))[ack.seq].reactions == {"👍": 1}


async def test_reactions_are_single_emoji_and_at_most_twenty(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ann"], "vote", conv=conv)
    for bad in ("👍👍", "", " ", "\u200d"):
        refused = await request(c["ben"], React, conv=conv, seq=ack.seq, emoji=bad, on=True)
        assert refused.code == "bad_request", bad
    emoji = [chr(0x1F600 + i) for i in range(21)]
    for e in emoji[:20]:
        assert isinstance(await request(c["ben"], React, conv=conv, seq=ack.seq, emoji=e,
                                        on=True), Ok)
    over = await request(c["ben"], React, conv=conv, seq=ack.seq, emoji=emoji[20], on=True)
    assert over.code == "limit_reached"


async def test_many_reactions_fold_into_one_event_per_message_per_commit(nursery, server_config,
                                                                          clock):
    from dataclasses import replace

    from ..conftest import running_server

    # commits far apart, each waiting out the whole gap: big batches
    config = replace(server_config, commit_gap_s=0.2, commit_share_s=0)
    async with running_server(nursery, config, clock) as server:
        handles = [f"u{i}" for i in range(12)]
        c = await people(server, nursery, "ann", *handles)
        conv = await make_group(c["ann"], *handles)
        ack = await sent(c["ann"], "react!", conv=conv)
        watcher = await WireClient(nursery, server.url, c["ann"].session.token).connect()
        batches = server.app.writer.stats.batches
        for h in handles:  # all queued before the next commit
            c[h].session.queue(React(id=c[h].session.next_request_id(), conv=conv,
                                     seq=ack.seq, emoji="🎉", on=True))
        for h in handles:
            await c[h].flush()
        with trio.fail_after(5):
            while not watcher.taken(ReactionEvent) or \
                    watcher.taken(ReactionEvent)[-1].reactions != {"🎉": 12}:
                watcher._arrived = trio.Event()
                await watcher._arrived.wait()
        commits = server.app.writer.stats.batches - batches
        frames = [f for f in watcher.wire if isinstance(f, ReactionEvent)]
        assert len(frames) <= commits < 12
        assert sum(len(f.changes) for f in frames) == 12
        positions = [f.pos for f in frames]
        assert positions == sorted(positions)


async def test_a_reaction_storm_syncs_as_one_event(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    ack = await sent(c["ann"], "poll", conv=conv)
    away = await WireClient(nursery, server.url, c["ann"].session.token).connect()
    token = away.session.sync_token
    await away.close()
    for who, emoji, on in (("ben", "👍", True), ("cat", "👍", True), ("ben", "👍", False),
                           ("ben", "🎉", True)):
        assert isinstance(await request(c[who], React, conv=conv, seq=ack.seq, emoji=emoji,
                                        on=on), Ok)
    back = WireClient(nursery, server.url, c["ann"].session.token)
    back.session.sync_token = token
    await back.connect()
    [event] = [e for e in back.events if isinstance(e, ReactionEvent)]
    assert (event.seq, event.reactions, event.changes) == (ack.seq, {"👍": 1, "🎉": 1}, None)


# ----- forwarding ------------------------------------------------------------------


async def test_forward_copies_with_their_origin_once(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    team = await make_group(c["ann"], "ben", name="team")
    other = await make_group(c["ann"], "cat", name="other")
    first = await sent(c["ben"], "one", conv=team)
    second = await sent(c["ben"], "two", conv=team)
    frame = dict(client_msg_id="fwd-1", from_conv=team, seqs=(first.seq, second.seq),
                 to_conv=other)
    reply = await request(c["ann"], Forward, reply=(Forwarded, Error), **frame)
    assert isinstance(reply, Forwarded) and reply.conv == other and len(reply.seqs) == 2
    copies = (await history(c["cat"], other))
    shown = [copies[s] for s in reply.seqs]
    assert [(m.text, m.sender, m.forwarded_from.sender) for m in shown] == [
        ("one", "ann", "ben"), ("two", "ann", "ben")]
    again = await request(c["ann"], Forward, reply=(Forwarded, Error), **frame)
    assert again.duplicate is True and again.seqs == reply.seqs
    assert len(await history(c["cat"], other)) == len(copies)


async def test_forward_only_what_one_sees_and_internal_not_to_customers(server, nursery):
    c = await people(server, nursery, "alice", "bob")
    carol = await TestClient(nursery, server.url, await server.user("carol", corp=None)).connect()
    await make_contact(c["alice"], carol)
    internal = await make_group(c["alice"], "bob")
    note = await sent(c["bob"], "our margin is 40%", conv=internal)
    chat = await sent(c["alice"], "hello", to="carol")
    refused = await request(c["alice"], Forward, reply=(Forwarded, Error),
                            client_msg_id="f-2", from_conv=internal, seqs=(note.seq,),
                            to_conv=chat.conv)
    assert refused.code == "forbidden"
    unseen = await request(carol, Forward, reply=(Forwarded, Error), client_msg_id="f-3",
                           from_conv=internal, seqs=(note.seq,), to_conv=chat.conv)
    assert unseen.code == "not_member"
    await server.admin("corp.set", corp="acme", forward_to_customers=True)
    allowed = await request(c["alice"], Forward, reply=(Forwarded, Error),
                            client_msg_id="f-4", from_conv=internal, seqs=(note.seq,),
                            to_conv=chat.conv)
    assert isinstance(allowed, Forwarded)
    copy = await carol.expect(Msg)
    while copy.seq != allowed.seqs[0]:
        copy = await carol.expect(Msg)
    assert copy.forwarded_from.sender == "bob" and copy.forwarded_from.display


# ----- the group notice and pins ---------------------------------------------------


async def test_the_group_notice_is_confirmed_through_receipts(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    refused = await request(c["ben"], GroupNotice, conv=conv, text="not mine to set")
    assert refused.code == "forbidden"
    ok = await request(c["ann"], GroupNotice, conv=conv, text="Office closed Friday")
    assert isinstance(ok, Ok)
    notice = await c["ben"].expect(Msg)
    while notice.seq != ok.seq:
        notice = await c["ben"].expect(Msg)
    assert (notice.notice, notice.receipt, notice.text) == (True, True, "Office closed Friday")
    from corpchat.protocol import Read

    assert isinstance(await request(c["ben"], Read, conv=conv, seq=ok.seq), Ok)
    who = await request(c["ann"], Receipts, reply=(ReceiptsReply, Error), conv=conv, seq=ok.seq)
    assert [r.user for r in who.read] == ["ben"] and who.unread == ("cat",)
    pins = await request(c["cat"], Pins, reply=(PinsReply, Error), conv=conv)
    assert pins.notice == ok.seq
    listed = await request(c["cat"], Conversations, reply=(ConversationsReply, Error))
    assert [s.notice for s in listed.convs if s.conv == conv] == [ok.seq]


async def test_pins_are_system_messages_and_capped(server, nursery, server_config):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ben"], "pin me", conv=conv)
    assert (await request(c["ben"], Pin, conv=conv, seq=ack.seq)).code == "forbidden"
    ok = await request(c["ann"], Pin, conv=conv, seq=ack.seq)
    assert isinstance(ok, Ok)
    system = (await history(c["ben"], conv))[ok.seq]
    assert (system.event, system.ref) == ("pin", ack.seq)
    assert (await request(c["ann"], Pin, conv=conv, seq=ack.seq)).code == "not_found"
    pins = await request(c["ben"], Pins, reply=(PinsReply, Error), conv=conv)
    assert [(p.seq, p.by) for p in pins.pins] == [(ack.seq, "ann")]
    assert isinstance(await request(c["ann"], Unpin, conv=conv, seq=ack.seq), Ok)
    assert (await request(c["ben"], Pins, reply=(PinsReply, Error), conv=conv)).pins == ()


# ----- mute ------------------------------------------------------------------------


async def test_mute_hushes_all_but_mentions_and_reaches_every_device(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    tablet = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    ok = await request(c["ben"], ConvMute, conv=conv)
    assert isinstance(ok, Ok)
    for device in (c["ben"], tablet):
        event = await device.expect(MuteEvent)
        assert (event.conv, event.muted, event.until, event.pos) == (conv, True, None, ok.pos)
    plain = await sent(c["ann"], "lunch?", conv=conv)
    mention = await sent(c["ann"], "@ben deploy", conv=conv, mentions=("ben",))
    got = {m.seq: m for m in [await tablet.expect(Msg) for _ in range(2)]}
    assert got[plain.seq].silent is True
    assert (got[mention.seq].silent, got[mention.seq].mentioned) == (None, True)
    listed = await request(tablet, Conversations, reply=(ConversationsReply, Error))
    assert [s.muted_until for s in listed.convs if s.conv == conv] == [0]
    assert isinstance(await request(c["ben"], ConvMute, conv=conv, until=0), Ok)
    assert (await tablet.expect(MuteEvent)).muted is False
    await sent(c["ann"], "unmuted", conv=conv)
    assert (await tablet.expect(Msg)).silent is None


async def test_mutes_and_event_positions_survive_a_restart(nursery, server_config, clock):
    from ..conftest import running_server

    async with running_server(nursery, server_config, clock) as server:
        c = await people(server, nursery, "ann", "ben")
        tokens = {h: c[h].session.token for h in c}
        conv = await make_group(c["ann"], "ben")
        ack = await sent(c["ann"], "before", conv=conv)
        assert isinstance(await request(c["ben"], ConvMute, conv=conv), Ok)
        edit = await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="before, edited")
    async with running_server(nursery, server_config, clock) as server:
        ann = await TestClient(nursery, server.url, tokens["ann"]).connect()
        ben = await TestClient(nursery, server.url, tokens["ben"]).connect()
        after = await sent(ann, "after", conv=conv)
        assert after.pos > edit.pos  # the stream goes on after the event
        assert (await ben.expect(Msg)).silent is True  # the mute was reloaded


async def test_a_customer_in_an_external_group_mentions_employees_not_all(server, nursery):
    c = await people(server, nursery, "alice", "bob")
    carol = await TestClient(nursery, server.url, await server.user("carol", corp=None)).connect()
    await make_contact(c["alice"], carol)
    conv = await make_group(c["alice"], "bob", "carol")
    await carol.send("@all hello?", conv=conv, mentions=("all",))
    assert (await carol.expect(Error)).code == "forbidden"
    ack = await sent(carol, "@bob hello?", conv=conv, mentions=("bob",))
    msg = await c["bob"].expect(Msg)
    while msg.seq != ack.seq:
        msg = await c["bob"].expect(Msg)
    assert (msg.mentioned, msg.external) == (True, True)


async def test_search_indexes_the_edited_text(server, nursery):
    from .test_search import caught_up, found

    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ann"], "meeting on tuesday", conv=conv)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq,
                                    text="meeting on thursday"), Ok)
    await caught_up(server)
    assert await found(c["ben"], "thursday") == ["meeting on thursday"]
    assert await found(c["ben"], "tuesday") == []
