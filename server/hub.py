"""Who is connected, and fan-out of each committed batch.

The writer thread hands every committed batch to `on_batch` on the event
loop. For each operation in commit order it answers the requester (ack or
error) and builds each new message's frame once, then appends those same
bytes to every live session of every member. Each session then gets all of
the batch's frames in one `push_many` — one write for the lot. No await
happens anywhere on this path, so one slow receiver cannot hold up others.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import trio

from corpchat.bridge import deciding_corp_id, may_preview, read_state_visible
from corpchat.protocol import (
    Ack,
    CloseCode,
    Error,
    ErrorCode,
    Frame,
    Msg,
    Ok,
    Reader,
    ReadEvent,
    ReceiptEvent,
    Reminder,
    Removed,
    TypingEvent,
)
from corpchat.store import (
    ANNOUNCE,
    CONSUMER,
    DIRECT,
    ENTERPRISE,
    Membership,
    Message,
    Pending,
    Refused,
    StorageError,
    Store,
    User,
)
from corpchat.store.records import TEXT

from .everyday_fanout import EverydayFanout, badge_origin, everyday_fields, marked
from .people import People
from .session import Session
from .wsframes import event_frame, ok_frame

if TYPE_CHECKING:
    from .receipts import ReadChange


@dataclass(slots=True)
class RequestContext:
    """Who asked for a write, so the hub can answer after the commit."""

    session: Session
    request_id: int


class SendContext(RequestContext):
    """A submitted `send`: answered with an ack, fanned out to the others."""

    __slots__ = ()


class ChangeContext(RequestContext):
    """A submitted group change or recall: answered with `ok`, fanned out to all."""

    __slots__ = ()


class ReadContext(RequestContext):
    """A submitted `read` or `remind`: answered with `ok`, then its events."""

    __slots__ = ()


class NoticeContext(RequestContext):
    """A submitted bridge change: its reply (or `ok`) and events to users' sessions."""

    __slots__ = ()


@dataclass(slots=True)
class ConvState:
    """What fan-out knows of a conversation: every membership it has had."""

    kind: str
    members: dict[int, Membership]
    mixed: bool = False  # has had members of both realms: messages get badges

    def __post_init__(self) -> None:
        self.apply({})

    def apply(self, changes: dict[int, Membership]) -> None:
        self.members.update(changes)
        self.mixed = len({m.consumer for m in self.members.values()}) > 1


class Waiter:
    """Lets a task await the result of one write operation."""

    __slots__ = ("_event", "result")

    def __init__(self) -> None:
        self._event = trio.Event()
        self.result: Any = None

    def set(self, result: Any) -> None:
        self.result = result
        self._event.set()

    async def wait(self) -> Any:
        await self._event.wait()
        return self.result


@dataclass(slots=True)
class HubStats:
    messages: int = 0
    deliveries: int = 0
    slow_closes: int = 0


def message_event(msg: Message) -> Msg:
    event = Msg(conv=msg.conv, seq=msg.seq, pos=msg.pos, sender=msg.sender, time=msg.time_ms,
                text=msg.text, client_msg_id=msg.client_msg_id or None, to=msg.to,
                kind=None if msg.kind == TEXT else msg.kind, event=msg.event,
                users=msg.users or None, name=msg.name, ref=msg.ref,
                recalled=msg.recalled or None, receipt=msg.receipt or None,
                urgent=msg.urgent or None)
    if msg.mentions or msg.quote or msg.forwarded or msg.notice or msg.version:
        event = everyday_fields(event, msg)  # 1.5
    return event


def error_frame(code: str, message: str, request_id: int | None = None,
                retry_after_ms: int | None = None) -> bytes:
    return event_frame(Error(code=code, message=message, re=request_id,
                             retry_after_ms=retry_after_ms))


def failure_frame(result: object, request_id: int | None) -> bytes | None:
    """The error frame answering a failed write, or None if it succeeded."""
    if isinstance(result, Refused):
        return error_frame(result.code, result.message, request_id, result.retry_after_ms)
    if isinstance(result, StorageError):
        return error_frame(ErrorCode.STORAGE_UNAVAILABLE, "the write could not be stored",
                           request_id)
    if isinstance(result, BaseException):
        return error_frame(ErrorCode.INTERNAL_ERROR, "internal error", request_id)
    return None


