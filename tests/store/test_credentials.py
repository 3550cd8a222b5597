"""Passwords and invites in LMDB: only hashes stored, one live invite per user, expiry."""

from __future__ import annotations

import os
from functools import partial

import pytest

from corpchat.store import Store, credentials, tokens

from .test_store import NOW, people, write

DAY_MS = 86_400_000


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=16 * 1024 * 1024, durable=False)
    yield s
    s.close()


def raw_values(store: Store) -> bytes:
    with store.env.begin() as txn:
        return b"".join(bytes(k) + bytes(v)
                        for name in ("passwords", "invites", "invite_of")
                        for k, v in txn.cursor(db=store.db[name]).iternext())


def test_an_invite_is_stored_hashed_and_names_its_user_until_it_expires(store):
    (alice,) = people(store, "alice")
    code, expires = write(store, lambda w: w.do(partial(
        credentials.issue_invite, uid=alice.uid, now_ms=NOW, ttl_ms=7 * DAY_MS)))
    assert expires == NOW + 7 * DAY_MS and len(code) >= len("inv_") + 22  # ≥ 128 bits
    assert code.encode() not in raw_values(store)
    owner = partial(credentials.invite_owner, code=code)
    assert store.read(partial(owner, now_ms=expires - 1)) == alice.uid
    assert store.read(partial(owner, now_ms=expires)) is None
    assert store.read(partial(credentials.invite_owner, code=code + "x", now_ms=NOW)) is None


def test_a_new_invite_ends_the_old_one_and_ending_is_final(store):
    (alice,) = people(store, "alice")
    issue = partial(credentials.issue_invite, uid=alice.uid, now_ms=NOW, ttl_ms=DAY_MS)
    first, _ = write(store, lambda w: w.do(issue))
    second, _ = write(store, lambda w: w.do(issue))
    assert store.read(partial(credentials.invite_owner, code=first, now_ms=NOW)) is None
    assert store.read(partial(credentials.invite_owner, code=second, now_ms=NOW)) == alice.uid
    assert write(store, lambda w: w.do(partial(credentials.end_invite, uid=alice.uid)))
    assert store.read(partial(credentials.invite_owner, code=second, now_ms=NOW)) is None
    assert store.read(partial(credentials.invite_expiry, uid=alice.uid)) is None


def test_a_password_is_kept_as_its_hash_only(store):
    (alice,) = people(store, "alice")
    hashed = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    write(store, lambda w: w.do(partial(credentials.set_password, uid=alice.uid, hashed=hashed)))
    assert store.read(partial(credentials.password_of, uid=alice.uid)) == hashed
    with pytest.raises(AssertionError):
        write(store, lambda w: w.do(partial(credentials.set_password, uid=alice.uid,
                                            hashed="plaintext-password")))


def test_a_login_token_names_its_device_and_address(store):
    (alice,) = people(store, "alice")
    token_id, _ = write(store, lambda w: w.issue_token(alice.uid, NOW, "Firefox", "10.1.2.3"))
    (record,) = store.read(tokens.user_tokens, alice.uid)
    assert (record.token_id, record.device, record.address, record.last_seen_ms) == (
        token_id, "Firefox", "10.1.2.3", NOW)
    write(store, lambda w: w.do(tokens.mark_seen, token_id, "", NOW + 1, "10.9.9.9"))
    (record,) = store.read(tokens.user_tokens, alice.uid)
    assert (record.device, record.address) == ("Firefox", "10.9.9.9")


def test_a_users_tokens_are_indexed_and_an_old_database_gets_the_index(store):
    alice, bob = people(store, "alice", "bob")
    ids = [write(store, lambda w, n=n: w.issue_token(alice.uid, NOW + n))[0] for n in range(3)]
    write(store, lambda w: w.issue_token(bob.uid, NOW))
    assert [t.token_id for t in store.read(tokens.user_tokens, alice.uid)] == ids
    revoked = write(store, lambda w: w.revoke_other_tokens(alice.uid, ids[1]))
    assert sorted(revoked) == sorted(i for i in ids if i != ids[1])
    assert [t.token_id for t in store.read(tokens.user_tokens, alice.uid)] == [ids[1]]
    assert store.authenticate("cc_nothing") is None
    with store.env.begin(write=True) as txn:  # a database from before the index
        txn.drop(store.db["user_tokens"], delete=False)
    path = store.path
    store.close()
    reopened = Store(path, map_bytes=16 * 1024 * 1024, durable=False)
    try:
        assert [t.token_id for t in reopened.read(tokens.user_tokens, alice.uid)] == [ids[1]]
        assert len(reopened.read(tokens.user_tokens, bob.uid)) == 1
    finally:
        reopened.close()

