"""The writer operation of an app message (POST /api/v1/messages).

One transaction stores the message in every recipient's `app` conversation
(created on first use), and the answer under the idempotency key: a retry
after a crash finds either nothing (and sends) or the answer (and repeats
it), never half a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpchat.protocol import Attachment, ErrorCode
from corpchat.store import Refused, User, WriteTxn, outbox
from corpchat.store import apps as tables
from corpchat.store.records import Membership

from ..ops.results import Notices, Sent
from .app_media import claimed_files
from .content import Content

APP = "app"  # the conversation kind an app shows as (protocol.md revision 1.7)


def app_sender(app_id: int) -> str:
    """The sender of an app's messages: no user handle has a colon."""
    return f"app:{app_id}"


@dataclass(frozen=True, slots=True)
class AppDelivery(Notices):
    """Notices for the hub to fan out after the commit, and the HTTP answer."""

    answer: dict[str, Any] = field(default_factory=dict)
    repeat: bool = False


def app_conversation(w: WriteTxn, app: tables.AppRecord, uid: int, now_ms: int) -> int:
    """The employee's conversation with the app, created (as its only member) once."""
    conv = w.do(tables.app_conv, app.app_id, uid)
    if conv is not None:
        return conv
    conversation = w.create_conversation(APP, app.name, now_ms, app.corp_id)
    w.put_conversation(_with_members(conversation, 1))
    w.set_membership(uid=uid, conv=conversation.conv,
                     membership=Membership(w.stream_head + 1))
    w.do(tables.set_app_conv, app.app_id, uid, conversation.conv)
    return conversation.conv


def _with_members(conversation: Any, members: int) -> Any:
    from dataclasses import replace

    return replace(conversation, members=members)


def deliver(w: WriteTxn, app: tables.AppRecord, uids: list[int], content: Content,
            skipped: list[dict[str, Any]], idempotency_key: str | None, now_ms: int,
            window_ms: int, files: tuple[Attachment, ...] = ()) -> AppDelivery | Refused:
    if idempotency_key:
        first = w.do(tables.idempotent_answer, app.app_id, idempotency_key, now_ms - window_ms)
        if first is not None:
            return AppDelivery(answer=first, repeat=True)
    found = claimed_files(w, app, files)
    if isinstance(found, Refused):
        return found
    message_id = w.new_id("app_message")
    sender = app_sender(app.app_id)
    cmid = f"app-{message_id}"
    messages = tuple(w.append(conv=app_conversation(w, app, uid, now_ms), sender=sender,
                              now_ms=now_ms, text=content.text, client_msg_id=cmid,
                              attachments=found, card=content.card, markdown=content.markdown)
                     for uid in uids)
    answer = {"message_id": str(message_id), "delivered": len(messages), "skipped": skipped}
    if idempotency_key:
        w.do(tables.put_idempotent_answer, app.app_id, idempotency_key, now_ms, answer)
    # thousands of one-member conversations: not kept loaded by the hub
    return AppDelivery(messages=messages, keep_convs=False, answer=answer)


def app_reply(w: WriteTxn, sender: User, conv: int, client_msg_id: str, text: str,
              now_ms: int) -> Sent | Refused:
    """An employee's message in their app conversation, once per client_msg_id, and in
    the same transaction the `message` event for the app's callback."""
    old = w.find_sent(uid=sender.uid, client_msg_id=client_msg_id)
    if old is not None:
        return Sent(old, duplicate=True)
    mine = w.membership(uid=sender.uid, conv=conv)
    app_id = w.do(tables.app_of_conv, conv)
    if mine is None or not mine.active or app_id is None:
        return Refused(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    app = w.do(tables.get_app, app_id)
    if app is None:
        return Refused(ErrorCode.FORBIDDEN, "the app was removed")
    msg = w.append(conv=conv, sender=sender.handle, now_ms=now_ms, sender_uid=sender.uid,
                   text=text, client_msg_id=client_msg_id)
    if app.callback_url:
        w.do(outbox.emit, app.corp_id, "message", {
            "user": sender.handle, "conv": conv, "seq": msg.seq, "text": text,
            "client_msg_id": client_msg_id}, app.app_id)
    return Sent(msg)
