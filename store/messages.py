"""Tables of the message log: messages by (conv, seq), the (conv, pos) stream
index, the idempotency index, and the pages read from them (sync, history,
unread counts).

Every function takes an open transaction and the database handles, so it
composes inside a read (Store) or a batch write (WriteTxn); ids are
keyword-only. The loops here are the hot path of every connect and sync: keep
them free of extra calls per item.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from . import everyday, keys
from .conversations import user_memberships
from .everyday import StreamEvent
from .records import SYSTEM, TEXT, Conversation, Membership, Message, message_pos, pack, unpack
from .scan import Dbs, Txn, cursor_before, indexed, prefix_items, walk_back


def head(txn: Txn, db: Dbs) -> int:
    """The stream position of the last committed message."""
    raw = txn.get(b"head", db=db["meta"])
    return 0 if raw is None else unpack(raw)


def put_head(txn: Txn, db: Dbs, pos: int) -> None:
    txn.put(b"head", pack(pos), db=db["meta"])


def index_stream(txn: Txn, db: Dbs) -> None:
    """Build the `stream` table (pos -> conv, seq) of a database made before it,
    from `conv_pos` (once, at open; O(1) otherwise)."""
    if txn.stat(db["stream"])["entries"] or not txn.stat(db["conv_pos"])["entries"]:
        return
    for key, seq in txn.cursor(db=db["conv_pos"]).iternext():
        conv, pos = keys.read_pair(key)
        txn.put(keys.u64(pos), keys.pair(conv, keys.read_u64(seq)), db=db["stream"])


def messages_after(txn: Txn, db: Dbs, *, pos: int,
                   limit: int) -> list[tuple[int, Message]]:
    """Up to `limit` entries of the `stream` table after position `pos`, in position
    order, each as (its position, the message it names, as stored now) — what a
    derived view such as the search index follows. An entry is a message's own
    position; a later feature may add entries naming a message it changed (an
    edit), whose position is then past the message's own."""
    out: list[tuple[int, Message]] = []
    msgs_db = db["msgs"]
    for stream_key, key in prefix_items(txn, db["stream"], b"", keys.u64(pos + 1)):
        if len(out) >= limit:
            break
        conv, seq = keys.read_pair(key)
        raw = txn.get(key, db=msgs_db)
        if raw is not None:
            out.append((keys.read_u64(stream_key), Message.decode(conv, seq, raw)))
    return out


def stream_page(txn: Txn, db: Dbs, *, pos: int,
                limit: int) -> tuple[int, list[tuple[int, Message]]]:
    """The stream head and `messages_after(pos, limit)`, read in one transaction.

    Not every position has a `stream` entry (a reaction or a mute takes one
    and names no message), so a follower that has read every entry up to the
    head of the same snapshot holds everything up to that head, and can say
    so exactly rather than stopping at its last entry."""
    return head(txn, db), messages_after(txn, db, pos=pos, limit=limit)


def shown_messages(txn: Txn, db: Dbs, *, uid: int,
                   wanted: Iterable[tuple[int, int]]) -> list[Message | None]:
    """Each (conv, seq) of `wanted` as the message `uid` may see now, or None.

    The rule of `history_page`, read now (never remembered by a derived view
    such as the search index): a member sees the positions of their membership
    span — a former member up to their leaving, a re-added one from their new
    joining (a membership keeps one span) —, and nobody else sees anything,
    which is also what keeps consumers in their own conversations and every
    corp in its own. A recalled message and a system event are nobody's.
    """
    spans: dict[int, Membership | None] = {}
    out: list[Message | None] = []
    for conv, seq in wanted:
        if conv not in spans:
            raw = txn.get(keys.pair(uid, conv), db=db["members"])
            spans[conv] = None if raw is None else Membership.decode(raw)
        span = spans[conv]
        msg = None if span is None else get_message(txn, db, conv=conv, seq=seq)
        visible = msg is not None and span is not None and span.sees(msg.pos) \
            and msg.kind != SYSTEM and not msg.recalled
        out.append(msg if visible else None)
    return out


def get_message(txn: Txn, db: Dbs, *, conv: int, seq: int) -> Message | None:
    raw = txn.get(keys.pair(conv, seq), db=db["msgs"])
    return None if raw is None else Message.decode(conv, seq, raw)


