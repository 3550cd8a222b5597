"""Sending: `send` (direct or into a group), `announce` on the corp's board,
the urgent mark on either, and `typing`.

A send is checked here (lengths, membership, the bridge's rules) and again
by its writer operation inside the transaction (ops/groups.py,
ops/messages.py); its `SendContext` answers the committed result with an
`ack` and fans the message out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpchat.bridge import archive_corp, day_number, may_mark_urgent, may_message_directly
from corpchat.protocol import (
    Ack,
    Announce,
    ErrorCode,
    ProtocolError,
    Refusal,
    Send,
    Typing,
)
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.store import ANNOUNCE, GROUP, User, WriteOp

from ..api.app_messages import APP, app_reply
from ..hub import Hub, Out, RequestContext
from ..media import Files, requested_attachments, with_attachments
from ..ops import groups as group_ops
from ..ops import messages as ops
from ..ops.messages import SendOp
from ..ops.results import Sent
from ..people import tied
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import ack_frame, event_frame
from .common import announce_conv, bad, conv_kind, enforce
from .everyday import with_extras

routes = Routes()


@dataclass(slots=True)
class Messaging(Services):
    typing: dict[int, TokenBucket] = field(default_factory=dict)  # per user


class SendContext(RequestContext):
    """A submitted `send`: answered with an ack, fanned out to the others."""

    __slots__ = ()

    def answer(self, hub: Hub, result: Sent | Refusal, out: Out) -> None:
        origin = self.session
        origin.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        msg = result.message
        out[origin].append(ack_frame(
            self.request_id, msg.conv, msg.seq, msg.pos, msg.time_ms, msg.client_msg_id,
            result.duplicate, hub.resting_peer(msg, origin)))
        if not result.duplicate:
            hub.fan_out(msg, out, skip=origin)


def _check_text(s: Services, frame: Send | Announce) -> None:
    limits = s.config.limits
    if not 0 < len(frame.client_msg_id) <= limits.max_client_msg_id_chars:
        raise bad(f"client_msg_id must have 1 to {limits.max_client_msg_id_chars} characters")
    if not frame.text and not requested_attachments(s.config.media, frame.attachments):
        raise bad("text is empty")
    if len(frame.text) > limits.max_text_chars:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG,
                            f"text is longer than {limits.max_text_chars} characters")


@routes.handles(Announce)
def announce(s: Messaging, session: Session, frame: Announce) -> None:
    _check_text(s, frame)
    sender = session.authed_user
    now, board = s.clock.now_ms(), announce_conv(s.store, sender)
    cmid, text, receipt = frame.client_msg_id, frame.text, bool(frame.receipt)

    def send(w: Any, urgent: bool = False, found: Files = ()) -> Sent | Refusal:
        return group_ops.announce(w, sender, board, cmid, text, now, receipt, urgent, found)
    _submit_send(s, session, frame, send, sender, now)


@routes.handles(Send)
def send(s: Messaging, session: Session, frame: Send) -> None:
    _check_text(s, frame)
    if (frame.to is None) == (frame.conv is None):
        raise bad("give exactly one of 'to' and 'conv'")
    sender = session.authed_user
    try:  # a repeat is recognised before its destination is checked (protocol.md 7.4)
        kind, recipient = _destination(s, sender, frame)
    except ProtocolError:
        if _answer_repeat(s, session, frame):
            return  # a retry of a message stored before the refusal applied
        raise
    now, cmid, text, receipt = s.clock.now_ms(), frame.client_msg_id, frame.text, \
        bool(frame.receipt)
    if kind == GROUP:
        conv = frame.conv
        assert conv is not None  # _destination: a group is named by conv

        def op(w: Any, urgent: bool = False, found: Files = ()) -> Sent | Refusal:
            return group_ops.send(w, sender, conv, cmid, text, now, receipt, urgent, found)
    elif kind == APP:  # a reply to an app: stored, and an event for its callback
        app_conv = frame.conv
        assert app_conv is not None  # _destination: an app conversation is named by conv

        def op(w: Any, urgent: bool = False, found: Files = ()) -> Sent | Refusal:
            return app_reply(w, sender, app_conv, cmid, text, now)
    else:
        assert recipient is not None
        archive = archive_corp(sender, recipient)

        def op(w: Any, urgent: bool = False, found: Files = ()) -> Sent | Refusal:
            return ops.send_direct(w, sender, recipient, cmid, text, now, receipt, archive,
                                   urgent, found)
    if frame.mentions or frame.reply_to is not None:  # 1.5: mentions, the quote
        op = with_extras(s, sender, frame, op)
    _submit_send(s, session, frame, op, sender, now)


def _submit_send(s: Messaging, session: Session, frame: Send | Announce, op: SendOp,
                 sender: User, now: int) -> None:
    files = requested_attachments(s.config.media, frame.attachments)
    op = with_attachments(op, sender, frame.client_msg_id, files)
    write: WriteOp = op
    if frame.urgent:
        write = _urgent(s, sender, op, frame.client_msg_id, now)
    s.submit(session, write, SendContext(session, frame.id))


def _destination(s: Services, sender: User, frame: Send) -> tuple[str | None, User | None]:
    """(kind, direct recipient) of a send's `to`/`conv`, or its refusal."""
    kind = conv_kind(s.hub, sender, frame.conv) if frame.conv is not None else None
    if kind == ANNOUNCE:
        raise ProtocolError(ErrorCode.FORBIDDEN, "the notice board is read-only: use announce")
    if kind in (GROUP, APP):
        return kind, None
    recipient = _recipient(s, sender, frame)
    # `tied` looks up only the tie the bridge asks about: none between colleagues
    enforce(may_message_directly(sender, recipient, tied=tied(s.store, sender, recipient)))
    return kind, recipient


def _urgent(s: Services, sender: User, op: SendOp, cmid: str, now: int) -> WriteOp:
    """Wrap a send so it also spends the sender's daily urgent quota, in its txn."""
    per_day, day = s.config.urgent_per_day, day_number(now)
    enforce(may_mark_urgent(sender))
    return lambda w: ops.send_urgent(w, op, sender, cmid, now, day, per_day)


def _answer_repeat(s: Services, session: Session, frame: Send) -> bool:
    """A refused send that repeats a stored one gets its original ack instead.

    (Ordinary repeats are answered by the writer, inside its transaction.)
    """
    old = s.store.sent_message(uid=session.authed_user.uid, client_msg_id=frame.client_msg_id)
    if old is None:
        return False
    session.push(event_frame(Ack(re=frame.id, conv=old.conv, seq=old.seq, pos=old.pos,
                                 time=old.time_ms, client_msg_id=old.client_msg_id,
                                 duplicate=True)))
    return True


def _recipient(s: Services, sender: User, frame: Send) -> User:
    if frame.to is not None:
        recipient = s.store.user_by_handle(frame.to)
        if recipient is None:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {frame.to!r}")
        return recipient
    assert frame.conv is not None  # send checked: exactly one of to and conv
    peer = s.store.direct_peer(uid=sender.uid, conv=frame.conv)
    if peer is None:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
    return peer


@routes.handles(Typing)
def typing(s: Messaging, session: Session, frame: Typing) -> None:
    uid = session.authed_user.uid
    bucket = s.typing.get(uid)
    if bucket is None:
        bucket = s.typing[uid] = TokenBucket(s.config.typing_per_s, 3, s.clock)
    if not bucket.take():
        return  # typing is a hint: extra ones are dropped quietly
    if not s.hub.typing(session, frame.conv):
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