class _Variants:
    """The frames of one message event, each built (and encoded) on first use."""

    __slots__ = ("event", "mixed", "store", "_frames")

    def __init__(self, event: Msg, mixed: bool, store: Store) -> None:
        self.event, self.mixed, self.store = event, mixed, store
        self._frames: dict[tuple[bool, bool, bool, bool], bytes] = {}

    def frame(self, consumer: bool, silent: bool, mentioned: bool = False,
              unquoted: bool = False) -> bytes:
        """As seen by the receiver's realm, silent or not (resting, muted), mentioning
        them or not, and with the quote's text or without (they do not see it)."""
        realm = consumer and (self.mixed or self.event.forwarded_from is not None)
        key = (realm, silent, mentioned, unquoted)
        data = self._frames.get(key)
        if data is None:
            event = self.event
            if self.mixed:
                event = People(self.store).decorate(event, CONSUMER if consumer else ENTERPRISE)
            if event.forwarded_from is not None:
                event = badge_origin(event, self.store, consumer)
            if silent or mentioned or unquoted:
                event = marked(event, silent, mentioned, unquoted)
            data = self._frames[key] = event_frame(event)
        return data


class Hub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.quiet: Any = None  # QuietHours, set by the App
        self.push: Any = None  # PushGateway, set by the App
        self.sessions: dict[int, list[Session]] = defaultdict(list)
        # users with a session, per realm: kept here because counting them from
        # `sessions` on demand stalled the event loop (~15 ms at 10,000 connections)
        self.online_by_realm: Counter[str] = Counter()
        self.head = store.head_pos()  # the last position fanned out
        self.stats = HubStats()
        # Membership for fan-out, from memory: loaded once per conversation,
        # then kept in step with the store by applying each committed change
        # in commit order. Past memberships stay, so a message committed
        # before a removal still reaches the removed member.
        self.convs: dict[int, ConvState] = {}
        self.everyday = EverydayFanout(self)  # 1.5: mutes, coalesced reactions, events

    def register(self, session: Session) -> None:
        user: User = session.user  # type: ignore[assignment]
        peers = self.sessions[user.uid]
        if not peers:
            self.online_by_realm[user.realm] += 1
        peers.append(session)

    def unregister(self, session: Session) -> None:
        if session.user is None:
            return
        peers = self.sessions.get(session.user.uid)
        if peers and session in peers:
            peers.remove(session)
            if not peers:
                del self.sessions[session.user.uid]
                self.online_by_realm[session.user.realm] -= 1

    def sessions_of(self, uid: int) -> list[Session]:
        return self.sessions.get(uid, [])

    def conversation(self, conv: int, *, keep: bool = True) -> ConvState | None:
        """A conversation's membership for fan-out; loaded once and kept, unless `keep`
        is False (it is then read afresh each time until something keeps it)."""
        state = self.convs.get(conv)
        if state is None:
            found = self.store.conversation_state(conv)
            if found is None:
                return None
            state = ConvState(found[0].kind, found[1])
            if keep:
                self.convs[conv] = state
        return state

    def forget(self, conv: int) -> None:
        """Drop a conversation's cached membership; it reloads on next use."""
        self.convs.pop(conv, None)

    def on_batch(self, batch: list[Pending]) -> None:
        """Answer and fan out one committed batch (event-loop thread, no await)."""
        out: dict[Session, list[bytes]] = defaultdict(list)
        receipts: dict[tuple[int, int, int], list[tuple[User, Reader]]] = defaultdict(list)
        self.everyday.begin(batch)
        for pending in batch:
            context = pending.context
            if isinstance(context, SendContext):
                self._on_send(context, pending.result, out)
            elif isinstance(context, ChangeContext):
                self._on_change(context, pending.result, out)
            elif isinstance(context, ReadContext):
                self._on_read(context, pending.result, out, receipts)
            elif isinstance(context, NoticeContext):
                self._on_notices(context, pending.result, out)
            elif isinstance(context, Waiter):
                self._deliver(pending.result, out)
                context.set(pending.result)
            elif hasattr(context, "answer"):  # 1.5: a context that answers its own result
                context.answer(self, pending.result, out)
        self._emit_receipts(receipts, out)
        for session, frames in out.items():
            was_open = session.close_code is None
            session.push_many(frames)
            if was_open and session.close_code == CloseCode.RESYNC_REQUIRED:
                self.stats.slow_closes += 1

    def _on_send(self, ctx: SendContext, result: Any, out: dict[Session, list[bytes]]) -> None:
        origin = ctx.session
        origin.sent_one()
        failure = failure_frame(result, ctx.request_id)
        if failure is not None:
            out[origin].append(failure)
            return
        msg, duplicate = result
        out[origin].append(event_frame(Ack(
            re=ctx.request_id, conv=msg.conv, seq=msg.seq, pos=msg.pos, time=msg.time_ms,
            client_msg_id=msg.client_msg_id, duplicate=duplicate,
            recipient_resting_until=self._resting_peer(msg, origin))))
        if not duplicate:
            self.fan_out(msg, out, skip=origin)

    def _resting_peer(self, msg: Message, origin: Session) -> int | None:
        """Until when the other member of a direct chat rests, if they do."""
        state = self.conversation(msg.conv)
        if state is None or state.kind != DIRECT:
            return None
        for uid in state.members:
            if uid != origin.user.uid:  # type: ignore[union-attr]
                return self.quiet.resting.get(uid)
        return None

    def _on_change(self, ctx: ChangeContext, result: Any,
                   out: dict[Session, list[bytes]]) -> None:
        ctx.session.sent_one()
        failure = failure_frame(result, ctx.request_id)
        if failure is not None:
            out[ctx.session].append(failure)
            return
        msg = result.message
        state = self.conversation(msg.conv)
        if state is not None:
            state.apply(result.changes)
        self.fan_out(msg, out, skip=None)
        out[ctx.session].append(event_frame(Ok(re=ctx.request_id, conv=msg.conv, seq=msg.seq,
                                                pos=msg.pos)))
        if result.removed:
            gone = event_frame(Removed(conv=msg.conv, by=msg.sender))
            for uid in result.removed:
                for session in self.sessions.get(uid, ()):
                    out[session].append(gone)

    def _on_read(self, ctx: ReadContext, result: Any, out: dict[Session, list[bytes]],
                 receipts: dict[tuple[int, int, int], list[tuple[User, Reader]]]) -> None:
        """A read moved a cursor (or a reminder went out)."""
        origin = ctx.session
        origin.sent_one()
        failure = failure_frame(result, ctx.request_id)
        if failure is not None:
            out[origin].append(failure)
            return
        if hasattr(result, "targets"):  # a reminder: silent for those resting
            out[origin].append(ok_frame(ctx.request_id, result.conv, result.seq))
            reminder = Reminder(conv=result.conv, seq=result.seq,
                                sender=origin.user.handle)  # type: ignore[union-attr]
            frames = {False: event_frame(reminder),
                      True: event_frame(replace(reminder, silent=True))}
            for uid in result.targets:
                silent = uid in self.quiet.resting
                sessions = self.sessions.get(uid)
                if not sessions and not silent and self.push.wanted(uid):
                    self.push.reminder(uid, result.conv, reminder.sender)
                for session in sessions or ():
                    out[session].append(frames[silent])
            return
        self._on_cursor(origin, ctx.request_id, result, out, receipts)

    def _on_cursor(self, origin: Session, request_id: int, result: ReadChange,
                   out: dict[Session, list[bytes]],
                   receipts: dict[tuple[int, int, int], list[tuple[User, Reader]]]) -> None:
        """The hot path of read receipts (one per read): a pre-encoded `ok`, the cursor
        to the reader's other devices only if there are any, and the reader queued
        for the senders' coalesced `receipt` events."""
        out[origin].append(ok_frame(request_id, result.conv, result.seq))
        user: User = origin.user  # type: ignore[assignment]
        if result.moved:
            devices = self.sessions.get(user.uid, ())
            if len(devices) > 1:
                frame = event_frame(ReadEvent(conv=result.conv, seq=result.seq))
                for session in devices:
                    if session is not origin:
                        out[session].append(frame)
        if result.receipts:
            entry = (user, Reader(user=user.handle, time=result.time_ms))
            conv = result.conv
            for seq, sender_uid in result.receipts:
                receipts[(sender_uid, conv, seq)].append(entry)

    def _on_notices(self, ctx: NoticeContext, result: Any,
                    out: dict[Session, list[bytes]]) -> None:
        origin = ctx.session
        origin.sent_one()
        failure = failure_frame(result, ctx.request_id)
        if failure is not None:
            out[origin].append(failure)
            return
        out[origin].append(event_frame(result.reply or Ok(re=ctx.request_id)))
        self._deliver(result, out, origin)

    def _deliver(self, result: Any, out: dict[Session, list[bytes]],
                 origin: Session | None = None) -> None:
        """What a committed change (bridge_ops.Notices) tells whom, in commit order."""
        if not hasattr(result, "events"):
            return
        for conv in result.forget:
            self.forget(conv)
        for msg in result.messages:
            self.fan_out(msg, out, skip=None, keep=result.keep_convs)
        for uid, frame in result.events:
            data = event_frame(frame)
            for session in self.sessions.get(uid, ()):
                if session is not origin:
                    out[session].append(data)
        if result.then is not None:
            result.then()

    def _emit_receipts(self, receipts: dict[tuple[int, int, int], list[tuple[User, Reader]]],
                       out: dict[Session, list[bytes]]) -> None:
        """One `receipt` event per message per batch, however many read it."""
        for (sender_uid, conv, seq), readers in receipts.items():
            sessions = self.sessions.get(sender_uid)
            if not sessions:
                continue
            viewer = sessions[0].user
            shown = tuple(r for reader, r in readers if self.read_visible(reader, viewer))
            if shown:
                frame = event_frame(ReceiptEvent(conv=conv, seq=seq, readers=shown))
                for session in sessions:
                    out[session].append(frame)

    def _preview(self, uid: int, msg: Message) -> str:
        """A push notification's text, unless the receiver's corp hides previews."""
        user = self.store.user(uid)
        corp = self.store.corp(user.corp_id) if user is not None and user.corp_id else None
        return msg.text if may_preview(corp).allowed else ""

    def read_visible(self, reader: User, viewer: User) -> bool:
        """Whether `viewer` may see `reader`'s read state (the bridge decides)."""
        deciding = deciding_corp_id(reader, viewer)  # 0: one realm, no corp to look up
        corp = self.store.corp(deciding) if deciding else None
        return read_state_visible(reader, viewer, corp).allowed

    def fan_out(self, msg: Message, out: dict[Session, list[bytes]],
                skip: Session | None, keep: bool = True) -> None:
        """Hand one committed message to every session that may see it, building each
        variant once.

        The frames are appended to `out` (the batch's frames per session, written by
        `on_batch` in one `push_many` each), never to `skip` (the session that sent it);
        a resting receiver's message is counted for its digest, an offline one may be
        pushed. A receiver gets one of at most four frames: as seen by its realm
        (badges, only in conversations that span both) and silent or not (resting).
        `keep=False` does not keep a conversation loaded only for this message.
        Public so that `server.fanoutbench` can time exactly this step.
        """
        self.stats.messages += 1
        self.head = msg.pos
        state = self.conversation(msg.conv, keep=keep)
        if state is None:
            return
        variants = _Variants(message_event(msg), state.mixed, self.store)
        resting = {} if msg.urgent else self.quiet.resting
        sender_uid = self._sender_uid(msg, skip)
        # 1.5: mentions, a quote some receivers may not see, mutes (None: none apply,
        # the plain message's path)
        marks = self.everyday.marks(msg) if msg.mentions or msg.quote \
            or msg.conv in self.everyday.muted else None
        pos = msg.pos
        delivered = 0
        for uid, membership in state.members.items():
            if not membership.sees(pos):
                continue
            silent = uid in resting
            if silent and uid != sender_uid and msg.kind == TEXT:
                self.quiet.held(uid, msg.conv)
            mentioned = unquoted = hushed = False
            if marks is not None:
                mentioned, unquoted, hushed = marks.of(uid, membership)
            sessions = self.sessions.get(uid)
            if not sessions:
                if not silent and not hushed and uid != sender_uid and self.push.wanted(uid) \
                        and msg.kind == TEXT:
                    self.push.offline(uid, msg.conv, msg.sender, self._preview(uid, msg))
                continue
            data = variants.frame(membership.consumer, silent or hushed, mentioned, unquoted)
            for session in sessions:
                if session is not skip:
                    out[session].append(data)
                    delivered += 1
        self.stats.deliveries += delivered

    def _sender_uid(self, msg: Message, skip: Session | None) -> int | None:
        """Who sent a text message, so that it is neither held for their digest nor pushed
        to them: the sending session's user, or for a message stored by a request that
        answers otherwise (a mass message, an announcement) the sender looked up once."""
        if skip is not None and skip.user is not None:
            return skip.user.uid
        if msg.kind != TEXT:
            return None
        sender = self.store.user_by_handle(msg.sender)
        return sender.uid if sender is not None else None

    def send_to_users(self, uids: Iterable[int], frame: Frame) -> None:
        """One event to every live session of these users (encoded once)."""
        data = event_frame(frame)
        for uid in uids:
            for session in self.sessions.get(uid, ()):
                session.push(data)

    def typing(self, session: Session, conv: int) -> bool:
        """Tell the other members' sessions; False if the user is not a member."""
        state = self.conversation(conv)
        me = session.user.uid  # type: ignore[union-attr]
        if state is None or state.kind == ANNOUNCE or me not in state.members \
                or not state.members[me].active:
            return False
        frame = event_frame(TypingEvent(conv=conv, user=session.user.handle))  # type: ignore[union-attr]
        for uid, membership in state.members.items():
            if uid != me and membership.active:
                for peer in self.sessions.get(uid, ()):
                    peer.push(frame)
        return True
