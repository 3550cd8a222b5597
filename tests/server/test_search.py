"""Search over a real server: what is found in every script, who may see a hit
(checked hit by hit against the log), recalls, reindexing while serving, and
bad queries."""

from __future__ import annotations

import dataclasses
import json

import pytest
import trio

from corpchat.adminclient import call_stream, socket_path
from corpchat.protocol import (
    Ack,
    Error,
    GroupAdd,
    GroupDissolve,
    GroupLeave,
    GroupRemove,
    History,
    HistoryPage,
    Ok,
    Recall,
    Search,
    SearchPage,
)
from corpchat.protocol.admin import AdminError
from corpchat.search import SearchCaps
from corpchat.server.cli import main

from .test_groups import make_contact, make_group, people, request


@pytest.fixture
def server_config(server_config):
    """The indexer commits without its production pause (1 s), so tests wait less; one
    search per session at a time, so a burst of them is surely refused in part."""
    return dataclasses.replace(server_config, search=SearchCaps(pause_s=0.02, per_session=1))


async def caught_up(server) -> None:
    """Wait (bounded) until the index is open and holds everything committed so far."""
    indexer = server.app.indexer
    with trio.fail_after(10):
        while indexer.index is None or indexer.pos < server.app.store.head_pos():
            indexer.wake()
            await trio.sleep(0.01)


async def search(client, query: str, **fields) -> SearchPage | Error:
    return await request(client, Search, reply=(SearchPage, Error), query=query, **fields)


async def found(client, query: str, **fields) -> list[str]:
    page = await search(client, query, **fields)
    assert isinstance(page, SearchPage), page
    return [hit.snippet.text for hit in page.hits]


TEXTS = [
    "我明天提交报销单",
    "東京タワーに行きます",
    "회의는 내일입니다",
    "The quarterly REPORT is ready",
    "ship it 🚀 today",
    "请review一下PR #42，谢谢",
    "ｆｕｌｌ　ｗｉｄｔｈ letters",
    "Café au lait",
]
CASES = [  # (query, the texts it finds)
    ("报销", ["我明天提交报销单"]),
    ("报销单", ["我明天提交报销单"]),
    ("提交 报销", ["我明天提交报销单"]),
    ("报", ["我明天提交报销单"]),
    ("单报", []),  # the characters, not in this order
    ("报销表", []),
    ("タワー", ["東京タワーに行きます"]),
    ("東京", ["東京タワーに行きます"]),
    ("京都", []),
    ("회의", ["회의는 내일입니다"]),
    ("내일", ["회의는 내일입니다"]),
    ("회사", []),
    ("report", ["The quarterly REPORT is ready"]),
    ('"quarterly report"', ["The quarterly REPORT is ready"]),
    ('"report quarterly"', []),
    ("quarterly -ready", []),
    ("repo", []),  # words, not prefixes
    ("🚀", ["ship it 🚀 today"]),
    ("🎉", []),
    ("review PR", ["请review一下PR #42，谢谢"]),
    ("谢谢", ["请review一下PR #42，谢谢"]),
    ("full width", ["ｆｕｌｌ　ｗｉｄｔｈ letters"]),
    ("ＬＥＴＴＥＲＳ", ["ｆｕｌｌ　ｗｉｄｔｈ letters"]),
    ("café", ["Café au lait"]),
    ("xyzzy", []),
    ("the AND", []),  # AND is a word here, and no message holds it
]


