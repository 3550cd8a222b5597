"""Direct messages, and the daily urgent quota spent by any send in its own txn."""

from __future__ import annotations

from typing import Protocol

from corpchat.bridge import may_send_urgent, until_next_day_ms
from corpchat.protocol import ErrorCode, Refusal
from corpchat.store import User, WriteTxn
from corpchat.store import contacts as tables
from corpchat.store.records import StoredAttachment

from .results import Sent


class SendOp(Protocol):
    """A send's writer operation: the writer calls it with `w`, the urgent wrapper
    with `urgent=True` too."""

    def __call__(self, w: WriteTxn, urgent: bool = False) -> Sent | Refusal: ...


def send_direct(w: WriteTxn, sender: User, recipient: User, client_msg_id: str, text: str,
                now_ms: int, receipt: bool, archive_corp: int | None,
                urgent: bool = False, attachments: tuple[StoredAttachment, ...] = ()) -> Sent:
    """A text message into the pair's direct conversation, once per client_msg_id."""
    msg, duplicate = w.send_direct(sender, recipient, client_msg_id, text, now_ms, receipt,
                                   archive_corp, urgent, attachments)
    return Sent(msg, duplicate)


def send_urgent(w: WriteTxn, send: SendOp, sender: User, client_msg_id: str, now_ms: int,
                day: int, per_day: int) -> Sent | Refusal:
    """`send` marked urgent, spending one of the sender's urgent sends of the day."""
    if w.find_sent(uid=sender.uid, client_msg_id=client_msg_id) is not None:
        return send(w, urgent=True)  # a repeat: its original ack, no quota
    used = w.do(tables.quota_used, "urgent", sender.uid, day)
    verdict = may_send_urgent(sender, used, per_day)
    if not verdict.allowed:
        return Refusal(ErrorCode(verdict.code), verdict.reason,
                       retry_after_ms=until_next_day_ms(now_ms))
    result = send(w, True)
    if isinstance(result, Sent):  # only a stored message spends the quota
        w.do(tables.use_quota, "urgent", sender.uid, day)
    return result
