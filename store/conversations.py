"""Tables of conversations: conversation records, memberships (indexed both by
user and by conversation), the direct-conversation index and read cursors.

Every function takes an open transaction and the database handles, so it
composes inside a read (Store) or a batch write (WriteTxn); ids are
keyword-only, so a uid and a conv cannot be swapped.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import keys
from .records import DIRECT, GROUP, Conversation, Membership, User
from .scan import Dbs, Txn, indexed, prefix_items
from .users import get_user


def get_conversation(txn: Txn, db: Dbs, *, conv: int) -> Conversation | None:
    raw = txn.get(keys.u64(conv), db=db["convs"])
    return None if raw is None else Conversation.decode(conv, raw)


def put_conversation(txn: Txn, db: Dbs, conversation: Conversation) -> None:
    txn.put(keys.u64(conversation.conv), conversation.encode(), db=db["convs"])


def membership(txn: Txn, db: Dbs, *, uid: int, conv: int) -> Membership | None:
    raw = txn.get(keys.pair(uid, conv), db=db["members"])
    return None if raw is None else Membership.decode(raw)


def put_membership(txn: Txn, db: Dbs, *, uid: int, conv: int, membership: Membership) -> None:
    """Write a membership in both indexes (by user and by conversation)."""
    value = membership.encode()
    txn.put(keys.pair(uid, conv), value, db=db["members"])
    txn.put(keys.pair(conv, uid), value, db=db["conv_members"])


def user_memberships(txn: Txn, db: Dbs, *, uid: int) -> Iterator[tuple[int, Membership]]:
    """(conv, membership) of every conversation a user belongs or belonged to."""
    for key, value in prefix_items(txn, db["members"], keys.u64(uid)):
        yield keys.read_u64(key, 8), Membership.decode(value)


def conv_members(txn: Txn, db: Dbs, *, conv: int) -> Iterator[tuple[int, Membership]]:
    """(uid, membership) of everyone who is or was a member of a conversation."""
    for key, value in prefix_items(txn, db["conv_members"], keys.u64(conv)):
        yield keys.read_u64(key, 8), Membership.decode(value)


def conversation_state(txn: Txn, db: Dbs, *,
                       conv: int) -> tuple[Conversation, dict[int, Membership]] | None:
    """A conversation and every membership it has had (current and past)."""
    raw = txn.get(keys.u64(conv), db=db["convs"])
    if raw is None:
        return None
    return Conversation.decode(conv, raw), dict(conv_members(txn, db, conv=conv))


def group_members(txn: Txn, db: Dbs, *, conv: int) -> list[tuple[User, Membership]]:
    """A group's current members with their roles, in uid order."""
    return [(User.decode(uid, indexed(txn, db["users"], keys.u64(uid))), m)
            for uid, m in conv_members(txn, db, conv=conv) if m.active]


def peers(txn: Txn, db: Dbs, *, uid: int) -> set[int]:
    """Everyone who shares a direct or group conversation with a user now."""
    out: set[int] = set()
    for conv, mine in user_memberships(txn, db, uid=uid):
        if not mine.active:
            continue
        kind = Conversation.decode(conv, indexed(txn, db["convs"], keys.u64(conv))).kind
        if kind in (DIRECT, GROUP):
            out.update(u for u, m in conv_members(txn, db, conv=conv) if m.active)
    out.discard(uid)
    return out


def user_groups(txn: Txn, db: Dbs, *, uid: int) -> list[tuple[Conversation, Membership]]:
    """The groups a user is currently a member of."""
    out = []
    for conv, mine in user_memberships(txn, db, uid=uid):
        conversation = Conversation.decode(conv, indexed(txn, db["convs"], keys.u64(conv)))
        if mine.active and conversation.kind == GROUP:
            out.append((conversation, mine))
    return out


# ----- direct conversations -----

def direct_conv(txn: Txn, db: Dbs, *, uid: int, peer: int) -> int | None:
    """The direct conversation of two users, if they have one."""
    raw = txn.get(keys.direct_key(uid, peer), db=db["directs"])
    return None if raw is None else keys.read_u64(raw)


def set_direct_conv(txn: Txn, db: Dbs, *, uid: int, peer: int, conv: int) -> None:
    txn.put(keys.direct_key(uid, peer), keys.u64(conv), db=db["directs"])


def drop_direct_conv(txn: Txn, db: Dbs, *, uid: int, peer: int) -> None:
    txn.delete(keys.direct_key(uid, peer), db=db["directs"])


def direct_peer(txn: Txn, db: Dbs, *, uid: int, conv: int) -> User | None:
    """The other member of a direct conversation `uid` belongs to (or uid itself)."""
    if txn.get(keys.pair(uid, conv), db=db["members"]) is None:
        return None
    raw = txn.get(keys.u64(conv), db=db["convs"])
    if raw is None or Conversation.decode(conv, raw).kind != DIRECT:
        return None
    others = [m for m, ms in conv_members(txn, db, conv=conv) if m != uid and ms.active]
    return get_user(txn, db, uid=others[0] if others else uid)


# ----- read cursors -----

def read_cursor(txn: Txn, db: Dbs, *, uid: int, conv: int) -> int:
    """The seq up to which a user has read a conversation (0: nothing)."""
    raw = txn.get(keys.pair(uid, conv), db=db["read_cursors"])
    return 0 if raw is None else keys.read_u64(raw)


def set_read_cursor(txn: Txn, db: Dbs, *, uid: int, conv: int, seq: int) -> None:
    txn.put(keys.pair(uid, conv), keys.u64(seq), db=db["read_cursors"])
