"""Requests of everyday messaging (1.5, docs/protocol.md §29): mentions and replies
on `send`, `edit`, `react`, `reactions.list`, `forward`, `group.notice`, `pin`,
`unpin`, `pins`, `conv.mute`; and how pages show what 1.5 adds to a message.

Each write is checked here (lengths, the caller's rights as far as they can be
seen before the write) and again by its writer operation (everyday_ops.py);
its context answers the committed result after the commit (`answer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from corpchat.bridge import Verdict, archive_corp, may_message_directly
from corpchat.protocol import (
    ConvMute,
    Edit,
    Edited,
    ErrorCode,
    Forward,
    Forwarded,
    Frame,
    GroupNotice,
    Msg,
    MuteEvent,
    Ok,
    Pin,
    PinEntry,
    Pins,
    PinsReply,
    ProtocolError,
    React,
    ReactionEvent,
    ReactionsList,
    ReactionsListReply,
    Send,
    Unpin,
)
from corpchat.protocol.emoji import is_reaction_emoji
from corpchat.protocol.frames_everyday import MENTION_ALL
from corpchat.store import ANNOUNCE, DIRECT, GROUP, Store, User, WriteTxn
from corpchat.store import everyday as tables
from corpchat.store.everyday import EditEvent, MuteState, ReactionState, Seen, StreamEvent

from . import everyday_ops as ops
from . import groups
from .config import ServerConfig
from .everyday_fanout import badge_origin
from .hub import ChangeContext, Hub, RequestContext, failure_frame, message_event
from .people import People, tied
from .session import Session
from .wsframes import event_frame

EVERYDAY_FRAMES = (Edit, React, ReactionsList, Forward, GroupNotice, Pin, Unpin, Pins, ConvMute)
Submit = Callable[[Any, object], None]
Out = dict[Session, list[bytes]]


@dataclass(slots=True)
class Everyday:
    """What these handlers use (not the App)."""

    store: Store
    hub: Hub
    config: ServerConfig
    now_ms: Callable[[], int]


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def _enforce(verdict: Verdict) -> None:
    if not verdict.allowed:
        raise ProtocolError(ErrorCode(verdict.code), verdict.reason)


def _answered(ctx: RequestContext, result: Any, out: Out) -> bool:
    """Count the answer; on a failure, the error frame. True if it succeeded."""
    ctx.session.sent_one()
    failure = failure_frame(result, ctx.request_id)
    if failure is not None:
        out[ctx.session].append(failure)
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
        out[self.session].append(event_frame(Ok(re=self.request_id, conv=result.conv,
                                                seq=result.seq, pos=pos)))


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


def with_extras(s: Everyday, sender: User, frame: Send,
                op: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a send's writer operation so it stores the send's mentions and quote."""
    if frame.conv is None:
        raise _bad("mentions and reply_to need 'conv'")
    mentions = tuple(dict.fromkeys(frame.mentions or ()))
    if len(mentions) > s.config.everyday.max_mentions:
        raise _bad(f"at most {s.config.everyday.max_mentions} mentions")
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

    def send(w: WriteTxn, urgent: bool = False) -> Any:
        return ops.send_with_extras(w, op, sender, conv, cmid, mentions, found, reply_to,
                                    urgent)
    return send


# ----- requests ---------------------------------------------------------------------


def handle(s: Everyday, session: Session, frame: Frame, submit: Submit) -> None:
    user: User = session.user  # type: ignore[assignment]
    now = s.now_ms()
    caps = s.config.everyday
    match frame:
        case Edit(conv=conv, seq=seq, text=text):
            _check_text(s, text, s.config.limits.max_text_chars)
            submit(lambda w: ops.edit(w, user, conv, seq, text, now, caps),
                   EditContext(session, frame.id))
        case React(conv=conv, seq=seq, emoji=emoji, on=on):
            if not is_reaction_emoji(emoji):
                raise _bad("emoji must be one grapheme cluster of at most 16 code points")
            submit(lambda w: ops.react(w, user, conv, seq, emoji, on, now, caps),
                   ReactContext(session, frame.id))
        case ReactionsList():
            _reactions_list(s, session, frame)
        case Forward():
            _forward(s, session, frame, submit)
        case GroupNotice(conv=conv, text=text):
            _check_text(s, text, caps.max_notice_chars)
            submit(lambda w: ops.set_notice(w, user, conv, text, now),
                   ChangeContext(session, frame.id))
        case Pin(conv=conv, seq=seq) | Unpin(conv=conv, seq=seq):
            on = isinstance(frame, Pin)
            submit(lambda w: ops.pin(w, user, conv, seq, on, now, caps),
                   ChangeContext(session, frame.id))
        case Pins():
            _pins(s, session, frame)
        case ConvMute(conv=conv, until=until):
            submit(lambda w: ops.mute(w, user, conv, until, now), MuteContext(session, frame.id))


def _check_text(s: Everyday, text: str, most: int) -> None:
    if not text:
        raise _bad("text is empty")
    if len(text) > most:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"text is longer than {most} characters")


def _current_member(s: Everyday, user: User, conv: int) -> None:
    mine = s.store.membership(uid=user.uid, conv=conv)
    if mine is None or not mine.active:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")


def _reactions_list(s: Everyday, session: Session, frame: ReactionsList) -> None:
    user: User = session.user  # type: ignore[assignment]
    _current_member(s, user, frame.conv)
    if frame.limit == 0:
        raise _bad("limit must be at least 1")
    limits = s.config.limits
    limit = min(frame.limit or limits.default_page, limits.max_page)
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