def messages_at(txn: Txn, db: Dbs, *, at: list[tuple[int, int]]) -> list[Message]:
    """The stored messages at these (conv, seq) places, in that order (missing ones left
    out): the last message of each listed conversation, for `conversations` (1.9)."""
    found = (get_message(txn, db, conv=conv, seq=seq) for conv, seq in at)
    return [msg for msg in found if msg is not None]


def stream_pos(txn: Txn, db: Dbs, *, conv: int, seq: int) -> int | None:
    """A stored message's stream position, without decoding the message."""
    raw = txn.get(keys.pair(conv, seq), db=db["msgs"])
    return None if raw is None else message_pos(raw)


def put_message(txn: Txn, db: Dbs, msg: Message) -> None:
    """Replace a stored message in place (a recall's tombstone)."""
    txn.put(keys.pair(msg.conv, msg.seq), msg.encode(), db=db["msgs"])


def sent_message(txn: Txn, db: Dbs, *, uid: int, client_msg_id: str) -> Message | None:
    """The message a user already stored under this client_msg_id, if any."""
    raw = txn.get(keys.idem_key(uid, client_msg_id), db=db["idem"])
    if raw is None:
        return None
    conv, seq = keys.read_pair(raw)
    return Message.decode(conv, seq, indexed(txn, db["msgs"], raw))


def last_seq(txn: Txn, db: Dbs, *, conv: int) -> int:
    """The seq of the last message of a conversation (0: none)."""
    cursor = cursor_before(txn.cursor(db=db["msgs"]), keys.u64(conv + 1))
    for key, _ in walk_back(cursor, keys.u64(conv)):
        return keys.read_pair(key)[1]
    return 0


def last_message_key(txn: Txn, db: Dbs, *, conv: int,
                     membership: Membership) -> tuple[int, int] | None:
    """(seq, pos) of the last message of `conv` the member sees."""
    end = keys.u64(conv + 1) if membership.left_pos == 0 \
        else keys.pair(conv, membership.left_pos + 1)
    cursor = cursor_before(txn.cursor(db=db["conv_pos"]), end)
    for key, value in walk_back(cursor, keys.u64(conv)):
        pos = keys.read_u64(key, 8)
        return (keys.read_u64(value), pos) if pos >= membership.joined_pos else None
    return None


def user_conversations(txn: Txn, db: Dbs, *,
                       uid: int) -> list[tuple[Conversation, Membership, int, int, int]]:
    """Every conversation of a user: (conversation, membership, last seq, last pos,
    read cursor), most recently active first."""
    out = []
    for conv, mine in user_memberships(txn, db, uid=uid):
        conversation = Conversation.decode(conv, indexed(txn, db["convs"], keys.u64(conv)))
        last = last_message_key(txn, db, conv=conv, membership=mine)
        seq, pos = last if last else (0, 0)
        raw = txn.get(keys.pair(uid, conv), db=db["read_cursors"])  # conversations.read_cursor
        read = 0 if raw is None else keys.read_u64(raw)
        out.append((conversation, mine, seq, pos, read))
    out.sort(key=lambda row: row[3], reverse=True)
    return out


def unread_counts(txn: Txn, db: Dbs, *, uid: int, handle: str,
                  cap: int) -> list[tuple[int, int, int, int]]:
    """(conv, read seq, unread, mentions) for the user's conversations with
    something unread.

    Unread counts text messages from others (not from `handle`, the user's own)
    after the read cursor that the user may see, counted up to `cap`; mentions
    (1.5) those of them that mention the user by handle or @all.
    """
    out = []
    for conv, mine in user_memberships(txn, db, uid=uid):
        raw = txn.get(keys.pair(uid, conv), db=db["read_cursors"])  # conversations.read_cursor
        read = 0 if raw is None else keys.read_u64(raw)
        unread, mentions = _count_unread(txn, db, conv, read, mine, cap, handle)
        if unread:
            out.append((conv, read, unread, mentions))
    return out


