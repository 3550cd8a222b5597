"""Token records (store/tokens.py): older records still read, last seen, refusals."""

from __future__ import annotations

import dataclasses
import os

import pytest

from corpchat.store import Refused, Store, token_digest, tokens
from corpchat.store.records import Token, pack

from .test_store import NOW, people, write


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=16 * 1024 * 1024, durable=False)
    yield s
    s.close()


def test_a_token_record_from_before_device_and_last_seen_still_reads(store):
    (alice,) = people(store, "alice")
    token_id, token = write(store, lambda w: w.issue_token(alice.uid, NOW))
    old = pack([token_id, alice.uid, NOW])  # the three fields every earlier release wrote
    write(store, lambda w: w.txn.put(token_digest(token), old, db=w.db["tokens"]))
    user, found = store.authenticate(token)
    assert (user, found) == (alice, Token(token_id, alice.uid, NOW, "", 0))
    assert tokens.seen_is_due(found, NOW)


def test_mark_seen_writes_device_and_time_and_skips_a_revoked_token(store):
    (alice,) = people(store, "alice")
    first, _ = write(store, lambda w: w.issue_token(alice.uid, NOW))
    second, _ = write(store, lambda w: w.issue_token(alice.uid, NOW + 1))
    assert write(store, lambda w: w.do(tokens.mark_seen, first, "phone", NOW + 2))
    listed = store.read(tokens.user_tokens, alice.uid)
    assert listed == [Token(first, alice.uid, NOW, "phone", NOW + 2),
                      Token(second, alice.uid, NOW + 1)]
    assert not tokens.seen_is_due(listed[0], NOW + 2 + tokens.SEEN_EVERY_MS - 1)
    assert tokens.seen_is_due(listed[0], NOW + 2 + tokens.SEEN_EVERY_MS)
    write(store, lambda w: w.revoke_token(first))
    assert not write(store, lambda w: w.do(tokens.mark_seen, first, "phone", NOW + 3))
    assert [t.token_id for t in store.read(tokens.user_tokens, alice.uid)] == [second]


def test_no_token_is_issued_to_a_disabled_user(store):
    (alice,) = people(store, "alice")
    write(store, lambda w: w.put_user(dataclasses.replace(alice, disabled=True)))
    refused = write(store, lambda w: w.issue_token(alice.uid, NOW))
    assert isinstance(refused, Refused) and refused.code == "disabled"
    assert store.read(tokens.user_tokens, alice.uid) == []
