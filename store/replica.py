"""A cluster node's LMDB as a materialised view of other homes' batches
(docs/cluster.md §4): a logged message stored with the seq its home gave it and
this LMDB's own stream position, once (a replayed batch changes nothing), and
the log's stream sequence applied so far, in the same transaction.
"""

from __future__ import annotations

import dataclasses

from . import conversations, keys, messages, users
from .records import CONSUMER, DIRECT, Conversation, Membership, Message, User, pack, unpack
from .scan import Dbs, Txn
from .store import Store, WriteTxn


def applied_seq(txn: Txn, db: Dbs) -> int:
    """The last log stream sequence this LMDB applied (0: none)."""
    raw = txn.get(keys.LOG_APPLIED, db=db["meta"])
    return unpack(raw) if raw else 0


def _set_meta(txn: Txn, db: Dbs, name: bytes, value: int) -> None:
    txn.put(name, pack(value), db=db["meta"])


def _raise_next_conv(txn: Txn, db: Dbs, conv: int) -> None:
    """Conversation ids handed out here stay above every id the log has shown."""
    raw = txn.get(keys.NEXT_CONV, db=db["meta"])
    if (unpack(raw) if raw else 0) < conv:
        _set_meta(txn, db, keys.NEXT_CONV, conv)


def _adopt_direct(w: WriteTxn, msg: Message) -> bool:
    """The direct conversation a logged message belongs to, made here under the id its
    home gave it (from its sender and recipient); False when it cannot be."""
    if msg.to is None:
        return False
    a, b = _user(w, msg.sender), _user(w, msg.to)
    if a is None or b is None:
        return False
    w.put_conversation(Conversation(msg.conv, DIRECT, msg.time_ms))
    w.do(conversations.set_direct_conv, uid=a.uid, peer=b.uid, conv=msg.conv)
    for user in {a.uid: a, b.uid: b}.values():
        w.set_membership(uid=user.uid, conv=msg.conv,
                         membership=Membership(0, consumer=user.realm == CONSUMER))
    return True


def _user(w: WriteTxn, handle: str) -> User | None:
    return w.do(users.user_by_handle, handle=handle)


def _put(txn: Txn, db: Dbs, msg: Message, sender_uid: int | None) -> None:
    key = keys.pair(msg.conv, msg.seq)
    txn.put(key, msg.encode(), db=db["msgs"])
    if msg.receipt and sender_uid is not None:
        txn.put(key, keys.u64(sender_uid), db=db["receipt_msgs"])
    txn.put(keys.pair(msg.conv, msg.pos), keys.u64(msg.seq), db=db["conv_pos"])
    txn.put(keys.u64(msg.pos), key, db=db["stream"])
    if sender_uid is not None and msg.client_msg_id:  # a retry here finds it too
        txn.put(keys.idem_key(sender_uid, msg.client_msg_id), key, db=db["idem"])


def apply_logged(w: WriteTxn, conv: int, batch: list[Message],
                 stream_seq: int) -> tuple[list[Message], int]:
    """Store the messages of one logged batch that this LMDB lacks, in seq order, each
    at the next local position; (the messages stored, the first seq missing before
    the batch's, 0 without a gap). Files are not replicated (their media stay on the
    node that received them): a message keeps its text, its attachments are dropped."""
    stored: list[Message] = []
    gap = 0
    if w.conversation(conv) is None and batch and not _adopt_direct(w, batch[0]):
        gap = -1  # a conversation this node cannot make (a group: not replicated yet)
    else:
        w.do(_raise_next_conv, conv)
        for msg in batch:
            last = w.last_seq(conv)
            if msg.seq <= last:
                continue  # applied before (a replay, or this node's own batch)
            if msg.seq != last + 1:
                gap = last + 1
                break
            local = dataclasses.replace(msg, pos=w.next_pos(), attachments=())
            sender = _user(w, msg.sender)
            w.do(_put, local, sender.uid if sender is not None else None)
            w.store.last_seq[conv] = local.seq
            stored.append(local)
    w.do(_set_meta, keys.LOG_APPLIED, stream_seq)
    return stored, gap


def start_positions(store: Store, base: int) -> int:
    """A cluster node's stream positions start at `base`, its own range, so that a sync
    token another node issued is recognised as foreign (docs/cluster.md §6). Set once,
    on an empty database (one with messages keeps counting from its head: 0 is
    returned, and its range starts at 1); before the writer and the hub start."""
    with store.env.begin(write=True) as txn:
        raw = txn.get(keys.POS_BASE, db=store.db["meta"])
        if raw is not None:
            store.pos_base = unpack(raw)
            return store.pos_base
        first = base if messages.head(txn, store.db) == 0 else 0
        txn.put(keys.POS_BASE, pack(first), db=store.db["meta"])
        if first:
            messages.put_head(txn, store.db, first)
    store.head = None  # read again by the first write
    store.pos_base = first
    return first
