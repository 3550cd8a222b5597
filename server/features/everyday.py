"""Requests of everyday messaging (1.5, docs/protocol.md §31): mentions and replies
on `send`, `edit`, `react`, `reactions.list`, `forward`, `group.notice`, `pin`,
`unpin`, `pins`, `conv.mute`; and how pages show what 1.5 adds to a message.

Each write is checked here (lengths, the caller's rights as far as they can be
seen before the write) and again by its writer operation (ops/everyday.py);
its context answers the committed result after the commit (`answer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corpchat.bridge import archive_corp, may_message_directly
from corpchat.protocol import (
    ConvMute,
    Edit,
    ErrorCode,
    Forward,
    Forwarded,
    GroupNotice,
    Ok,
    Pin,
    PinEntry,
    Pins,
    PinsReply,
    ProtocolError,
    React,
    ReactionsList,
    ReactionsListReply,
    Refusal,
    Send,
    Unpin,
)
from corpchat.protocol.emoji import is_reaction_emoji
from corpchat.protocol.frames_everyday import MENTION_ALL
from corpchat.store import ANNOUNCE, GROUP, User, WriteTxn
from corpchat.store import everyday as tables

from ..hub import Hub, Out, RequestContext
from ..media import Files, requested_attachments
from ..ops import everyday as ops
from ..ops import groups as group_ops
from ..ops import messages as message_ops
from ..people import tied
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame, ok_frame
from .common import bad, enforce, page_limit
from .groups import ChangeContext

routes = Routes()

def _answered(ctx: RequestContext, result: Any, out: Out) -> bool:
    """Count the answer; on a refusal, the error frame. True if it succeeded."""
    ctx.session.sent_one()
    if isinstance(result, Refusal):
        ctx.refused(result, out)
        return False
    return True


class EditContext(RequestContext):
    __slots__ = ()

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        if _answered(self, result, out):
            msg = result.message
            hub.everyday.edited(msg, result.pos, out)
            out[self.session].append(event_frame(Ok(re=self.request_id, conv=msg.conv,
                                                    seq=msg.seq, pos=result.pos)))


class ReactContext(RequestContext):
    __slots__ = ()

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        if not _answered(self, result, out):
            return
        pos = None
        if result.state is not None:
            hub.everyday.reacted(result, out)
            pos = result.state.pos
        out[self.session].append(ok_frame(self.request_id, result.conv, result.seq, pos))


class ForwardContext(RequestContext):
    __slots__ = ()

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        if not _answered(self, result, out):
            return
        copies = result.messages
        if not result.duplicate:
            for msg in copies:
                hub.fan_out(msg, out, skip=None)
        last = copies[-1] if copies else None
        out[self.session].append(event_frame(Forwarded(
            re=self.request_id, conv=last.conv if last else 0,
            seqs=tuple(m.seq for m in copies), pos=last.pos if last else 0,
            duplicate=result.duplicate)))


class MuteContext(RequestContext):
    __slots__ = ()

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        if _answered(self, result, out):
            hub.everyday.mute_changed(result.uid, result.state, out)
            out[self.session].append(event_frame(Ok(re=self.request_id, conv=result.state.conv,
                                                    pos=result.state.pos)))


# ----- mentions and replies on a send -------------------------------------------


def with_extras(s: Services, sender: User, frame: Send,
                op: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a send's writer operation so it stores the send's mentions and quote."""
    if frame.conv is None:
        raise bad("mentions and reply_to need 'conv'")
    mentions = tuple(dict.fromkeys(frame.mentions or ()))
    if len(mentions) > s.config.everyday.max_mentions:
        raise bad(f"at most {s.config.everyday.max_mentions} mentions")
    uids = []
    for handle in mentions:
        if handle == MENTION_ALL:
            continue
        user = s.store.user_by_handle(handle)
        if user is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"{handle!r} is not a member here")
        uids.append(user.uid)
    conv, cmid, reply_to = frame.conv, frame.client_msg_id, frame.reply_to
    found = tuple(uids)

    def send(w: WriteTxn, urgent: bool = False, files: Files = ()) -> Any:
        return ops.send_with_extras(w, op, sender, conv, cmid, mentions, found, reply_to,
                                    urgent, files)
    return send


