"""Search over a real server, continued: the indexer process follows every kind of
stream position (reactions and mutes index nothing), edits and recalls reach the
index itself, and the holes of "no one sees a hit they may not see" around
edited versions, realms and the corp archive."""

from __future__ import annotations

import trio

from corpchat.adminclient import call_stream, socket_path
from corpchat.protocol import Ack, ConvMute, Edit, GroupRemove, Ok, React, Recall

from .test_groups import make_contact, make_group, people, request
from .test_search import caught_up, found, search
from .test_search import server_config as server_config  # the indexer without its pause


async def sent(client, text: str, **kw) -> Ack:
    await client.send(text, **kw)
    return await client.expect(Ack)


async def test_reactions_and_mutes_leave_the_index_caught_up(server, nursery):
    """A reaction and a mute take stream positions that name no message: the index
    still reaches the head exactly and reports no lag (before, it stopped at its last
    entry: `caught_up` waited for ever and `search_lag_messages` stayed 1 or more)."""
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ann"], "lunch at noon", conv=conv)
    assert isinstance(await request(c["ben"], React, conv=conv, seq=ack.seq, emoji="👍",
                                    on=True), Ok)
    assert isinstance(await request(c["ben"], ConvMute, conv=conv), Ok)
    await caught_up(server)
    assert server.app.indexer.pos == server.app.store.head_pos()
    stats = await server.admin("stats")
    assert stats["search_lag_messages"] == 0 and stats["search_lag_s"] == 0
    assert await found(c["ben"], "lunch") == ["lunch at noon"]


async def test_edits_and_recalls_reach_the_index_itself(server, nursery):
    """Not only the store's check at query time: the index holds the edited text in
    place of the old one, and forgets a recalled message."""
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    ack = await sent(c["ann"], "draft budget v1", conv=conv)
    other = await sent(c["ann"], "draft agenda", conv=conv)
    await caught_up(server)
    assert server.app.indexer.index.documents() == 2
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq,
                                    text="final budget v2"), Ok)
    assert isinstance(await request(c["ann"], Recall, conv=conv, seq=other.seq), Ok)
    await caught_up(server)
    index = server.app.indexer.index
    assert index.documents() == 1  # one document per message; the recalled one is gone
    from corpchat.search import parse

    def candidates(text: str) -> list[int]:
        query = parse(text).tantivy()
        return [hit.seq for hit in index.search(query, newest=True, offset=0, limit=10)]

    assert candidates("final") == [ack.seq] and candidates("v1") == []
    assert candidates("agenda") == []
    assert await found(c["ben"], "budget") == ["final budget v2"]


async def test_a_former_member_sees_the_version_they_saw_not_a_later_edit(server, nursery):
    """cat leaves before ann edits: cat's history shows the text as it was, so search must
    neither show cat the edited text nor find the message through the edit's words."""
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    ack = await sent(c["ann"], "salary review alpha", conv=conv)
    assert isinstance(await request(c["ann"], GroupRemove, conv=conv, members=("cat",)), Ok)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq,
                                    text="salary review omega"), Ok)
    await caught_up(server)
    assert await found(c["ben"], "omega") == ["salary review omega"]
    assert await found(c["cat"], "omega") == []  # the edit came after cat left
    assert await found(c["cat"], "salary") == ["salary review alpha"]  # the version cat saw
    assert await found(c["cat"], "salary -alpha") == []  # the query, on what cat sees
    assert await found(c["ben"], "alpha") == []  # the index holds the latest text only


async def test_realms_and_corps_never_cross_in_search(server, nursery):
    """A consumer finds only their own conversations; an employee of the same corp who is
    not in an external conversation does not find it (only the archive does, below); an
    employee of another corp finds nothing of this one."""
    c = await people(server, nursery, "ann", "ben")
    c.update(await people(server, nursery, "zoe", "yan", corp=None))
    c.update(await people(server, nursery, "eve", corp="other"))
    await make_contact(c["ann"], c["zoe"])
    await make_contact(c["ann"], c["yan"])
    await sent(c["ann"], "contract quote for zoe", to="zoe")
    await sent(c["ann"], "contract quote for yan", to="yan")
    internal = await make_group(c["ann"], "ben")
    await sent(c["ben"], "contract internal margin", conv=internal)
    await caught_up(server)
    assert await found(c["zoe"], "contract") == ["contract quote for zoe"]
    assert await found(c["yan"], "contract") == ["contract quote for yan"]
    assert await found(c["ben"], "contract") == ["contract internal margin"]
    assert await found(c["eve"], "contract") == []
    assert len(await found(c["ann"], "contract")) == 3
    for who in ("zoe", "eve"):  # a conversation of others, named outright
        answer = await search(c[who], "contract", conv=internal)
        assert getattr(answer, "code", None) == "not_member", who


async def test_archive_search_finds_every_version_of_an_edited_message(server, nursery):
    """The corp archive keeps every version, for compliance: the original wording is found
    there after an edit, though no member's search finds it any more."""
    c = await people(server, nursery, "ann")
    c.update(await people(server, nursery, "zoe", corp=None))
    await make_contact(c["ann"], c["zoe"])
    ack = await sent(c["ann"], "discount 30 percent guaranteed", to="zoe")
    assert isinstance(await request(c["ann"], Edit, conv=ack.conv, seq=ack.seq,
                                    text="discount 10 percent"), Ok)
    await caught_up(server)
    assert await found(c["zoe"], "guaranteed") == []
    path = socket_path(server.app.config.data_dir)
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.search", {"corp": "acme",
                                                           "query": "discount"})))
    assert [(r["text"], r["kind"]) for r in rows] == [
        ("discount 30 percent guaranteed", "text"), ("discount 10 percent", "edit")]
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.search", {"corp": "acme",
                                                           "query": "guaranteed"})))
    assert [r["text"] for r in rows] == ["discount 30 percent guaranteed"]


async def test_a_killed_indexer_process_is_replaced_and_catches_up(server, nursery):
    """kill -9 of the indexer process alone: the server starts another, which resumes from
    the index's last commit; searches keep answering meanwhile (from the last commit)."""
    import os
    import signal

    c = await people(server, nursery, "ann", "ben")
    await sent(c["ann"], "before the kill", to="ben")
    await caught_up(server)
    first = server.app.indexer.pid
    os.kill(first, signal.SIGKILL)
    await sent(c["ann"], "after the kill", to="ben")
    assert await found(c["ben"], "before") == ["before the kill"]
    await caught_up(server)
    assert server.app.indexer.pid != first
    assert await found(c["ben"], "kill") == ["after the kill", "before the kill"]
    assert server.app.indexer.index.documents() == 2  # nothing twice
