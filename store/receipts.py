"""Tables of read receipts: which messages asked for one, who read them when,
and the last reminder sent for each.

Every function takes an open transaction and the database handles, so it
composes inside a read (Store) or a batch write (WriteTxn); ids are keyword-only.
"""

from __future__ import annotations

from . import keys
from .conversations import conv_members
from .records import Membership, Message
from .scan import Dbs, Txn, prefix_items


def receipt_messages(txn: Txn, db: Dbs, *, conv: int, after: int,
                     upto: int) -> list[tuple[int, int]]:
    """(seq, sender uid) of receipt-requested messages with after < seq <= upto."""
    out = []
    for key, value in prefix_items(txn, db["receipt_msgs"], keys.u64(conv),
                                   keys.pair(conv, after + 1)):
        seq = keys.read_u64(key, 8)
        if seq > upto:
            break
        out.append((seq, keys.read_u64(value)))
    return out


def record_receipt(txn: Txn, db: Dbs, *, conv: int, seq: int, uid: int, now_ms: int) -> bool:
    """Record the first read of a message by a user; False if already recorded."""
    return txn.put(keys.triple(conv, seq, uid), keys.u64(now_ms),
                   db=db["receipts"], overwrite=False)


def receipt_readers(txn: Txn, db: Dbs, *, conv: int, seq: int) -> dict[int, int]:
    """uid -> first read time of one receipt-requested message."""
    return {keys.read_u64(key, 16): keys.read_u64(value)
            for key, value in prefix_items(txn, db["receipts"], keys.pair(conv, seq))}


def receipt_state(txn: Txn, db: Dbs, *, conv: int, seq: int) -> tuple[
        Message, dict[int, int], dict[int, Membership]] | None:
    """A receipt-requested message, who read it when, and the conversation's members."""
    raw = txn.get(keys.pair(conv, seq), db=db["msgs"])
    if raw is None:
        return None
    msg = Message.decode(conv, seq, raw)
    if not msg.receipt:
        return None
    return (msg, receipt_readers(txn, db, conv=conv, seq=seq),
            dict(conv_members(txn, db, conv=conv)))


def last_reminder(txn: Txn, db: Dbs, *, conv: int, seq: int) -> int | None:
    raw = txn.get(keys.pair(conv, seq), db=db["reminders"])
    return None if raw is None else keys.read_u64(raw)


def set_last_reminder(txn: Txn, db: Dbs, *, conv: int, seq: int, now_ms: int) -> None:
    txn.put(keys.pair(conv, seq), keys.u64(now_ms), db=db["reminders"])