def _count_unread(txn: Txn, db: Dbs, conv: int, read: int,
                  membership: Membership, cap: int, handle: str) -> tuple[int, int]:
    count = mentions = 0
    for key, value in prefix_items(txn, db["msgs"], keys.u64(conv), keys.pair(conv, read + 1)):
        msg = Message.decode(conv, keys.read_u64(key, 8), value)
        if not membership.sees(msg.pos):
            if msg.pos > membership.joined_pos:
                break
            continue
        if msg.kind == TEXT and msg.sender != handle and not msg.recalled:
            count += 1
            mentions += msg.mentions_user(handle)
            if count >= cap:
                break
    return count, mentions


def _conv_stream(txn: Txn, db: Dbs, conv: int, membership: Membership,
                 since: int) -> Iterator[tuple[int, int, int, Membership | None, bytes]]:
    """(pos, conv, seq, -, -) of the messages of `conv` after `since` the member sees."""
    start = max(since + 1, membership.joined_pos)
    for key, value in prefix_items(txn, db["conv_pos"], keys.u64(conv), keys.pair(conv, start)):
        pos = keys.read_u64(key, 8)
        if membership.left_pos and pos > membership.left_pos:
            return
        yield pos, conv, keys.read_u64(value), None, b""


def _event_stream(events: Iterator[tuple[int, int, bytes]], membership: Membership | None
                  ) -> Iterator[tuple[int, int, int, Membership | None, bytes]]:
    """(pos, conv, 0, membership, record) of stream events (everyday.py)."""
    for pos, conv, record in events:
        yield pos, conv, 0, membership, record


def sync_page(txn: Txn, db: Dbs, *, uid: int, since: int, limit: int, max_bytes: int,
              upto: int | None = None) -> tuple[list[Message], list[StreamEvent], int, bool]:
    """Messages and events (1.5: edits, reactions, mutes) after stream position
    `since` that `uid` may see; with `upto`, none past that position (a cluster
    node: what the log has taken and the hub has fanned out, docs/cluster.md §3).

    Returns (messages, events, each in position order, the token position, more).
    With more=False the token is the stream head, as everything visible up to it
    has been returned; otherwise the last returned item's position.
    """
    last = head(txn, db) if upto is None else min(upto, head(txn, db))
    streams = []
    for conv, m in user_memberships(txn, db, uid=uid):
        streams.append(_conv_stream(txn, db, conv, m, since))
        streams.append(_event_stream(everyday.conv_events(txn, db, conv, m, since), m))
    streams.append(_event_stream(everyday.user_events(txn, db, uid, since), None))
    out: list[Message] = []
    events: list[StreamEvent] = []
    size = 0
    at = since
    msgs_db = db["msgs"]
    for pos, conv, seq, membership, record in heapq.merge(*streams, key=lambda e: e[0]):
        if pos > last:
            break
        if len(out) + len(events) >= limit or size >= max_bytes:
            return out, events, at, True
        if record:
            event = everyday.read_event(txn, db, conv, pos, record, membership)
            if event is not None:
                events.append(event)
                size += len(record) + 64
                at = pos
            continue
        raw = txn.get(keys.pair(conv, seq), db=msgs_db)
        assert raw is not None  # the position index names only stored messages
        out.append(Message.decode(conv, seq, raw))
        size += len(raw)
        at = pos
    return out, events, max(last, since), False


def history_page(txn: Txn, db: Dbs, *, uid: int, conv: int, before: int | None, limit: int,
                 max_bytes: int) -> tuple[list[Message], bool] | None:
    """Messages of `conv` before seq `before`, newest first; None if not a member."""
    raw = txn.get(keys.pair(uid, conv), db=db["members"])
    if raw is None:
        return None
    membership = Membership.decode(raw)
    end = keys.pair(conv, before) if before is not None else keys.u64(conv + 1)
    cursor = cursor_before(txn.cursor(db=db["msgs"]), end)
    out: list[Message] = []
    size = 0
    for key, value in walk_back(cursor, keys.u64(conv)):
        msg = Message.decode(conv, keys.read_pair(key)[1], value)
        if not membership.sees(msg.pos):
            if msg.pos < membership.joined_pos:
                return out, False
            continue
        if len(out) >= limit or size >= max_bytes:
            return out, True
        out.append(msg)
        size += len(value)
    return out, False
