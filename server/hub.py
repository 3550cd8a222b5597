"""Who is connected, and fan-out of each committed batch.

The writer thread hands every committed batch to `on_batch` on the event
loop. For each operation in commit order the context it was submitted with
answers it (`context.answer(hub, result, out)`: an ack, `ok` or error to the
requester, and the events it causes) and each new message's frame is built
once, then those same bytes are appended to every live session of every
member. Each session then gets all of the batch's frames in one
`push_many` — one write for the lot. No await happens anywhere on this
path, so one slow receiver cannot hold up others.

A feature module defines its own contexts (features/*.py); the hub offers
them its delivery API: `fan_out` a stored message, `deliver` a change's
notices, `pending_receipts` to coalesce, and who is online (`sessions`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import msgpack
import trio

from corpchat.bridge import deciding_corp_id, may_preview, read_state_visible
from corpchat.protocol import (
    Card,
    CloseCode,
    Error,
    Frame,
    Msg,
    Ok,
    Reader,
    ReceiptEvent,
    Refusal,
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
    Store,
    User,
)
from corpchat.store.records import TEXT

from .everyday_fanout import MAX_POS, EverydayFanout, badge_origin, everyday_fields, marked
from .media import media_info
from .online import Online
from .ops.results import Notices, failure
from .people import People
from .push import PushGateway
from .quiet import QuietHours
from .session import Session
from .wsframes import binary_frame, event_frame

# Frames per session of one commit batch, appended in commit order.
Out = dict[Session, list[bytes]]
# Readers of receipt-requested messages in one batch: (sender uid, conv, seq) -> readers.
Receipts = dict[tuple[int, int, int], list[tuple[User, Reader]]]


class Answers(Protocol):
    """The context a write is submitted with: it answers the committed result."""

    def answer(self, hub: Hub, result: Any, out: Out) -> None: ...


@dataclass(slots=True)
class RequestContext:
    """Who asked for a write, so its context can answer after the commit."""

    session: Session
    request_id: int

    def refused(self, refusal: Refusal, out: Out) -> None:
        out[self.session].append(refusal_frame(refusal, self.request_id))


class Unanswered:
    """The context of a write nobody waits for (a token's last-seen time)."""

    __slots__ = ()

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        pass


UNANSWERED = Unanswered()


class NoticeContext(RequestContext):
    """A submitted change answered with its reply (or `ok`), then its notices."""

    __slots__ = ()

    def answer(self, hub: Hub, result: Notices | Refusal, out: Out) -> None:
        origin = self.session
        origin.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        out[origin].append(event_frame(result.reply or Ok(re=self.request_id)))
        hub.deliver(result, out, origin)


@dataclass(slots=True)
class ConvState:
    """What fan-out knows of a conversation: every membership it has had."""

    kind: str
    members: dict[int, Membership]
    mixed: bool = False  # has had members of both realms: messages get badges
    # Every session of every current member, for events on a message (reactions, edits),
    # kept while `Online.epoch` stays `audience_epoch` and the membership does not change
    # (everyday_fanout); `latest_join`: the last current member's joined_pos.
    audience: list[Session] | None = None
    audience_epoch: int = -1
    latest_join: int = 0

    def __post_init__(self) -> None:
        self.apply({})

    def apply(self, changes: dict[int, Membership]) -> None:
        self.members.update(changes)
        self.mixed = len({m.consumer for m in self.members.values()}) > 1
        self.audience = None
        self.latest_join = max((m.joined_pos for m in self.members.values() if m.active),
                               default=0)


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

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        if isinstance(result, Notices):
            hub.deliver(result, out)
        self.set(result)


@dataclass(slots=True)
class HubStats:
    messages: int = 0
    deliveries: int = 0
    slow_closes: int = 0


def message_event(msg: Message) -> Msg:
    event = Msg(conv=msg.conv, seq=msg.seq, pos=msg.pos, sender=msg.sender, time=msg.time_ms,
                text=msg.text, client_msg_id=msg.client_msg_id or None, to=msg.to,
                kind=msg.wire_kind, event=msg.event,
                users=msg.users or None, name=msg.name, ref=msg.ref,
                recalled=msg.recalled or None, receipt=msg.receipt or None,
                urgent=msg.urgent or None,
                attachments=tuple(media_info(a) for a in msg.attachments) or None)
    if msg.mentions or msg.quote or msg.forwarded or msg.notice or msg.version:
        event = everyday_fields(event, msg)  # 1.5
    if msg.card is not None or msg.markdown:  # 1.10
        event = replace(event, markdown=msg.markdown or None, card=msg.card and Card(
            title=msg.card[0], url=msg.card[1], description=msg.card[2] or None,
            button=msg.card[3] or None))
    if msg.sender.startswith(ROBOT_SENDER):  # 1.7: shown by the robot's name
        return replace(event, robot=True, display=msg.name, name=None)
    return event


ROBOT_SENDER = "robot:"  # a group robot's messages come from robot:<id> (no handle has ':')


def is_plain(msg: Message) -> bool:
    """A message whose event is message_event's first statement alone: no 1.5 fields,
    no files, not a robot's."""
    return not (msg.mentions or msg.quote) and is_simple(msg)


def is_simple(msg: Message) -> bool:
    """A message whose frames `simple_frame` builds: a plain one, or one that only
    mentions someone or replies (issue 20's everyday mix)."""
    return not (msg.forwarded or msg.notice or msg.version or msg.attachments
                or msg.card is not None or msg.markdown or msg.sender.startswith(ROBOT_SENDER))


def plain_frame(msg: Message) -> bytes:
    """`event_frame(message_event(msg))` for a plain message, built without the Msg
    dataclass (33 frozen fields, then to_wire over all of them): the frame of nearly every
    delivery (tests/server/test_hub_frames.py compares the bytes)."""
    return binary_frame(msgpack.packb(_plain_fields(msg), use_bin_type=True))


def _plain_fields(msg: Message) -> dict[str, object]:
    """The keys in Msg's field order, a None left out, as Frame.to_wire does."""
    fields: dict[str, object] = {"type": "msg", "conv": msg.conv, "seq": msg.seq,
                                 "pos": msg.pos, "from": msg.sender, "time": msg.time_ms,
                                 "text": msg.text}
    optional = (("client_msg_id", msg.client_msg_id or None), ("to", msg.to),
                ("kind", msg.wire_kind), ("event", msg.event), ("users", msg.users or None),
                ("name", msg.name), ("ref", msg.ref), ("recalled", msg.recalled or None),
                ("receipt", msg.receipt or None), ("urgent", msg.urgent or None))
    for key, value in optional:
        if value is not None:
            fields[key] = value
    return fields


def simple_frame(msg: Message, silent: bool = False, mentioned: bool = False,
                 unquoted: bool = False) -> bytes:
    """`event_frame(marked(message_event(msg), ...))` for a simple message (`is_simple`),
    built without the Msg dataclass: the variants of a mention or a reply cost what a
    plain message's frame costs (tests/server/test_hub_frames.py compares the bytes).
    1.5's keys all follow the plain ones in Msg's field order."""
    fields = _plain_fields(msg)
    if silent:
        fields["silent"] = True
    if mentioned:
        fields["mentioned"] = True
    q = msg.quote
    if q is not None:
        fields["reply_to"] = q.seq
        quote: dict[str, object] = {"type": "quote", "seq": q.seq, "from": q.sender}
        if q.kind != TEXT:
            quote["kind"] = q.kind
        if q.text and not unquoted:
            quote["text"] = q.text
        fields["quote"] = quote
    if msg.mentions:
        fields["mentions"] = msg.mentions
    return binary_frame(msgpack.packb(fields, use_bin_type=True))


def error_frame(code: str, message: str, request_id: int | None = None,
                retry_after_ms: int | None = None) -> bytes:
    return event_frame(Error(code=code, message=message, re=request_id,
                             retry_after_ms=retry_after_ms))


def refusal_frame(refusal: Refusal, request_id: int | None) -> bytes:
    """The error frame answering a refused (or failed) write."""
    return error_frame(refusal.code, refusal.reason, request_id, refusal.retry_after_ms)


PLAIN = (False, False, False, False)  # the variant key of a plain message's one frame
EMPTY: frozenset[int] = frozenset()


class _Variants:
    """The frames of one message event, each built (and encoded) on first use."""

    __slots__ = ("msg", "mixed", "store", "_event", "_frames", "_simple")

    def __init__(self, msg: Message, mixed: bool, store: Store) -> None:
        self.msg, self.mixed, self.store = msg, mixed, store
        self._event: Msg | None = None  # message_event(msg), made when a variant needs it
        self._frames: dict[tuple[bool, bool, bool, bool], bytes] = {}
        # Within one realm a plain message (or one that mentions or replies) has its
        # frames built without the Msg dataclass (simple_frame).
        self._simple = not mixed and is_simple(msg)

    @property
    def event(self) -> Msg:
        if self._event is None:
            self._event = message_event(self.msg)
        return self._event

    def frame(self, consumer: bool, silent: bool, mentioned: bool = False,
              unquoted: bool = False) -> bytes:
        """As seen by the receiver's realm, silent or not (resting, muted), mentioning
        them or not, and with the quote's text or without (they do not see it)."""
        if self._simple:
            key = PLAIN if not (silent or mentioned or unquoted) else \
                (False, silent, mentioned, unquoted)
            data = self._frames.get(key)
            if data is None:
                data = self._frames[key] = simple_frame(self.msg, silent, mentioned, unquoted)
            return data
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
    def __init__(self, store: Store, online: Online, quiet: QuietHours,
                 push: PushGateway) -> None:
        self.store = store
        self.online = online
        self.quiet = quiet
        self.push = push
        self.sessions = online.sessions  # the same dict: fan-out reads it directly
        self.online_by_realm = online.online_by_realm
        self.head = store.head_pos()  # the last position fanned out
        self.stats = HubStats()
        # Membership for fan-out, from memory: loaded once per conversation,
        # then kept in step with the store by applying each committed change
        # in commit order. Past memberships stay, so a message committed
        # before a removal still reaches the removed member.
        self.convs: dict[int, ConvState] = {}
        self.pending_receipts: Receipts = defaultdict(list)  # this batch's, until emitted
        self.everyday = EverydayFanout(self)  # 1.5: mutes, coalesced reactions, events

    def register(self, session: Session) -> None:
        self.online.register(session)

    def unregister(self, session: Session) -> None:
        self.online.unregister(session)

    def sessions_of(self, uid: int) -> list[Session]:
        return self.sessions.get(uid, [])

    def send_to_users(self, uids: Iterable[int], frame: Frame) -> None:
        """One event to every live session of these users (encoded once)."""
        self.online.send_to_users(uids, frame)

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
        out: Out = defaultdict(list)
        self.everyday.begin(batch)
        for pending in batch:
            result = pending.result
            if isinstance(result, BaseException):  # the commit failed (the writer logged it)
                result = failure(result)
            context = pending.context
            if context is not None:  # None: submitted by code that wants no answer
                context.answer(self, result, out)
        if self.pending_receipts:
            self._emit_receipts(self.pending_receipts, out)
            self.pending_receipts.clear()
        self.write_out(out)

    def write_out(self, out: Out) -> None:
        """Write each session's frames of a batch, one system call each (behind the
        reaction events it holds, everyday_fanout). The receivers of one message that
        hold one conversation's reactions hold the same bytes: joined with the message's
        frame once, not once per receiver (what push_many would do)."""
        last_held = last_frame = joined = b""
        for session, frames in out.items():
            held = session.held
            if held is not None:  # in front of the batch's first frame
                frame = frames[0]
                if frame is not last_frame or held is not last_held:
                    last_held, last_frame, joined = held, frame, held + frame
                session.held = None
                frames[0] = joined
            was_open = session.close_code is None
            session.push_many(frames)
            if was_open and session.close_code == CloseCode.RESYNC_REQUIRED:
                self.stats.slow_closes += 1

    def resting_peer(self, msg: Message, origin: Session) -> int | None:
        """Until when the other member of a direct chat rests, if they do."""
        state = self.conversation(msg.conv)
        if state is None or state.kind != DIRECT:
            return None
        for uid in state.members:
            if uid != origin.authed_user.uid:
                return self.quiet.resting.get(uid)
        return None

    def deliver(self, result: Notices, out: Out, origin: Session | None = None) -> None:
        """What a committed change tells whom, in commit order."""
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

    def _emit_receipts(self, receipts: Receipts, out: Out) -> None:
        """One `receipt` event per message per batch, however many read it."""
        for (sender_uid, conv, seq), readers in receipts.items():
            sessions = self.sessions.get(sender_uid)
            if not sessions:
                continue
            viewer = sessions[0].authed_user
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

    def fan_out(self, msg: Message, out: Out, skip: Session | None, keep: bool = True,
                push: bool = True) -> None:
        """Hand one committed message to every session that may see it, building each
        variant once.

        The frames are appended to `out` (the batch's frames per session, written by
        `on_batch` in one `push_many` each), never to `skip` (the session that sent it);
        a resting receiver's message is counted for its digest, an offline one may be
        pushed. A receiver gets one of at most four frames: as seen by its realm
        (badges, only in conversations that span both) and silent or not (resting).
        `keep=False` does not keep a conversation loaded only for this message;
        `push=False` pushes to nobody offline (a cluster node applying another home's
        message: its home pushes, docs/cluster.md §4).
        Public so that `server.fanoutbench` can time exactly this step.
        """
        self.stats.messages += 1
        self.head = msg.pos
        state = self.conversation(msg.conv, keep=keep)
        if state is None:
            return
        variants = _Variants(msg, state.mixed, self.store)
        resting = {} if msg.urgent else self.quiet.resting
        sender_uid = self._sender_uid(msg, skip)
        # 1.5: mentions, a quote some receivers may not see, mutes (None: none apply,
        # the plain message's path)
        marks = self.everyday.marks(msg) if msg.mentions or msg.quote \
            or msg.conv in self.everyday.muted else None
        # who `marks` may mark: `special`, and whoever joined after the quoted message
        special, quote_bound = (marks.special, marks.quote_bound) if marks else (EMPTY, MAX_POS)
        pos = msg.pos
        delivered = 0
        for uid, membership in state.members.items():
            if not membership.sees(pos):
                continue
            silent = uid in resting
            if silent and uid != sender_uid and msg.kind == TEXT:
                self.quiet.held(uid, msg.conv)
            mentioned = unquoted = hushed = False
            if marks is not None and (uid in special or membership.joined_pos > quote_bound):
                mentioned, unquoted, hushed = marks.of(uid, membership)
            sessions = self.sessions.get(uid)
            if not sessions:
                if push and not silent and not hushed and uid != sender_uid \
                        and self.push.wanted(uid) and msg.kind == TEXT:
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

    def typing(self, session: Session, conv: int) -> bool:
        """Tell the other members' sessions; False if the user is not a member."""
        state = self.conversation(conv)
        me = session.authed_user.uid
        if state is None or state.kind == ANNOUNCE or me not in state.members \
                or not state.members[me].active:
            return False
        frame = event_frame(TypingEvent(conv=conv, user=session.authed_user.handle))
        for uid, membership in state.members.items():
            if uid != me and membership.active:
                for peer in self.sessions.get(uid, ()):
                    peer.push(frame)
        return True
