"""Reading back: `sync` (everything since a token, paged), `history` (one
conversation, backwards) and `conversations` (the user's list)."""

from __future__ import annotations

from corpchat.protocol import (
    Conversations,
    ConversationsReply,
    ConvSummary,
    ErrorCode,
    History,
    HistoryPage,
    Msg,
    ProtocolError,
    Sync,
    SyncPage,
    encode,
)
from corpchat.store import DIRECT, User
from corpchat.store.messages import messages_at

from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame
from .common import conv_marks, page_limit, shown, sync_events, unread

routes = Routes()


@routes.handles(Sync)
def sync(s: Services, session: Session, frame: Sync) -> None:
    user = session.authed_user
    since = frame.since
    # A token below a cluster node's range was issued by another node (cluster.md §6).
    if not (since.isascii() and since.isdigit()) or int(since) > s.store.head_pos() \
            or 0 < int(since) < s.store.pos_base:
        raise ProtocolError(ErrorCode.BAD_SYNC_TOKEN, f"not a valid sync token: {frame.since!r}")
    limit = page_limit(s.config.limits, frame.limit)
    # A cluster node pages only up to what it has fanned out: past it, a batch
    # may wait for the log's PubAck (docs/cluster.md §3).
    upto = s.hub.head if s.config.cluster.enabled else None
    msgs, events, token, more = s.store.sync_stream(uid=user.uid, since=int(frame.since),
                                                    limit=limit, max_bytes=s.config.page_bytes,
                                                    upto=upto)
    session.push(event_frame(SyncPage(
        re=frame.id, msgs=shown(s.store, user, msgs), sync=str(token), more=more,
        unread=None if more else unread(s.store, user, s.config.unread_count_cap),
        **sync_events(events))))


@routes.handles(History)
def history(s: Services, session: Session, frame: History) -> None:
    user = session.authed_user
    page = s.store.history_page(uid=user.uid, conv=frame.conv, before=frame.before,
                                limit=page_limit(s.config.limits, frame.limit),
                                max_bytes=s.config.page_bytes)
    if page is None:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
    msgs, more = page
    session.push(event_frame(HistoryPage(
        re=frame.id, conv=frame.conv, msgs=shown(s.store, user, msgs), more=more)))


@routes.handles(Conversations)
def conversations(s: Services, session: Session, frame: Conversations) -> None:
    user = session.authed_user
    rows = s.store.user_conversations(user.uid)[:page_limit(s.config.limits, frame.limit)]
    last = last_messages(s, user, [(row[0].conv, row[2]) for row in rows if row[2]])
    summaries = []
    for conversation, membership, seq, pos, read in rows:
        peer = None
        if conversation.kind == DIRECT:
            other = s.store.direct_peer(uid=user.uid, conv=conversation.conv)
            peer = other.handle if other else None
        summaries.append(ConvSummary(
            conv=conversation.conv, kind=conversation.kind, name=conversation.name or peer
            or "", last_seq=seq, last_pos=pos, read=read, peer=peer,
            left=None if membership.active else True,
            **conv_marks(s.store, s.hub, user.uid, conversation.conv, conversation.kind),
            last=last.get(conversation.conv)))
    session.push(event_frame(ConversationsReply(re=frame.id, convs=tuple(summaries))))


def last_messages(s: Services, user: User, at: list[tuple[int, int]]) -> dict[int, Msg]:
    """Each conversation's last message as the user's `history` would show it (1.9): the
    seq is the last the user may see (a member's span, `user_conversations`), recalled
    ones come as tombstones, the version and quote as this reader may see them.

    At most a page's bytes of them (`page_bytes`, as `sync` and `history`), most recent
    conversations first: 500 conversations of long messages would pass the 1 MiB a
    client must accept and the outbound buffer. The rest come without, and a client
    asks `history` for those."""
    out: dict[int, Msg] = {}
    budget = s.config.page_bytes
    for msg in shown(s.store, user, s.store.read(messages_at, at=at)):
        budget -= len(encode(msg))
        if budget < 0:
            break
        out[msg.conv] = msg
    return out
