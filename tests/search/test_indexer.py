"""The indexer against a real store in tmp_path: catch-up after a crash,
recalls, rebuilds, and hits checked against the store."""

from __future__ import annotations

import os

import pytest

from corpchat.search import Indexer, Request, SearchIndex, parse, search
from corpchat.store import Store
from corpchat.store.messages import messages_after
from tests.store.test_store import NOW, people, send, write


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=32 * 1024 * 1024, durable=False)
    yield s
    s.close()


def indexer(store: Store, tmp_path, **kw) -> Indexer:
    return Indexer(store, os.fspath(tmp_path / "search"), now_ms=lambda: NOW, page=7, **kw)


def drain(ix: Indexer) -> None:
    while ix.step():
        pass


def found(ix: Indexer, store: Store, uid: int, text: str, **kw) -> list[str]:
    page = search(ix.index, store, Request(uid=uid, query=parse(text), limit=50, **kw))
    return [hit.msg.text for hit in page.hits]


def test_messages_after_pages_the_whole_stream_in_order(store):
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 10)
    first = store.read(messages_after, pos=0, limit=4)
    rest = store.read(messages_after, pos=first[-1][0], limit=100)
    positions = [pos for pos, _ in first + rest]
    assert positions == sorted(positions) and len(set(positions)) == 10
    assert all(pos == msg.pos for pos, msg in first + rest)  # a message's own entries


def test_indexes_and_finds_only_what_the_reader_may_see(store, tmp_path):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    send(store, alice, bob, 1, text="我明天提交报销单")
    ix = indexer(store, tmp_path)
    drain(ix)
    assert found(ix, store, bob.uid, "报销") == ["我明天提交报销单"]
    assert found(ix, store, carol.uid, "报销") == []  # not in that conversation
    assert ix.stats().lag_messages == 0
    ix.stop()


def test_a_killed_indexer_catches_up_without_doubles(store, tmp_path):
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 20, prefix="hello")
    ix = indexer(store, tmp_path)
    ix.step()  # one page of 7 committed, then "killed": the writer's lock released below
    held = ix.pos
    assert 0 < held < store.head_pos()
    ix.index.writer = None  # dropped without wait_merging_threads, as a kill would
    del ix
    import gc
    gc.collect()
    again = indexer(store, tmp_path)
    again.open()
    assert again.pos == held
    drain(again)
    assert again.index.documents() == 20
    assert again.pos == store.head_pos()
    again.stop()


def test_recall_removes_the_hit(store, tmp_path):
    alice, bob = people(store, "alice", "bob")
    [msg] = send(store, alice, bob, 1, text="secret plan")
    ix = indexer(store, tmp_path)
    drain(ix)
    assert found(ix, store, bob.uid, "secret") == ["secret plan"]

    def recall(w):
        w.rewrite_message(type(msg)(**{**{f: getattr(msg, f) for f in msg.__slots__},
                                       "recalled": True, "text": ""}))
        w.append(conv=msg.conv, sender="alice", now_ms=NOW, kind="system", event="recall",
                 ref=msg.seq)
    write(store, recall)
    assert found(ix, store, bob.uid, "secret") == []  # the store says no, at once
    drain(ix)
    assert ix.index.documents() == 0  # and the index forgot it


def test_reindex_while_following(store, tmp_path):
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 30, prefix="before")
    ix = indexer(store, tmp_path)
    drain(ix)
    old = ix.index.path
    ix.request_reindex()
    ix.step()  # the rebuild has begun; messages keep arriving
    send(store, alice, bob, 5, prefix="during")
    assert len(found(ix, store, bob.uid, "during0")) <= 1
    drain(ix)
    assert not ix.stats().reindexing and ix.index.path != old and not os.path.exists(old)
    assert ix.index.documents() == 35
    assert found(ix, store, bob.uid, "during4") == ["during4"]
    ix.stop()
    reopened = indexer(store, tmp_path)  # CURRENT names the new generation
    reopened.open()
    assert reopened.index.path == ix.index.path and reopened.pos == store.head_pos()
    reopened.stop()


def test_a_half_built_generation_is_removed_at_start(store, tmp_path):
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 3)
    ix = indexer(store, tmp_path)
    drain(ix)
    ix.stop()
    SearchIndex(os.fspath(tmp_path / "search" / "2"), writable=True).close()
    again = indexer(store, tmp_path)
    again.open()
    assert sorted(os.listdir(tmp_path / "search")) == ["1"]
    assert again.pos == store.head_pos()
    again.stop()


