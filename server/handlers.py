"""Requests after decoding: plain synchronous functions, no I/O of their own.

A handler answers with frames pushed to the session, or submits a write to
the group-commit writer; the writer's batch is answered by the hub after
the commit. Every refusal is an `error` frame with a code from the table in
docs/protocol.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from corpchat.bridge import (
    Verdict,
    archive_corp,
    day_number,
    may_create_group,
    may_invite,
    may_mark_urgent,
    may_message_directly,
    may_send_urgent,
    until_next_day_ms,
)
from corpchat.protocol import (
    Ack,
    Announce,
    CloseCode,
    Conversations,
    ConversationsReply,
    ConvSummary,
    ErrorCode,
    Frame,
    GroupAdd,
    GroupCreate,
    GroupDissolve,
    GroupInfo,
    GroupInfoReply,
    GroupLeave,
    GroupList,
    GroupListReply,
    GroupRemove,
    GroupRename,
    GroupSetRole,
    GroupSummary,
    GroupTransfer,
    Hello,
    History,
    HistoryPage,
    Member,
    Ping,
    Pong,
    ProtocolError,
    Read,
    Reader,
    Recall,
    Receipts,
    ReceiptsReply,
    Register,
    Remind,
    Send,
    Sync,
    SyncPage,
    Typing,
    Unread,
    Welcome,
    decode_client_frame,
)
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.store import (
    ANNOUNCE,
    DIRECT,
    GROUP,
    Refused,
    StorageError,
    User,
    tokens,
)
from corpchat.store import contacts as tables
from corpchat.store.records import Token

from . import everyday, groups, quiet_handlers, receipts
from .audit import audit
from .bridge_handlers import BRIDGE_FRAMES, BridgeHandler
from .customers import CUSTOMER_FRAMES
from .hub import ChangeContext, ReadContext, SendContext, error_frame
from .people import People, tied
from .quiet_handlers import QUIET_FRAMES
from .session import Session
from .wsframes import event_frame

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("corpchat.server")


class RequestHandler:
    def __init__(self, app: App) -> None:
        self.app = app
        self.limits = app.config.limits
        config = app.config
        self.caps = groups.Caps(config.max_group_members, config.max_group_consumers,
                                config.recall_window_s * 1000)
        self._typing: dict[int, TokenBucket] = {}
        self._everyday = everyday.Everyday(app.store, app.hub, config, app.clock.now_ms)

    @property
    def bridge(self) -> BridgeHandler:
        return self.app.bridge

    def handle(self, session: Session, payload: bytes) -> None:
        """Decode one client payload and act on it."""
        try:
            frame = decode_client_frame(payload, self.limits)
        except ProtocolError as exc:
            self._refuse(session, exc)
            return
        try:
            self._dispatch(session, frame)
        except ProtocolError as exc:
            exc.request_id = getattr(frame, "id", None)
            self._refuse(session, exc)
        except StorageError as exc:
            log.error("storage error for %s: %s", session.id, exc)
            session.push(error_frame(ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable",
                                     getattr(frame, "id", None)))

    def _refuse(self, session: Session, exc: ProtocolError) -> None:
        session.push(error_frame(exc.code, exc.message, exc.request_id))
        if exc.close is not None:
            session.begin_close(exc.close, exc.message)

    def _dispatch(self, session: Session, frame: Frame) -> None:
        if session.user is None:
            if isinstance(frame, Register):
                self.bridge.register(session, frame, self._submit_for(session))
                return
            if not isinstance(frame, Hello):
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "send hello first",
                                    close=CloseCode.AUTH_FAILED)
            self._hello(session, frame)
            return
        if isinstance(frame, BRIDGE_FRAMES):
            self.bridge.handle(session, frame, self._submit_for(session))
            return
        if isinstance(frame, CUSTOMER_FRAMES):
            self.app.customers.handle(session, frame, self._submit_for(session))
            return
        if isinstance(frame, QUIET_FRAMES):
            quiet_handlers.handle(self.app, session, frame, self._submit_for(session))
            return
        if isinstance(frame, everyday.EVERYDAY_FRAMES):
            everyday.handle(self._everyday, session, frame, self._submit_for(session))
            return
        match frame:
            case Send() | Announce():
                self._send(session, frame)
            case Sync():
                self._sync(session, frame)
            case History():
                self._history(session, frame)
            case Ping():
                session.push(event_frame(Pong(re=frame.id, server_time=self.app.clock.now_ms())))
            case GroupInfo():
                self._group_info(session, frame)
            case GroupList():
                self._group_list(session, frame)
            case Typing():
                self._typing_event(session, frame)
            case Read(conv=conv, seq=seq):
                reader, now = session.user, self.app.clock.now_ms()
                self._submit(session, lambda w: receipts.mark_read(w, reader, conv, seq, now),
                             ReadContext(session, frame.id))
            case Remind(conv=conv, seq=seq):
                actor, now = session.user, self.app.clock.now_ms()
                interval = self.app.config.remind_interval_s * 1000
                self._submit(session,
                             lambda w: receipts.remind(w, actor, conv, seq, now, interval),
                             ReadContext(session, frame.id))
            case Receipts():
                self._receipts(session, frame)
            case Conversations():
                self._conversations(session, frame)
            case GroupCreate() | GroupAdd() | GroupRemove() | GroupLeave() | GroupRename() \
                    | GroupSetRole() | GroupTransfer() | GroupDissolve() | Recall():
                self._submit(session, self._change_op(session.user, frame),
                             ChangeContext(session, frame.id))
            case Hello() | Register():
                raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "already authenticated")
            case _:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{frame.TYPE} is not served")

    def _hello(self, session: Session, frame: Hello) -> None:
        app = self.app
        found = app.store.authenticate(frame.token)
        if found is None:
            audit("login_failed", logging.WARNING, peer=session.peer, session=session.id)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "unknown, revoked or disabled token",
                                close=CloseCode.AUTH_FAILED)
        user, token = found
        if len(app.hub.sessions_of(user.uid)) >= app.config.max_sessions_per_user:
            audit("login_refused", logging.WARNING, uid=user.uid, user=user.handle,
                  token_id=token.token_id, peer=session.peer, reason="too many sessions")
            raise ProtocolError(ErrorCode.TOO_MANY_CONNECTIONS,
                                f"at most {app.config.max_sessions_per_user} sessions per user",
                                close=CloseCode.POLICY_VIOLATION)
        session.user = user
        session.token_id = token.token_id
        session.device = frame.device
        self._note_token_seen(token, frame.device)
        app.hub.register(session)
        session.push(event_frame(Welcome(
            re=frame.id, user=user.handle, session=session.id,
            server_time=app.clock.now_ms(), sync=str(app.hub.head),
            limits=self.limits.to_wire(),
            announce_conv=self._announce_conv(user) if user.corp_id else None,
            unread=self._unread(user), quiet=app.quiet.state_frame(user.uid))))
        app.push.online(user.uid)
        audit("login", uid=user.uid, user=user.handle, device=session.device,
              token_id=token.token_id, session=session.id, peer=session.peer)

    def _note_token_seen(self, token: Token, device: str | None) -> None:
        """Record the token's last use for `admin token list`: at most once a minute per
        token, submitted without waiting (nothing is answered from it)."""
        now = self.app.clock.now_ms()
        if not tokens.seen_is_due(token, now):
            return
        name = (device or "")[:tokens.DEVICE_CHARS]
        try:
            self.app.writer.submit(lambda w: w.do(tokens.mark_seen, token.token_id, name, now))
        except StorageError:  # the writer is stopping: a last-seen time is not worth more
            pass

    def _unread(self, user: User) -> tuple[Unread, ...]:
        counts = self.app.store.unread_counts(user.uid, self.app.config.unread_count_cap)
        return tuple(Unread(conv=c, read=r, unread=n, mentions=m or None)
                     for c, r, n, m in counts)

    def _receipts(self, session: Session, frame: Receipts) -> None:
        """Who has and has not read a receipt-requested message, paged."""
        viewer: User = session.user  # type: ignore[assignment]
        state = self.app.store.receipt_state(conv=frame.conv, seq=frame.seq)
        mine = self.app.store.membership(uid=viewer.uid, conv=frame.conv)
        if state is None or mine is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no receipt-requested message {frame.seq}")
        msg, readers, members = state
        if not mine.active and msg.sender != viewer.handle:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only current admins see this")
        conv_kind = self.app.hub.conversation(frame.conv).kind  # type: ignore[union-attr]
        if not receipts.may_view_receipts(viewer, msg.sender, conv_kind, mine.role):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the sender and group admins see this")
        users = {uid: self.app.store.user(uid) for uid, m in members.items()
                 if m.sees(msg.pos) and (uid in readers or m.active)}
        shown = {uid: u for uid, u in users.items() if u is not None and u.handle != msg.sender
                 and self.app.hub.read_visible(u, viewer)}
        read = sorted((readers[uid], shown[uid].handle) for uid in shown if uid in readers)
        unread = sorted(u.handle for uid, u in shown.items() if uid not in readers)
        start = frame.offset or 0
        limit = self._page_limit(frame.limit)
        session.push(event_frame(ReceiptsReply(
            re=frame.id, conv=frame.conv, seq=frame.seq,
            read=tuple(Reader(user=h, time=t) for t, h in read[start:start + limit]),
            unread=tuple(unread[start:start + limit]), read_count=len(read),
            unread_count=len(unread), more=start + limit < max(len(read), len(unread)))))

    def _submit_for(self, session: Session):  # noqa: ANN202
        return lambda op, context: self._submit(session, op, context)

    def _submit(self, session: Session, op, context: object) -> None:  # noqa: ANN001
        """Hand a write to the group-commit writer; the hub answers it after commit."""
        session.inflight += 1
        try:
            self.app.writer.submit(op, context)
        except StorageError:
            session.inflight -= 1
            raise

    def _send(self, session: Session, frame: Send | Announce) -> None:
        limits = self.limits
        if not 0 < len(frame.client_msg_id) <= limits.max_client_msg_id_chars:
            raise _bad(f"client_msg_id must have 1 to {limits.max_client_msg_id_chars} characters")
        if not frame.text:
            raise _bad("text is empty")
        if len(frame.text) > limits.max_text_chars:
            raise ProtocolError(ErrorCode.TEXT_TOO_LONG,
                                f"text is longer than {limits.max_text_chars} characters")
        sender: User = session.user  # type: ignore[assignment]
        now = self.app.clock.now_ms()
        cmid, text, receipt = frame.client_msg_id, frame.text, bool(frame.receipt)
        if isinstance(frame, Announce):
            board = self._announce_conv(sender)

            def op(w, urgent=False):  # noqa: ANN001, ANN202 - runs on the writer thread
                return groups.announce(w, sender, board, cmid, text, now, receipt, urgent)
            if frame.urgent:
                op = self._urgent(sender, op, cmid, now)
            self._submit(session, op, SendContext(session, frame.id))
            return
        if (frame.to is None) == (frame.conv is None):
            raise _bad("give exactly one of 'to' and 'conv'")
        try:  # a repeat is recognised before its destination is checked (protocol.md 7.4)
            kind, recipient = self._destination(sender, frame)
        except ProtocolError:
            if self._answer_repeat(session, frame):
                return  # a retry of a message stored before the refusal applied
            raise
        if kind == GROUP:
            conv = frame.conv

            def op(w, urgent=False):  # noqa: ANN001, ANN202 - runs on the writer thread
                return groups.send(w, sender, conv, cmid, text, now, receipt, urgent)
        else:
            assert recipient is not None
            archive = archive_corp(sender, recipient)

            def op(w, urgent=False):  # noqa: ANN001, ANN202 - runs on the writer thread
                return w.send_direct(sender, recipient, cmid, text, now, receipt, archive,
                                     urgent)
        if frame.mentions or frame.reply_to is not None:  # 1.5
            op = everyday.with_extras(self._everyday, sender, frame, op)
        if frame.urgent:
            op = self._urgent(sender, op, cmid, now)
        self._submit(session, op, SendContext(session, frame.id))

    def _destination(self, sender: User, frame: Send) -> tuple[str | None, User | None]:
        """(kind, direct recipient) of a send's `to`/`conv`, or its refusal."""
        kind = self._conv_kind(sender, frame.conv) if frame.conv is not None else None
        if kind == ANNOUNCE:
            raise ProtocolError(ErrorCode.FORBIDDEN, "the notice board is read-only: use announce")
        if kind == GROUP:
            return kind, None
        recipient = self._recipient(sender, frame)
        self._may_message(sender, recipient)
        return kind, recipient

    def _urgent(self, sender: User, op, cmid: str, now: int):  # noqa: ANN001, ANN202
        """Wrap a send so it also spends the sender's daily urgent quota, in its txn."""
        per_day, day = self.app.config.urgent_per_day, day_number(now)
        _enforce(may_mark_urgent(sender))

        def urgent_op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
            if w.find_sent(uid=sender.uid, client_msg_id=cmid) is not None:
                return op(w, urgent=True)  # a repeat: its original ack, no quota
            used = w.do(tables.quota_used, "urgent", sender.uid, day)
            verdict = may_send_urgent(sender, used, per_day)
            if not verdict.allowed:
                return Refused(verdict.code, verdict.reason,
                               retry_after_ms=until_next_day_ms(now))
            result = op(w, urgent=True)
            if not isinstance(result, Refused):  # only a stored message spends the quota
                w.do(tables.use_quota, "urgent", sender.uid, day)
            return result
        return urgent_op

    def _answer_repeat(self, session: Session, frame: Send | Announce) -> bool:
        """A refused send that repeats a stored one gets its original ack instead.

        (Ordinary repeats are answered by the writer, inside its transaction.)
        """
        old = self.app.store.sent_message(uid=session.user.uid, client_msg_id=frame.client_msg_id)  # type: ignore[union-attr]
        if old is None:
            return False
        session.push(event_frame(Ack(re=frame.id, conv=old.conv, seq=old.seq, pos=old.pos,
                                     time=old.time_ms, client_msg_id=old.client_msg_id,
                                     duplicate=True)))
        return True

    def _may_message(self, sender: User, recipient: User) -> None:
        # `tied` looks up only the tie the bridge asks about: none between colleagues
        _enforce(may_message_directly(sender, recipient,
                                      tied=tied(self.app.store, sender, recipient)))

    def _announce_conv(self, user: User) -> int:
        corp = self.app.store.corp(user.corp_id) if user.corp_id else None
        if corp is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only corp admins post announcements")
        return corp.announce_conv

    def _conv_kind(self, user: User, conv: int) -> str:
        """The kind of a conversation the user is a current member of."""
        state = self.app.hub.conversation(conv)
        membership = state.members.get(user.uid) if state else None
        if state is None or membership is None or not membership.active:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
        return state.kind

    def _recipient(self, sender: User, frame: Send) -> User:
        store = self.app.store
        if frame.to is not None:
            recipient = store.user_by_handle(frame.to)
            if recipient is None:
                raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {frame.to!r}")
            return recipient
        peer = store.direct_peer(uid=sender.uid, conv=frame.conv)  # type: ignore[arg-type]
        if peer is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
        return peer

    def _users(self, handles: tuple[str, ...], *, disabled_ok: bool = False) -> list[User]:
        if len(handles) > self.app.config.max_group_members:
            raise _bad(f"at most {self.app.config.max_group_members} users per request")
        users = []
        for handle in handles:
            user = self.app.store.user_by_handle(handle)
            if user is None or (user.disabled and not disabled_ok):
                raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {handle!r}")
            users.append(user)
        return users

    def _change_op(self, actor: User, frame: Frame):  # noqa: ANN202 - a store WriteOp
        """The writer operation for a group change or a recall (checked again in the txn)."""
        now, caps = self.app.clock.now_ms(), self.caps
        match frame:
            case GroupCreate(name=name, members=members):
                _enforce(may_create_group(actor))
                self._may_invite(actor, users := self._users(members))
                return lambda w: groups.create(w, actor, name, users, now, caps)
            case GroupAdd(conv=conv, members=members):
                self._may_invite(actor, users := self._users(members))
                return lambda w: groups.add(w, actor, conv, users, now, caps)
            case GroupRemove(conv=conv, members=members):
                users = self._users(members, disabled_ok=True)  # people who left, too
                return lambda w: groups.remove(w, actor, conv, users, now)
            case GroupLeave(conv=conv):
                return lambda w: groups.leave(w, actor, conv, now)
            case GroupRename(conv=conv, name=name):
                return lambda w: groups.rename(w, actor, conv, name, now)
            case GroupSetRole(conv=conv, user=handle, role=role):
                (target,) = self._users((handle,))
                return lambda w: groups.set_role(w, actor, conv, target, role, now)
            case GroupTransfer(conv=conv, to=handle):
                (target,) = self._users((handle,))
                return lambda w: groups.transfer(w, actor, conv, target, now)
            case GroupDissolve(conv=conv):
                return lambda w: groups.dissolve(w, actor, conv, now)
            case Recall(conv=conv, seq=seq):
                return lambda w: groups.recall(w, actor, conv, seq, now, caps)
        raise AssertionError(frame)

    def _may_invite(self, actor: User, users: list[User]) -> None:
        """The bridge's invite rule for each user, in order; the first refusal is sent."""
        for user in users:
            _enforce(may_invite(actor, user, contact=tied(self.app.store, actor, user)))

    def _group_info(self, session: Session, frame: GroupInfo) -> None:
        user: User = session.user  # type: ignore[assignment]
        if self._conv_kind(user, frame.conv) != GROUP:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"{frame.conv} is not a group")
        state = self.app.store.conversation_state(frame.conv)
        members = self.app.store.group_members(frame.conv)
        conversation = state[0]  # type: ignore[index]
        looker = People(self.app.store)
        session.push(event_frame(GroupInfoReply(
            re=frame.id, conv=frame.conv, name=conversation.name, created=conversation.created_ms,
            members=tuple(Member(user=u.handle, role=m.role, external=m.consumer,
                                 display=looker.badge(u, user.realm).display)
                          for u, m in members))))

    def _shown(self, viewer: User, msgs: list) -> tuple:  # noqa: ANN001 - store Messages
        """Messages as this viewer sees them (badges across realms; 1.5's fields)."""
        return everyday.shown(self.app.store, viewer, msgs)

    def _conversations(self, session: Session, frame: Conversations) -> None:
        user: User = session.user  # type: ignore[assignment]
        rows = self.app.store.user_conversations(user.uid)[:self._page_limit(frame.limit)]
        summaries = []
        for conversation, membership, seq, pos, read in rows:
            peer = None
            if conversation.kind == DIRECT:
                other = self.app.store.direct_peer(uid=user.uid, conv=conversation.conv)
                peer = other.handle if other else None
            summaries.append(ConvSummary(
                conv=conversation.conv, kind=conversation.kind, name=conversation.name or peer
                or "", last_seq=seq, last_pos=pos, read=read, peer=peer,
                left=None if membership.active else True,
                **everyday.conv_marks(self.app.store, self.app.hub, user.uid, conversation.conv,
                                      conversation.kind)))
        session.push(event_frame(ConversationsReply(re=frame.id, convs=tuple(summaries))))

    def _group_list(self, session: Session, frame: GroupList) -> None:
        found = self.app.store.user_groups(session.user.uid)  # type: ignore[union-attr]
        session.push(event_frame(GroupListReply(re=frame.id, groups=tuple(
            GroupSummary(conv=c.conv, name=c.name, role=m.role, members=c.members)
            for c, m in found))))

    def _typing_event(self, session: Session, frame: Typing) -> None:
        uid = session.user.uid  # type: ignore[union-attr]
        bucket = self._typing.get(uid)
        if bucket is None:
            rate = self.app.config.typing_per_s
            bucket = self._typing[uid] = TokenBucket(rate, 3, self.app.clock)
        if not bucket.take():
            return  # typing is a hint: extra ones are dropped quietly
        if not self.app.hub.typing(session, frame.conv):
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")

    def _sync(self, session: Session, frame: Sync) -> None:
        since = frame.since
        if not (since.isascii() and since.isdigit()) or int(since) > self.app.store.head_pos():
            raise ProtocolError(ErrorCode.BAD_SYNC_TOKEN,
                                f"not a valid sync token: {frame.since!r}")
        limit = self._page_limit(frame.limit)
        msgs, events, token, more = self.app.store.sync_stream(
            uid=session.user.uid, since=int(frame.since), limit=limit,  # type: ignore[union-attr]
            max_bytes=self.app.config.page_bytes)
        session.push(event_frame(SyncPage(
            re=frame.id, msgs=self._shown(session.user, msgs), sync=str(token), more=more,
            unread=None if more else self._unread(session.user),  # type: ignore[arg-type]
            **everyday.sync_events(events))))

    def _history(self, session: Session, frame: History) -> None:
        page = self.app.store.history_page(uid=session.user.uid, conv=frame.conv,  # type: ignore[union-attr]
                                           before=frame.before, limit=self._page_limit(frame.limit),
                                           max_bytes=self.app.config.page_bytes)
        if page is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
        msgs, more = page
        session.push(event_frame(HistoryPage(
            re=frame.id, conv=frame.conv, msgs=self._shown(session.user, msgs), more=more)))

    def _page_limit(self, asked: int | None) -> int:
        if asked == 0:
            raise _bad("limit must be at least 1")
        return min(asked or self.limits.default_page, self.limits.max_page)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def _enforce(verdict: Verdict) -> None:
    """A bridge refusal becomes the request's error, its reason the message."""
    if not verdict.allowed:
        raise ProtocolError(ErrorCode(verdict.code), verdict.reason)