# ----- requests ---------------------------------------------------------------------


@routes.handles(Edit)
def edit(s: Services, session: Session, frame: Edit) -> None:
    user = session.authed_user
    # 1.8: `attachments` replaces the files (absent: kept); text may be "" if files remain
    wanted = None if frame.attachments is None else \
        requested_attachments(s.config.media, frame.attachments)
    _check_text(frame.text, s.config.limits.max_text_chars, empty_ok=wanted != ())
    now, caps, conv, seq, text = s.clock.now_ms(), s.config.everyday, frame.conv, frame.seq, \
        frame.text
    s.submit(session, lambda w: ops.edit(w, user, conv, seq, text, wanted, now, caps),
             EditContext(session, frame.id))


@routes.handles(React)
def react(s: Services, session: Session, frame: React) -> None:
    user = session.authed_user
    if not is_reaction_emoji(frame.emoji):
        raise bad("emoji must be one grapheme cluster of at most 16 code points")
    now, caps, conv, seq, emoji, on = s.clock.now_ms(), s.config.everyday, frame.conv, \
        frame.seq, frame.emoji, frame.on
    s.submit(session, lambda w: ops.react(w, user, conv, seq, emoji, on, now, caps),
             ReactContext(session, frame.id))


@routes.handles(GroupNotice)
def group_notice(s: Services, session: Session, frame: GroupNotice) -> None:
    user = session.authed_user
    wanted = requested_attachments(s.config.media, frame.attachments)  # 1.8
    _check_text(frame.text, s.config.everyday.max_notice_chars, empty_ok=bool(wanted))
    now, conv, text = s.clock.now_ms(), frame.conv, frame.text
    s.submit(session, lambda w: ops.set_notice(w, user, conv, text, wanted, now),
             ChangeContext(session, frame.id))


@routes.handles(Pin, Unpin)
def pin(s: Services, session: Session, frame: Pin | Unpin) -> None:
    user = session.authed_user
    now, caps, conv, seq, on = s.clock.now_ms(), s.config.everyday, frame.conv, frame.seq, \
        isinstance(frame, Pin)
    s.submit(session, lambda w: ops.pin(w, user, conv, seq, on, now, caps),
             ChangeContext(session, frame.id))


@routes.handles(ConvMute)
def conv_mute(s: Services, session: Session, frame: ConvMute) -> None:
    user = session.authed_user
    now, conv, until = s.clock.now_ms(), frame.conv, frame.until
    s.submit(session, lambda w: ops.mute(w, user, conv, until, now),
             MuteContext(session, frame.id))


def _check_text(text: str, most: int, empty_ok: bool = False) -> None:
    """`empty_ok`: files come with it (an edit's are checked again by its operation)."""
    if not text and not empty_ok:
        raise bad("text is empty")
    if len(text) > most:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"text is longer than {most} characters")


def _current_member(s: Services, user: User, conv: int) -> None:
    mine = s.store.membership(uid=user.uid, conv=conv)
    if mine is None or not mine.active:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")


@routes.handles(ReactionsList)
def reactions_list(s: Services, session: Session, frame: ReactionsList) -> None:
    user = session.authed_user
    _current_member(s, user, frame.conv)
    limit = page_limit(s.config.limits, frame.limit)
    offset = frame.offset or 0
    msg = s.store.read(lambda txn, db: tables.visible_message(
        txn, db, uid=user.uid, conv=frame.conv, seq=frame.seq))
    if msg is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no message {frame.seq} here")
    uids, total = s.store.read(lambda txn, db: tables.reactors(
        txn, db, conv=frame.conv, seq=frame.seq, emoji=frame.emoji, offset=offset, limit=limit))
    handles = tuple(u.handle for uid in uids if (u := s.store.user(uid)) is not None)
    session.push(event_frame(ReactionsListReply(
        re=frame.id, conv=frame.conv, seq=frame.seq, emoji=frame.emoji, users=handles,
        count=total, more=offset + len(uids) < total)))


