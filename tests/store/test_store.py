"""Store operations without the server: one real LMDB in tmp_path per test."""

from __future__ import annotations

import os

import lmdb
import pytest

from corpchat.store import GROUP, Membership, Refused, StorageError, Store
from corpchat.store.records import pack
from corpchat.store.store import SCHEMA_VERSION

NOW = 1_800_000_000_000


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=16 * 1024 * 1024, durable=False)
    yield s
    s.close()


def write(store: Store, fn):
    """Run `fn(WriteTxn)` in one committed transaction; its result."""
    w = store.begin_write()
    try:
        result = fn(w)
    except BaseException:
        w.abort()
        raise
    w.commit()
    return result


def people(store: Store, *handles: str, corp: str = "acme"):
    def op(w):
        corp_id = w.create_corp(corp, NOW).corp_id
        return [w.create_user(h, corp_id, NOW) for h in handles]
    return write(store, op)


def send(store: Store, sender, recipient, n: int, prefix: str = "m", text: str | None = None):
    def op(w):
        return [w.send_direct(sender, recipient, f"{prefix}{i}", text or f"{prefix}{i}", NOW)[0]
                for i in range(n)]
    return write(store, op)


# ----- users, tokens -----


def test_users_corps_and_refusals(store):
    alice, bob = people(store, "alice", "bob")
    assert (alice.uid, bob.uid) == (1, 2)
    assert store.user_by_handle("bob") == bob
    assert store.user_by_handle("Not Valid") is None
    assert store.corp_by_name("acme").corp_id == alice.corp_id
    again = write(store, lambda w: w.create_user("alice", alice.corp_id, NOW))
    assert isinstance(again, Refused) and again.code == "exists"
    bad = write(store, lambda w: w.create_user("UPPER", alice.corp_id, NOW))
    assert isinstance(bad, Refused) and bad.code == "bad_request"
    nocorp = write(store, lambda w: w.create_user("zed", 99, NOW))
    assert isinstance(nocorp, Refused) and nocorp.code == "not_found"
    consumer = write(store, lambda w: w.create_user("carol", None, NOW))
    assert (consumer.realm, consumer.corp_id) == ("consumer", 0)
    assert [u.handle for u in store.users()] == ["alice", "bob", "carol"]


def test_tokens_authenticate_until_revoked(store):
    (alice,) = people(store, "alice")
    token_id, token = write(store, lambda w: w.issue_token(alice.uid, NOW))
    user, found = store.authenticate(token)
    assert (user, found.token_id) == (alice, token_id)
    assert store.authenticate(token + "x") is None
    assert write(store, lambda w: w.revoke_token(token_id)) == alice.uid
    assert store.authenticate(token) is None
    assert isinstance(write(store, lambda w: w.revoke_token(token_id)), Refused)


def test_tokens_are_stored_only_as_hashes(store, tmp_path):
    (alice,) = people(store, "alice")
    _, token = write(store, lambda w: w.issue_token(alice.uid, NOW))
    with open(tmp_path / "db" / "data.mdb", "rb") as f:
        assert token.encode() not in f.read()


# ----- messages -----


def test_send_direct_is_idempotent_per_user(store):
    alice, bob = people(store, "alice", "bob")
    first, dup = write(store, lambda w: w.send_direct(alice, bob, "c1", "hi", NOW))
    assert (first.seq, first.pos, dup) == (1, 1, False)
    again, dup = write(store, lambda w: w.send_direct(alice, bob, "c1", "other", NOW + 5))
    assert (again, dup) == (first, True)
    reply, dup = write(store, lambda w: w.send_direct(bob, alice, "c1", "yo", NOW))
    assert (reply.conv, reply.seq, dup) == (first.conv, 2, False)
    assert store.stats()["messages_stored"] == 2
    assert store.head_pos() == 2


