"""Small helpers the feature modules share: refusals, paging, messages as shown."""

from __future__ import annotations

from collections.abc import Iterable

from corpchat.bridge import Verdict
from corpchat.protocol import ErrorCode, Limits, Msg, ProtocolError, Unread
from corpchat.store import Message, Store, User

from ..hub import message_event
from ..people import People
from ..services import Delivery


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
    return tuple(Unread(conv=c, read=r, unread=n) for c, r, n in counts)


def shown(store: Store, viewer: User, msgs: Iterable[Message]) -> tuple[Msg, ...]:
    """Messages as this viewer sees their senders (badges across realms)."""
    looker = People(store)
    out = []
    for msg in msgs:
        event = message_event(msg)
        sender = looker.user(msg.sender)
        if sender is not None and sender.realm != viewer.realm:
            event = looker.decorate(event, viewer.realm)
        out.append(event)
    return tuple(out)


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