async def test_every_script_is_found_by_sensible_queries_only(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    for text in TEXTS:
        await c["ann"].send(text, to="ben")
        await c["ann"].expect(Ack)
    await caught_up(server)
    for query, expected in CASES:
        assert sorted(await found(c["ben"], query)) == sorted(expected), query


async def test_snippet_ranges_mark_the_match(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    await c["ann"].send("明天提交报销单, then 报销 again", to="ben")
    await c["ann"].expect(Ack)
    await caught_up(server)
    page = await search(c["ben"], "报销")
    [hit] = page.hits
    assert (hit.sender, hit.conv, hit.seq) == ("ann", page.hits[0].conv, 1)
    assert [hit.snippet.text[a:b] for a, b in hit.snippet.ranges] == ["报销", "报销"]


async def test_filters_order_and_paging(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    times = []
    for i in range(7):
        clock.advance(1000)
        sender = "ben" if i % 2 else "cat"
        await c[sender].send(f"budget item {i}", conv=conv)
        times.append((await c[sender].expect(Ack)).time)
    await caught_up(server)
    assert len(await found(c["ann"], "budget", sender="ben")) == 3
    assert await found(c["ann"], "budget", after=times[4]) == ["budget item 6", "budget item 5"]
    assert await found(c["ann"], "budget", before=times[1]) == ["budget item 0"]
    assert await found(c["ann"], "budget", kind="file") == []
    seen, cursor = [], None
    while True:
        page = await search(c["ann"], "budget", limit=3, cursor=cursor)
        seen += [h.seq for h in page.hits]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 7
    ranked = await search(c["ann"], "budget", order="relevance", limit=50)
    assert len(ranked.hits) == 7


BAD = ["", "   ", "x" * 10_000, '"unclosed quote', "-only", "-a -b", "+ * : ( )", '""',
       " ".join(f"w{i}" for i in range(40))]


@pytest.mark.parametrize("query", BAD, ids=range(len(BAD)))
async def test_bad_queries_get_bad_request(server, nursery, query):
    c = await people(server, nursery, "ann")
    answer = await search(c["ann"], query)
    assert isinstance(answer, Error) and answer.code == "bad_request", answer
    assert await found(c["ann"], "still works") == []  # the connection is fine


@pytest.mark.parametrize("fields", [{"limit": 51}, {"limit": 0}, {"order": "oldest"},
                                    {"kind": "sticker"}, {"cursor": "p12"},
                                    {"cursor": "o1", "order": "newest"},
                                    {"before": 5, "after": 9}])
async def test_bad_search_fields_get_bad_request(server, nursery, fields):
    c = await people(server, nursery, "ann")
    answer = await search(c["ann"], "words", **fields)
    if fields.get("cursor") == "p12":  # a well-formed cursor: just an empty page
        assert isinstance(answer, SearchPage)
        return
    assert isinstance(answer, Error) and answer.code == "bad_request", (fields, answer)


async def test_conv_filter_of_a_stranger_is_not_member(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben")
    answer = await search(c["cat"], "x", conv=conv)
    assert isinstance(answer, Error) and answer.code == "not_member"


async def test_recall_removes_a_hit(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    await c["ann"].send("launch codes 1234", to="ben")
    ack = await c["ann"].expect(Ack)
    await caught_up(server)
    assert await found(c["ben"], "launch") == ["launch codes 1234"]
    assert isinstance(await request(c["ann"], Recall, conv=ack.conv, seq=ack.seq), Ok)
    await caught_up(server)
    assert await found(c["ben"], "launch") == []
    assert await found(c["ann"], "launch") == []


async def visible_log(client, conv: int) -> set[int]:
    """The seqs of `conv` the client's own `history` shows (text, not recalled)."""
    page = await request(client, History, reply=(HistoryPage, Error), conv=conv, limit=500)
    if isinstance(page, Error):
        return set()
    return {m.seq for m in page.msgs if not m.kind and not m.recalled}


async def test_visibility_worst_cases_hit_by_hit(server, nursery):
    """Removed and re-added members, messages sent in between, a recall, a consumer in
    an external group and an outsider: every hit of every reader is a message their
    own history shows, and every such message is found."""
    c = await people(server, nursery, "ann", "ben", "cat", "dan")
    c.update(await people(server, nursery, "zoe", corp=None))
    c.update(await people(server, nursery, "eve", corp="other"))
    await make_contact(c["ann"], c["zoe"])
    conv = await make_group(c["ann"], "ben", "cat")
    say = [("ann", "secret alpha one"), ("ben", "secret alpha two")]
    for sender, text in say:
        await c[sender].send(text, conv=conv)
        await c[sender].expect(Ack)
    await request(c["ann"], GroupRemove, conv=conv, members=("cat",))
    await c["ann"].send("secret alpha while cat is out", conv=conv)
    await c["ann"].expect(Ack)
    assert isinstance(await request(c["ann"], GroupAdd, conv=conv, members=("cat", "zoe")), Ok)
    await c["ben"].send("secret alpha after", conv=conv)
    ack = await c["ben"].expect(Ack)
    await c["ben"].send("secret alpha recalled", conv=conv)
    recalled = await c["ben"].expect(Ack)
    await request(c["ben"], Recall, conv=conv, seq=recalled.seq)
    await request(c["ann"], GroupRemove, conv=conv, members=("ben",))
    await c["ann"].send("secret alpha after ben left", conv=conv)
    await c["ann"].expect(Ack)
    other = await make_group(c["eve"], name="elsewhere")
    await c["eve"].send("secret alpha in another corp", conv=other)
    await c["eve"].expect(Ack)
    await caught_up(server)
    assert ack.seq
    for who in ("ann", "ben", "cat", "dan", "zoe", "eve"):
        page = await search(c[who], "secret alpha", limit=50)
        hits = {(h.conv, h.seq) for h in page.hits}
        log = {(conv, s) for s in await visible_log(c[who], conv)} | \
            {(other, s) for s in await visible_log(c[who], other)}
        assert hits == log, who
    assert not any(h.conv == conv for h in (await search(c["dan"], "secret")).hits)
    assert {h.snippet.text for h in (await search(c["cat"], "secret", limit=50)).hits} == {
        "secret alpha after", "secret alpha after ben left"}  # re-added: from the new span
    assert {h.snippet.text for h in (await search(c["ben"], "secret", limit=50)).hits} == {
        "secret alpha one", "secret alpha two", "secret alpha while cat is out",
        "secret alpha after"}  # a former member: what they saw, not the recall


async def test_many_invisible_candidates_still_answer_with_a_cursor(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    await request(c["ann"], GroupRemove, conv=conv, members=("cat",))
    for i in range(30):
        await c["ann"].send(f"noise {i}", conv=conv)
        await c["ann"].expect(Ack)
    await request(c["ann"], GroupAdd, conv=conv, members=("cat",))
    await c["ann"].send("noise visible", conv=conv)
    await c["ann"].expect(Ack)
    await caught_up(server)
    server.app.config = dataclasses.replace(server.app.config,
                                            search=SearchCaps(max_candidates=10))
    page = await search(c["cat"], "noise", limit=5)
    assert [h.snippet.text for h in page.hits] == ["noise visible"] and page.cursor
    while page.cursor:
        page = await search(c["cat"], "noise", limit=5, cursor=page.cursor)
        assert page.hits == ()


async def test_reindex_while_serving(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    for i in range(20):
        await c["ann"].send(f"before reindex {i}", to="ben")
        await c["ann"].expect(Ack)
    await caught_up(server)
    old = server.app.indexer.index.path
    async with trio.open_nursery() as inner:
        inner.start_soon(server.admin, "search.reindex")
        for i in range(5):  # searching and sending go on meanwhile
            await c["ann"].send(f"during reindex {i}", to="ben")
            await c["ann"].expect(Ack)
            assert isinstance(await search(c["ben"], "reindex"), SearchPage)
    await caught_up(server)
    assert server.app.indexer.index.path != old
    assert len(await found(c["ben"], "reindex", limit=50)) == 25
    stats = await server.admin("stats")
    assert stats["search_lag_messages"] == 0 and stats["search_documents"] == 25


async def test_archive_search_finds_recalled_versions_and_badges_hits(server, nursery):
    c = await people(server, nursery, "alice")
    c.update(await people(server, nursery, "carol", corp=None))
    await make_contact(c["alice"], c["carol"])
    await c["alice"].send("你的报销单已经批准", to="carol")
    ack = await c["alice"].expect(Ack)
    await c["carol"].send("thanks for the refund", to="alice")
    await c["carol"].expect(Ack)
    assert isinstance(await request(c["alice"], Recall, conv=ack.conv, seq=ack.seq), Ok)
    await caught_up(server)
    assert await found(c["carol"], "报销") == []  # recalled: gone for the members
    [hit] = (await search(c["alice"], "refund")).hits
    assert (hit.sender, hit.external) == ("carol", True)  # the badge, as in `msg`
    path = socket_path(server.app.config.data_dir)
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.search", {"corp": "acme", "query": "报销"})))
    assert [(r["sender"], r["text"], r["kind"]) for r in rows] == [
        ("alice", "你的报销单已经批准", "text")]
    assert [rows[0]["snippet"][a:b] for a, b in rows[0]["ranges"]] == ["报销"]
    with pytest.raises(AdminError):
        await trio.to_thread.run_sync(
            lambda: list(call_stream(path, "archive.search", {"corp": "acme", "query": '"'})))


async def test_admin_cli_search_commands(server, nursery, capsys):
    c = await people(server, nursery, "alice")
    c.update(await people(server, nursery, "carol", corp=None))
    await make_contact(c["alice"], c["carol"])
    await c["alice"].send("quarterly invoice attached", to="carol")
    await c["alice"].expect(Ack)
    data = server.app.config.data_dir
    code = await trio.to_thread.run_sync(main, ["admin", "--data", data, "--json", "search",
                                                "reindex"])
    assert code == 0 and json.loads(capsys.readouterr().out)["documents"] == 1
    code = await trio.to_thread.run_sync(main, ["admin", "--data", data, "archive", "search",
                                                "acme", "invoice -draft"])
    assert code == 0 and "quarterly invoice attached" in capsys.readouterr().out


async def test_search_turned_off_is_forbidden(nursery, server_config, clock):
    from ..conftest import running_server

    config = dataclasses.replace(server_config, search=SearchCaps(enabled=False))
    async with running_server(nursery, config, clock) as server:
        c = await people(server, nursery, "ann")
        answer = await search(c["ann"], "anything")
        assert isinstance(answer, Error) and answer.code == "forbidden"
        assert (await server.admin("stats"))["search_documents"] == 0


async def test_a_flood_of_searches_from_one_session_is_rate_limited(server, nursery):
    """More than `per_session` searches at once: the rest are refused with rate_limited
    and retry_after_ms, and the reference client sends them again after it (§28), so
    every one is answered with a page in the end."""
    c = await people(server, nursery, "ann")
    await caught_up(server)  # searches run in threads once the index is open
    ids = []
    for _ in range(6):  # back to back: more than [search] per_session are running
        rid = c["ann"].session.next_request_id()
        c["ann"].session.queue(Search(id=rid, query="anything at all"))
        ids.append(rid)
    await c["ann"].flush()

    def answered(kind: type) -> set[int]:
        return {e.re for e in c["ann"].events if isinstance(e, kind) and e.re in ids}

    with trio.fail_after(10):
        while answered(SearchPage) != set(ids):
            c["ann"]._arrived = trio.Event()
            await c["ann"]._arrived.wait()
    limited = [e for e in c["ann"].events if isinstance(e, Error) and e.re in ids]
    assert limited and all(e.code == "rate_limited" and e.retry_after_ms for e in limited)


async def test_dissolved_and_left_conversations_stay_searchable(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    await c["ben"].send("minutes of the offsite", conv=conv)
    await c["ben"].expect(Ack)
    assert isinstance(await request(c["cat"], GroupLeave, conv=conv), Ok)
    await c["ann"].send("offsite photos after cat left", conv=conv)
    await c["ann"].expect(Ack)
    assert isinstance(await request(c["ann"], GroupDissolve, conv=conv), Ok)
    await caught_up(server)
    assert await found(c["ben"], "offsite") == ["offsite photos after cat left",
                                                 "minutes of the offsite"]
    assert await found(c["cat"], "offsite") == ["minutes of the offsite"]  # up to leaving
    assert await found(c["cat"], "offsite", conv=conv) == ["minutes of the offsite"]
