"""`conversations` with each conversation's last message (revision 1.9, for the
web client's list): the message the reader's `history` would end with, as that
reader may see it — recalls, edits, quotes, and a member's span (§10.6)."""

from __future__ import annotations

import dataclasses

import pytest

from corpchat.protocol import (
    Conversations,
    ConversationsReply,
    Edit,
    Error,
    GroupAdd,
    GroupRemove,
    History,
    HistoryPage,
    Msg,
    Ok,
    Recall,
    encode,
)

from ..client import TestClient
from .test_everyday import sent
from .test_groups import make_group, people, request


async def listed(client: TestClient) -> dict[int, Msg | None]:
    reply = await request(client, Conversations, reply=(ConversationsReply, Error))
    assert isinstance(reply, ConversationsReply), reply
    return {row.conv: row.last for row in reply.convs}


async def newest(client: TestClient, conv: int) -> Msg:
    page = await request(client, History, reply=(HistoryPage, Error), conv=conv, limit=1)
    assert isinstance(page, HistoryPage), page
    (msg,) = page.msgs
    return msg


async def test_each_conversation_comes_with_its_last_message(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    direct = (await sent(c["ben"], "lunch at noon?", to="ann")).conv
    group = await make_group(c["ann"], "ben", name="crew")
    await sent(c["ann"], "in the group", conv=group)
    last = await listed(c["ben"])
    assert (last[direct].text, last[direct].sender) == ("lunch at noon?", "ben")
    assert (last[group].text, last[group].sender) == ("in the group", "ann")
    for conv in (direct, group):
        assert last[conv] == await newest(c["ben"], conv)  # exactly what history shows
    board = [conv for conv, msg in last.items() if conv not in (direct, group)]
    assert [last[conv] for conv in board] == [None]  # the notice board: nothing posted yet


async def test_a_recalled_last_message_shows_no_text(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    ack = await sent(c["ann"], "wrong chat, sorry", to="ben")
    assert isinstance(await request(c["ann"], Recall, conv=ack.conv, seq=ack.seq), Ok)
    last = (await listed(c["ben"]))[ack.conv]
    assert (last.kind, last.event, last.ref) == ("system", "recall", ack.seq)
    assert "wrong chat" not in repr(last)


async def test_an_edited_last_message_shows_its_latest_version(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    ack = await sent(c["ann"], "meet at 3", to="ben")
    assert isinstance(await request(c["ann"], Edit, conv=ack.conv, seq=ack.seq,
                                    text="meet at 4"), Ok)
    last = (await listed(c["ben"]))[ack.conv]
    assert (last.seq, last.text, last.version) == (ack.seq, "meet at 4", 1)


async def test_a_member_sees_only_the_messages_of_their_span(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben")
    original = await sent(c["ben"], "before cat came: the budget is 40k", conv=conv)
    assert isinstance(await request(c["ann"], GroupAdd, conv=conv, members=("cat",)), Ok)
    reply = await sent(c["ann"], "agreed", conv=conv, reply_to=original.seq)
    late = (await listed(c["cat"]))[conv]
    assert late.seq == reply.seq and late.quote.text is None  # added after the original
    assert (await listed(c["ben"]))[conv].quote.text.startswith("before cat came")
    assert isinstance(await request(c["ann"], GroupRemove, conv=conv, members=("cat",)), Ok)
    await sent(c["ann"], "after cat left", conv=conv)
    gone = (await listed(c["cat"]))[conv]
    assert (gone.kind, gone.event) == ("system", "remove")  # their last: their removal
    assert gone == await newest(c["cat"], conv)


class TestAPageOfPreviews:
    """The previews together take at most a page's bytes (`max_page_bytes`): the most
    recent conversations get theirs, the others none (the client asks `history`)."""

    @pytest.fixture
    def server_config(self, server_config):
        return dataclasses.replace(server_config, max_page_bytes=3000)

    async def test_the_most_recent_conversations_get_theirs(self, server, nursery):
        c = await people(server, nursery, "ann", "ben", "cat", "dan")
        convs = [(await sent(c[who], "x" * 1000, to="ann")).conv for who in ("ben", "cat", "dan")]
        last = await listed(c["ann"])
        assert [last[conv] is not None for conv in convs] == [False, True, True]
        assert sum(len(encode(msg)) for msg in last.values() if msg) <= 3000
