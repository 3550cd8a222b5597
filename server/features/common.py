"""Small helpers the feature modules share: refusals, paging, messages as shown."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from corpchat.bridge import Verdict
from corpchat.protocol import (
    Edited,
    ErrorCode,
    Limits,
    Msg,
    MuteEvent,
    ProtocolError,
    ReactionEvent,
    Unread,
)
from corpchat.store import GROUP, Message, Store, User, WriteOp
from corpchat.store import everyday as tables
from corpchat.store.everyday import EditEvent, MuteState, ReactionState, Seen, StreamEvent

from ..everyday_fanout import badge_origin
from ..hub import NoticeContext, message_event
from ..media import media_info
from ..people import People
from ..services import Delivery, Services
from ..session import Session


def stored_caller(s: Services, session: Session) -> User:
    """The caller as stored now (a role or a department may have changed since hello)."""
    user = s.store.user(session.authed_user.uid)
    assert user is not None  # users are disabled, never deleted
    return user


def submit_answered(s: Services, session: Session, frame: Any, op: WriteOp) -> None:
    """Submit `op`, answered after its commit by the notices it returns (`ok` or error)."""
    s.submit(session, op, NoticeContext(session, frame.id))


def bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def enforce(verdict: Verdict) -> None:
    """A bridge refusal becomes the request's error, its reason the message."""
    if not verdict.allowed:
        raise verdict.refusal.error()


def page_limit(limits: Limits, asked: int | None) -> int:
    if asked == 0:
        raise bad("limit must be at least 1")
    return min(asked or limits.default_page, limits.max_page)


def unread(store: Store, user: User, cap: int) -> tuple[Unread, ...]:
    counts = store.unread_counts(user.uid, cap)
    return tuple(Unread(conv=c, read=r, unread=n, mentions=m or None) for c, r, n, m in counts)


def shown(store: Store, viewer: User, msgs: Iterable[Message]) -> tuple[Msg, ...]:
    """Messages of a page as this viewer sees them: badges across realms, the version
    and reactions they may see, the quote's text only if they see the original,
    and whether it mentions them."""
    looker = People(store)
    page = list(msgs)
    seen: list[Seen] = store.read(lambda txn, db: tables.as_read(txn, db, uid=viewer.uid,
                                                                  msgs=page))
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
                          edited_at=e.edited_ms, version=e.version,
                          attachments=tuple(map(media_info, e.files)) or None)
                   for e in events if isinstance(e, EditEvent))
    reaction = tuple(ReactionEvent(conv=e.conv, seq=e.seq, pos=e.pos, reactions=e.counts)
                     for e in events if isinstance(e, ReactionState))
    mute = tuple(MuteEvent(conv=e.conv, pos=e.pos, muted=e.until is not None,
                           until=e.until or None)
                 for e in events if isinstance(e, MuteState))
    return {"edited": edited or None, "reaction": reaction or None, "mute": mute or None}


def conv_marks(store: Store, hub: Any, uid: int, conv: int, kind: str) -> dict[str, Any]:
    """A `conv` map's 1.5 fields: the caller's mute and the group's notice."""
    until = hub.everyday.muted.get(conv, {}).get(uid)
    if until and until <= hub.everyday.now_ms():
        until = None  # that mute has ended
    notice = store.read(lambda txn, db: tables.notice_seq(txn, db, conv=conv)) \
        if kind == GROUP else 0
    return {"muted_until": until, "notice": notice or None}


def announce_conv(store: Store, user: User) -> int:
    """The notice board of the user's corp."""
    corp = store.corp(user.corp_id) if user.corp_id else None
    if corp is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, "only corp admins post announcements")
    return corp.announce_conv


def conv_kind(hub: Delivery, user: User, conv: int) -> str:
    """The kind of a conversation the user is a current member of."""
    state = hub.conversation(conv)
    membership = state.members.get(user.uid) if state else None
    if state is None or membership is None or not membership.active:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    return state.kind


def active_user(store: Store, handle: str) -> User:
    """A user by handle who is not disabled."""
    found = store.user_by_handle(handle)
    if found is None or found.disabled:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {handle!r}")
    return found


def peer_address(peer: str) -> str:
    """The remote address of a session's "host:port" peer, without the port."""
    return peer.rpartition(":")[0] or peer