def test_seqs_per_conversation_and_positions_across_them(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")

    def op(w):
        return [w.send_direct(alice, bob, "a1", "1", NOW)[0],
                w.send_direct(alice, carol, "a2", "2", NOW)[0],
                w.send_direct(bob, alice, "b1", "3", NOW)[0]]

    m1, m2, m3 = write(store, op)
    assert m1.conv == m3.conv != m2.conv
    assert [(m.seq, m.pos) for m in (m1, m2, m3)] == [(1, 1), (1, 2), (2, 3)]


def test_an_aborted_transaction_leaves_nothing_and_resets_the_caches(store):
    alice, bob = people(store, "alice", "bob")
    w = store.begin_write()
    w.send_direct(alice, bob, "lost", "x", NOW)
    w.abort()
    assert store.stats()["messages_stored"] == 0
    (msg,) = send(store, alice, bob, 1)
    assert (msg.seq, msg.pos) == (1, 1)


def test_history_page_before_and_limit(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    msgs = send(store, alice, bob, 300)  # seqs across the 255/256 byte boundary
    conv = msgs[0].conv

    def seqs(before, limit, uid=bob.uid):
        page, more = store.history_page(uid=uid, conv=conv, before=before, limit=limit,
                                        max_bytes=1 << 20)
        return [m.seq for m in page], more

    assert seqs(None, 3) == ([300, 299, 298], True)
    assert seqs(258, 4) == ([257, 256, 255, 254], True)
    assert seqs(4, 10) == ([3, 2, 1], False)
    assert seqs(1, 10) == ([], False)
    assert seqs(None, 300)[0] == list(range(300, 0, -1))
    assert seqs(None, 300)[1] is False
    assert store.history_page(uid=carol.uid, conv=conv, before=None, limit=10,
                              max_bytes=1 << 20) is None
    assert store.history_page(uid=bob.uid, conv=conv + 1, before=None, limit=10,
                              max_bytes=1 << 20) is None


def test_history_page_is_bounded_by_bytes(store):
    alice, bob = people(store, "alice", "bob")
    msgs = send(store, alice, bob, 10, text="x" * 1000)
    page, more = store.history_page(uid=bob.uid, conv=msgs[0].conv, before=None, limit=100,
                                    max_bytes=2500)
    assert more and 1 <= len(page) <= 3
    assert [m.seq for m in page] == list(range(10, 10 - len(page), -1))


def test_sync_page_pages_by_count_without_gaps_or_repeats(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    to_bob = send(store, alice, bob, 7, prefix="ab")
    send(store, alice, carol, 3, prefix="ac")  # not bob's
    to_bob += send(store, carol, bob, 4, prefix="cb")
    since, seen, pages = 0, [], 0
    while True:
        page, token, more = store.sync_page(uid=bob.uid, since=since, limit=3, max_bytes=1 << 20)
        pages += 1
        assert len(page) <= 3
        assert token >= since
        seen += page
        since = token
        if not more:
            break
    assert [m.client_msg_id for m in seen] == [m.client_msg_id for m in to_bob]
    assert [m.pos for m in seen] == sorted(m.pos for m in seen)
    assert pages == 4
    assert since == store.head_pos() == 14
    assert store.sync_page(uid=bob.uid, since=since, limit=3,
                           max_bytes=1 << 20) == ([], since, False)


def test_sync_page_pages_by_bytes(store):
    alice, bob = people(store, "alice", "bob")
    sent = send(store, alice, bob, 12, text="y" * 1000)
    since, seen = 0, []
    while True:
        page, since, more = store.sync_page(uid=bob.uid, since=since, limit=500, max_bytes=3000)
        assert 1 <= len(page) <= 4 or not more
        seen += page
        if not more:
            break
    assert [m.seq for m in seen] == [m.seq for m in sent]


def test_sync_page_from_a_position_skips_what_was_seen(store):
    alice, bob = people(store, "alice", "bob")
    sent = send(store, alice, bob, 5)
    page, token, more = store.sync_page(uid=bob.uid, since=sent[2].pos, limit=100,
                                        max_bytes=1 << 20)
    assert [m.seq for m in page] == [4, 5]
    assert (token, more) == (sent[-1].pos, False)
    # nothing for a user with no conversations, but the token still advances
    (dave,) = write(store, lambda w: [w.create_user("dave", None, NOW)])
    assert store.sync_page(uid=dave.uid, since=0, limit=100,
                           max_bytes=1 << 20) == ([], store.head_pos(), False)


# ----- memberships -----


@pytest.mark.parametrize(("membership", "visible"), [
    (Membership(joined_pos=0), {1, 2, 3, 4, 5, 6}),
    (Membership(joined_pos=3), {3, 4, 5, 6}),
    (Membership(joined_pos=2, left_pos=4), {2, 3, 4}),
    (Membership(joined_pos=5, left_pos=5), {5}),
])
def test_membership_sees(membership, visible):
    assert {p for p in range(1, 7) if membership.sees(p)} == visible
    assert membership.active == (membership.left_pos == 0)
    assert Membership.decode(membership.encode()) == membership


def test_sync_and_history_respect_joined_and_left(store):
    alice, bob = people(store, "alice", "bob")

    def op(w):
        conv = w.create_conversation(GROUP, "team", NOW).conv
        w.set_membership(uid=alice.uid, conv=conv, membership=Membership(joined_pos=0))
        out = [w.append(conv=conv, sender="alice", now_ms=NOW, sender_uid=alice.uid, text=f"g{i}",
                        client_msg_id=f"g{i}") for i in range(1, 4)]
        w.set_membership(uid=bob.uid, conv=conv, membership=Membership(joined_pos=out[-1].pos + 1))
        out += [w.append(conv=conv, sender="alice", now_ms=NOW, sender_uid=alice.uid, text=f"g{i}",
                         client_msg_id=f"g{i}") for i in range(4, 7)]
        w.set_membership(uid=bob.uid, conv=conv,
                         membership=Membership(joined_pos=out[3].pos, left_pos=out[4].pos))
        out += [w.append(conv=conv, sender="alice", now_ms=NOW, sender_uid=alice.uid, text="g7",
                         client_msg_id="g7")]
        return conv, out

    conv, msgs = write(store, op)
    page, _, more = store.sync_page(uid=bob.uid, since=0, limit=100, max_bytes=1 << 20)
    assert ([m.text for m in page], more) == (["g4", "g5"], False)
    history, more = store.history_page(uid=bob.uid, conv=conv, before=None, limit=100,
                                       max_bytes=1 << 20)
    assert ([m.text for m in history], more) == (["g5", "g4"], False)
    assert len(store.sync_page(uid=alice.uid, since=0, limit=100, max_bytes=1 << 20)[0]) == 7
    assert store.membership(uid=bob.uid, conv=conv) == Membership(msgs[3].pos, msgs[4].pos)


# ----- schema and reopening -----


def test_data_survives_reopening(tmp_path):
    path = os.fspath(tmp_path / "db")
    store = Store(path, map_bytes=1 << 20)
    alice, bob = people(store, "alice", "bob")
    sent = send(store, alice, bob, 3)
    store.close()
    store = Store(path, map_bytes=1 << 20)
    try:
        page, token, more = store.sync_page(uid=bob.uid, since=0, limit=100, max_bytes=1 << 20)
        assert page == sent
        assert token == store.head_pos() == 3
        (more_msg,) = send(store, alice, bob, 1, prefix="after")
        assert (more_msg.seq, more_msg.pos) == (4, 4)
    finally:
        store.close()


def test_another_schema_version_is_refused(tmp_path):
    path = os.fspath(tmp_path / "db")
    Store(path, map_bytes=1 << 20).close()
    env = lmdb.open(path, max_dbs=32)
    with env.begin(write=True) as txn:
        txn.put(b"schema", pack(SCHEMA_VERSION + 1), db=env.open_db(b"meta", txn=txn))
    env.close()
    with pytest.raises(StorageError, match="schema"):
        Store(path, map_bytes=1 << 20)


def test_an_unopenable_directory_is_a_storage_error(tmp_path):
    path = tmp_path / "db"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"this is not an lmdb file" * 512)
    with pytest.raises(StorageError):
        Store(os.fspath(path), map_bytes=1 << 20)


# ----- indexes added in 1.2, built once for an older database -----


def test_sender_and_token_indexes_are_built_for_an_older_database(tmp_path):
    from corpchat.store import contacts, settings

    path = os.fspath(tmp_path / "old")
    old = Store(path, map_bytes=16 * 1024 * 1024, durable=False)

    def made_before_the_indexes(w):
        w.do(contacts.put_request, 10, 20, "hi", NOW)  # employee 20 asks consumer 10
        w.do(contacts.put_friend_request, 11, 12, NOW)  # consumer 12 asks consumer 11
        w.do(settings.add_device, 30, "fcm", "tok-shared", NOW)
        w.do(settings.add_device, 31, "fcm", "tok-shared", NOW + 1)  # the later owner
        w.do(settings.add_device, 31, "fcm", "tok-own", NOW)
        for index in ("requests_by", "friend_reqs_by", "device_tokens"):
            w.txn.drop(w.db[index], delete=False)

    write(old, made_before_the_indexes)
    assert old.read(contacts.requests_from, 20) == []
    old.close()
    store = Store(path, map_bytes=16 * 1024 * 1024, durable=False)
    try:
        assert store.read(contacts.requests_from, 20) == [(10, "hi", NOW)]
        assert store.read(contacts.friend_requests_from, 12) == [(11, NOW)]
        assert write(store, lambda w: w.do(settings.remove_device, 31, "tok-shared"))
        assert write(store, lambda w: w.do(settings.add_device, 32, "fcm", "tok-own", NOW)) == 31
    finally:
        store.close()


def test_archive_pages_resume_where_the_last_one_ended(store):
    """archive_page takes a time range and resumes from its own opaque key, so a
    caller never builds an archive key; pages neither skip nor repeat entries."""
    from corpchat.store import contacts
    from corpchat.store.records import ArchiveEntry

    entries = [ArchiveEntry(1, NOW + i // 2, i + 1, 7, i + 1, "bob", "enterprise", f"t{i}")
               for i in range(7)]
    entries.append(ArchiveEntry(2, NOW, 99, 8, 1, "eve", "enterprise", "another corp"))
    write(store, lambda w: [w.archive(e) for e in entries])
    seen, resume, pages = [], None, 0
    while True:
        page, resume = store.read(contacts.archive_page, 1, NOW + 1, NOW + 2, 2, resume)
        seen += page
        pages += 1
        if resume is None:
            break
    assert seen == [e for e in entries if e.corp_id == 1 and NOW + 1 <= e.time_ms <= NOW + 2]
    assert pages == 2
