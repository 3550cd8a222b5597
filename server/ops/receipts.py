"""Read cursors, receipts and reminders: the write operations and their rules.

Matrix's sense of a read receipt: `read {conv, seq}` means "read up to and
including seq"; the cursor only moves forward. When a member's cursor
passes a receipt-requested message (not their own), the first read is
recorded with its time, once. The sender may `remind` the members who have
not read it, at most once per `remind_interval_ms` per message.

These operations run on the writer thread inside the batch transaction.
"""

from __future__ import annotations

from corpchat.protocol import ErrorCode, Refusal
from corpchat.store import GROUP, User, WriteTxn

from .groups import MANAGERS
from .results import ReadChange, ReminderSent


def mark_read(w: WriteTxn, reader: User, conv: int, seq: int, now_ms: int) -> ReadChange | Refusal:
    membership = w.membership(uid=reader.uid, conv=conv)
    if membership is None:
        return Refusal(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    seq = min(seq, w.last_seen_seq(conv=conv, membership=membership))
    current = w.read_cursor(uid=reader.uid, conv=conv)
    if seq <= current:
        return ReadChange(conv, current, False)
    w.set_read_cursor(uid=reader.uid, conv=conv, seq=seq)
    recorded = []
    # What a member sees is one run of positions (from joining to leaving), positions
    # grow with seq, and seq was clamped to the last message they see: so once one
    # message of the range is visible, every later one is, and only the messages up
    # to the first visible one need their position read.
    visible = False
    for msg_seq, sender_uid in w.receipt_messages(conv=conv, after=current, upto=seq):
        if sender_uid == reader.uid:
            continue
        if not visible:
            pos = w.message_pos(conv=conv, seq=msg_seq)
            visible = pos is not None and membership.sees(pos)
            if not visible:
                continue
        if w.record_receipt(conv=conv, seq=msg_seq, uid=reader.uid, now_ms=now_ms):
            recorded.append((msg_seq, sender_uid))
    return ReadChange(conv, seq, True, tuple(recorded), now_ms)


def remind(w: WriteTxn, actor: User, conv: int, seq: int, now_ms: int,
           interval_ms: int) -> ReminderSent | Refusal:
    msg = w.message(conv=conv, seq=seq)
    if msg is None or not msg.receipt or w.membership(uid=actor.uid, conv=conv) is None:
        return Refusal(ErrorCode.NOT_FOUND, f"no receipt-requested message {seq}")
    if msg.sender != actor.handle:
        return Refusal(ErrorCode.FORBIDDEN, "only the sender reminds")
    last = w.last_reminder(conv=conv, seq=seq)
    if last is not None and now_ms - last < interval_ms:
        return Refusal(ErrorCode.REMIND_TOO_SOON, "reminded too recently",
                       retry_after_ms=interval_ms - (now_ms - last))
    w.set_last_reminder(conv=conv, seq=seq, now_ms=now_ms)
    readers = w.receipt_readers(conv=conv, seq=seq)
    targets = tuple(uid for uid, m in w.memberships(conv)
                    if uid != actor.uid and m.active and m.sees(msg.pos) and uid not in readers)
    return ReminderSent(conv, seq, targets)


def may_view_receipts(viewer: User, sender_handle: str, kind: str, role: str | None) -> bool:
    """The sender sees who read their message; so do a group's owner and admins."""
    return viewer.handle == sender_handle or (kind == GROUP and role in MANAGERS)
