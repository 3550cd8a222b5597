"""Tokens' last use kept in memory and written in chunks (server/seen.py), on a real store."""

from __future__ import annotations

import os

import pytest

from corpchat.server import seen as seen_module
from corpchat.server.seen import SeenTokens
from corpchat.store import StorageError, Store, tokens

from ..store.test_store import NOW, people, write


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=16 * 1024 * 1024, durable=False)
    yield s
    s.close()


def recorder(store: Store, submitted: list) -> SeenTokens:
    def record(op) -> None:  # what the writer would run, one committed op each
        submitted.append(write(store, op))
    return SeenTokens(record)


def _issue(store: Store, uid: int, n: int) -> list[str]:
    return [write(store, lambda w: w.issue_token(uid, NOW))[0] for _ in range(n)]


def test_notes_are_shown_at_once_and_written_by_one_flush(store):
    (ann,) = people(store, "ann")
    _issue(store, ann.uid, 2)
    submitted: list = []
    seen = recorder(store, submitted)
    listed = store.read(tokens.user_tokens, ann.uid)
    first, second = (t.token_id for t in listed)
    seen.note(listed[0], "phone", NOW + 5, "10.0.0.1:4")
    assert submitted == []  # nothing written per hello
    shown = seen.overlay(store.read(tokens.user_tokens, ann.uid))
    assert [(t.token_id, t.device, t.last_seen_ms, t.address) for t in shown] == [
        (first, "phone", NOW + 5, "10.0.0.1:4"), (second, "", 0, "")]
    seen.flush()
    assert submitted == [1] and len(seen) == 0
    assert store.read(tokens.user_tokens, ann.uid) == shown
    seen.flush()  # nothing noted: nothing submitted
    assert submitted == [1]


def test_a_token_is_noted_once_a_minute_whether_written_or_not(store):
    (ann,) = people(store, "ann")
    _issue(store, ann.uid, 1)
    seen = recorder(store, [])
    [token] = store.read(tokens.user_tokens, ann.uid)
    seen.note(token, "phone", NOW, "")
    seen.note(token, "desk", NOW + tokens.SEEN_EVERY_MS - 1, "")  # within the minute
    assert [t.device for t in seen.overlay([token])] == ["phone"]
    seen.note(token, "desk", NOW + tokens.SEEN_EVERY_MS, "")
    assert [(t.device, t.last_seen_ms) for t in seen.overlay([token])] == [
        ("desk", NOW + tokens.SEEN_EVERY_MS)]
    seen.flush()
    [stored] = store.read(tokens.user_tokens, ann.uid)
    seen.note(stored, "tablet", NOW + tokens.SEEN_EVERY_MS + 1, "")  # the stored time counts
    assert len(seen) == 0


def test_a_flush_is_chunked_and_skips_a_revoked_token(store, monkeypatch):
    monkeypatch.setattr(seen_module, "FLUSH_CHUNK", 2)
    (ann,) = people(store, "ann")
    ids = _issue(store, ann.uid, 5)
    submitted: list = []
    seen = recorder(store, submitted)
    for token in store.read(tokens.user_tokens, ann.uid):
        seen.note(token, "", NOW + 1, "")
    write(store, lambda w: w.revoke_token(ids[0]))
    seen.flush()
    assert len(submitted) == 3 and sum(submitted) == 4  # 2+2+1 noted; the revoked not written
    assert {t.last_seen_ms for t in store.read(tokens.user_tokens, ann.uid)} == {NOW + 1}


def test_a_stopping_writer_drops_the_notes(store):
    (ann,) = people(store, "ann")
    _issue(store, ann.uid, 1)

    def stopping(op) -> None:
        raise StorageError("the writer is stopping")

    seen = SeenTokens(stopping)
    seen.note(store.read(tokens.user_tokens, ann.uid)[0], "", NOW, "")
    seen.flush()  # no exception: a last-seen time is not worth more
    assert len(seen) == 0