@routes.handles(Pins)
def pins(s: Services, session: Session, frame: Pins) -> None:
    user = session.authed_user
    _current_member(s, user, frame.conv)
    pinned = s.store.read(lambda txn, db: tables.pins(txn, db, conv=frame.conv))
    notice = s.store.read(lambda txn, db: tables.notice_seq(txn, db, conv=frame.conv))
    session.push(event_frame(PinsReply(
        re=frame.id, conv=frame.conv,
        pins=tuple(PinEntry(seq=seq, by=by, time=time) for seq, by, time in pinned),
        notice=notice or None)))


@routes.handles(Forward)
def forward(s: Services, session: Session, frame: Forward) -> None:
    sender = session.authed_user
    limits = s.config.limits
    if not 0 < len(frame.client_msg_id) <= limits.max_client_msg_id_chars:
        raise bad(f"client_msg_id must have 1 to {limits.max_client_msg_id_chars} characters")
    if not 0 < len(frame.seqs) <= s.config.everyday.max_forward:
        raise bad(f"forward 1 to {s.config.everyday.max_forward} messages")
    if len(set(frame.seqs)) != len(frame.seqs):
        raise bad("a message is named twice")
    try:
        send = _target_send(s, sender, frame.to_conv)
    except ProtocolError:
        if _answer_repeat(s, session, frame):
            return  # a retry of a forward stored before the refusal applied (§7.4)
        raise
    now, cmid, seqs, source, target = s.clock.now_ms(), frame.client_msg_id, frame.seqs, \
        frame.from_conv, frame.to_conv
    s.submit(session, lambda w: ops.forward(w, sender, cmid, source, seqs, target, now, send),
             ForwardContext(session, frame.id))


def _answer_repeat(s: Services, session: Session, frame: Forward) -> bool:
    """A refused forward that repeats a stored one gets its first answer instead:
    the copies it stored, `duplicate` (ordinary repeats the writer answers)."""
    uid = session.authed_user.uid
    copies = []
    for i in range(len(frame.seqs)):
        found = s.store.sent_message(uid=uid, client_msg_id=ops.copy_id(frame.client_msg_id, i))
        if found is None:
            break
        copies.append(found)
    if not copies:
        return False
    session.push(event_frame(Forwarded(re=frame.id, conv=copies[-1].conv,
                                       seqs=tuple(m.seq for m in copies), pos=copies[-1].pos,
                                       duplicate=True)))
    return True


def _target_send(s: Services, sender: User, conv: int) -> Callable[..., Any]:
    """The send operation of the forward's target, after the checks of a `send`."""
    state = s.hub.conversation(conv)
    mine = state.members.get(sender.uid) if state is not None else None
    if state is None or mine is None or not mine.active:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    now = s.clock.now_ms()
    if state.kind == ANNOUNCE:
        raise ProtocolError(ErrorCode.FORBIDDEN, "the notice board is read-only")
    if state.kind == GROUP:
        return lambda w, cmid, text, files: group_ops.send(w, sender, conv, cmid, text, now,
                                                           attachments=files)
    peer = s.store.direct_peer(uid=sender.uid, conv=conv)
    if peer is None:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    enforce(may_message_directly(sender, peer, tied=tied(s.store, sender, peer)))
    archive = archive_corp(sender, peer)
    return lambda w, cmid, text, files: message_ops.send_direct(
        w, sender, peer, cmid, text, now, False, archive, attachments=files)