def test_an_unreadable_index_is_rebuilt_from_the_store(store, tmp_path):
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 9, prefix="kept")
    ix = indexer(store, tmp_path)
    drain(ix)
    ix.stop()
    with open(tmp_path / "search" / "1" / "meta.json", "w") as f:
        f.write("{not json")  # as a power loss in the middle of a commit might leave it
    again = indexer(store, tmp_path)
    again.open()
    assert again.pos == 0
    drain(again)
    assert again.index.documents() == 9 and found(again, store, bob.uid, "kept8") == ["kept8"]
    again.stop()


def test_a_failed_step_reopens_from_the_last_commit(store, tmp_path):
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 10, prefix="m")
    ix = indexer(store, tmp_path)
    ix.step()
    held = ix.pos
    ix.index.apply([], pos=999)  # staged, never committed
    ix._reopen()
    drain(ix)
    assert held < ix.pos == store.head_pos() and ix.index.documents() == 10
    ix.stop()


def test_an_index_ahead_of_the_database_is_rebuilt(store, tmp_path):
    """A backup restored under a newer index: the index's positions mean other messages."""
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 3, prefix="new")
    ix = indexer(store, tmp_path)
    ix.open()
    ix.index.apply([], pos=500)  # as if it had indexed a longer history
    ix.index.commit()
    ix.stop()
    again = indexer(store, tmp_path)
    again.open()
    assert again.pos == 0
    drain(again)
    assert again.index.documents() == 3
    again.stop()


def test_a_later_stream_entry_naming_a_message_indexes_it_again(store, tmp_path):
    """What an edit feature does: rewrite the message, and name it in the stream at the
    change's position; the index then holds the new text only (one document)."""
    from corpchat.store import keys

    alice, bob = people(store, "alice", "bob")
    [msg] = send(store, alice, bob, 1, text="see you at noon")
    ix = indexer(store, tmp_path)
    drain(ix)

    def edit(w):
        w.rewrite_message(type(msg)(**{**{f: getattr(msg, f) for f in msg.__slots__},
                                       "text": "see you at one"}))
        w.store.head += 1  # the change's own stream position, as an edit would take
        w.txn.put(keys.u64(w.store.head), keys.pair(msg.conv, msg.seq), db=w.db["stream"])
    write(store, edit)
    drain(ix)
    assert ix.pos == store.head_pos() and ix.index.documents() == 1
    assert found(ix, store, bob.uid, "noon") == [] and found(ix, store, bob.uid, "one") == [
        "see you at one"]
    ix.stop()


def test_positions_without_stream_entries_still_count_as_caught_up(store, tmp_path):
    """A reaction or a mute takes a stream position and names no message: once the
    indexer has read the whole stream it holds the head exactly, with no lag left over
    (before: it stopped at the last entry, so `lag_messages` never reached 0)."""
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 3, prefix="hi")
    write(store, lambda w: [w.next_pos() for _ in range(4)])  # four reactions, say
    ix = indexer(store, tmp_path)
    drain(ix)
    assert ix.pos == store.head_pos() and ix.stats().lag_messages == 0
    write(store, lambda w: w.next_pos())  # only such positions since: no commit needed
    commits = ix.commits
    drain(ix)
    assert ix.pos == store.head_pos() and ix.commits == commits
    send(store, alice, bob, 1, prefix="later")
    drain(ix)
    assert ix.pos == store.head_pos() and found(ix, store, bob.uid, "later0") == ["later0"]
    ix.stop()


def test_an_index_locked_by_another_indexer_is_retried_never_wiped(store, tmp_path):
    """A server restarted at once after a kill -9 meets its old indexer process still
    holding tantivy's writer lock for a moment: the new one waits and retries (before,
    it took the lock error for an unreadable index and removed the directory)."""
    alice, bob = people(store, "alice", "bob")
    send(store, alice, bob, 10, prefix="kept")
    old = indexer(store, tmp_path)
    drain(old)
    new = indexer(store, tmp_path)
    assert new.step_or_recover() is None and not new.is_open
    assert old.index.documents() == 10 and os.listdir(tmp_path / "search" / "1")
    old.stop()
    drain(new)
    assert new.index.documents() == 10 and found(new, store, bob.uid, "kept3") == ["kept3"]
    new.stop()