def _pins(s: Everyday, session: Session, frame: Pins) -> None:
    user: User = session.user  # type: ignore[assignment]
    _current_member(s, user, frame.conv)
    pinned = s.store.read(lambda txn, db: tables.pins(txn, db, conv=frame.conv))
    notice = s.store.read(lambda txn, db: tables.notice_seq(txn, db, conv=frame.conv))
    session.push(event_frame(PinsReply(
        re=frame.id, conv=frame.conv,
        pins=tuple(PinEntry(seq=seq, by=by, time=time) for seq, by, time in pinned),
        notice=notice or None)))


def _forward(s: Everyday, session: Session, frame: Forward, submit: Submit) -> None:
    sender: User = session.user  # type: ignore[assignment]
    limits = s.config.limits
    if not 0 < len(frame.client_msg_id) <= limits.max_client_msg_id_chars:
        raise _bad(f"client_msg_id must have 1 to {limits.max_client_msg_id_chars} characters")
    if not 0 < len(frame.seqs) <= s.config.everyday.max_forward:
        raise _bad(f"forward 1 to {s.config.everyday.max_forward} messages")
    if len(set(frame.seqs)) != len(frame.seqs):
        raise _bad("a message is named twice")
    send = _target_send(s, sender, frame.to_conv)
    now, cmid, seqs, source, target = s.now_ms(), frame.client_msg_id, frame.seqs, \
        frame.from_conv, frame.to_conv
    submit(lambda w: ops.forward(w, sender, cmid, source, seqs, target, now, send),
           ForwardContext(session, frame.id))


def _target_send(s: Everyday, sender: User,
                 conv: int) -> Callable[[WriteTxn, str, str], Any]:
    """The send operation of the forward's target, after the checks of a `send`."""
    state = s.hub.conversation(conv)
    mine = state.members.get(sender.uid) if state is not None else None
    if state is None or mine is None or not mine.active:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    now = s.now_ms()
    if state.kind == ANNOUNCE:
        raise ProtocolError(ErrorCode.FORBIDDEN, "the notice board is read-only")
    if state.kind == GROUP:
        return lambda w, cmid, text: groups.send(w, sender, conv, cmid, text, now)
    peer = s.store.direct_peer(uid=sender.uid, conv=conv)
    if peer is None:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    _enforce(may_message_directly(sender, peer, tied=tied(s.store, sender, peer)))
    archive = archive_corp(sender, peer)
    return lambda w, cmid, text: w.send_direct(sender, peer, cmid, text, now, False, archive)


# ----- pages ---------------------------------------------------------------------------


def shown(store: Store, viewer: User, msgs: list[Any]) -> tuple[Msg, ...]:
    """Messages of a page as this viewer sees them: badges across realms, the version
    and reactions they may see, the quote's text only if they see the original,
    and whether it mentions them."""
    looker = People(store)
    seen: list[Seen] = store.read(lambda txn, db: tables.as_read(txn, db, uid=viewer.uid,
                                                                  msgs=msgs))
    out = []
    for item in seen:
        msg = item.message
        event = message_event(msg)
        sender = looker.user(msg.sender)
        if sender is not None and sender.realm != viewer.realm:
            event = looker.decorate(event, viewer.realm)
        if msg.mentions or msg.quote or item.reactions or msg.forwarded:
            event = _page_fields(store, event, item, viewer)
        out.append(event)
    return tuple(out)


def _page_fields(store: Store, event: Msg, item: Seen, viewer: User) -> Msg:
    msg = item.message
    quote = event.quote
    if quote is not None and (item.quote_recalled or not item.quote_shown):
        quote = replace(quote, text=None, recalled=item.quote_recalled or None)
    mentioned = msg.mentions_user(viewer.handle) and msg.sender != viewer.handle
    event = replace(event, quote=quote, mentioned=mentioned or None,
                    reactions=item.reactions or None, reacted=item.reacted or None)
    if event.forwarded_from is not None:
        event = badge_origin(event, store, viewer.realm != "enterprise")
    return event


def sync_events(events: list[StreamEvent]) -> dict[str, Any]:
    """A sync page's 1.5 arrays, each in position order (absent when empty)."""
    edited = tuple(Edited(conv=e.conv, seq=e.seq, pos=e.pos, text=e.text,
                          edited_at=e.edited_ms, version=e.version)
                   for e in events if isinstance(e, EditEvent))
    reaction = tuple(ReactionEvent(conv=e.conv, seq=e.seq, pos=e.pos, reactions=e.counts)
                     for e in events if isinstance(e, ReactionState))
    mute = tuple(MuteEvent(conv=e.conv, pos=e.pos, muted=e.until is not None,
                           until=e.until or None)
                 for e in events if isinstance(e, MuteState))
    return {"edited": edited or None, "reaction": reaction or None, "mute": mute or None}


def conv_marks(store: Store, hub: Hub, uid: int, conv: int, kind: str) -> dict[str, Any]:
    """A `conv` map's 1.5 fields: the caller's mute and the group's notice."""
    until = hub.everyday.muted.get(conv, {}).get(uid)
    if until and until <= hub.everyday.now_ms():
        until = None  # that mute has ended
    notice = store.read(lambda txn, db: tables.notice_seq(txn, db, conv=conv)) \
        if kind == GROUP else 0
    return {"muted_until": until, "notice": notice or None}


__all__ = ["DIRECT", "EVERYDAY_FRAMES", "Everyday", "conv_marks", "handle", "shown",
           "sync_events", "with_extras"]
