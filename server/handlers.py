"""Requests after decoding: plain synchronous functions, no I/O of their own.

A handler answers with frames pushed to the session, or submits a write to
the group-commit writer; the writer's batch is answered by the hub after
the commit. Every refusal is an `error` frame with a code from the table in
docs/protocol.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from corpchat.bridge import may_message_directly
from corpchat.protocol import (
    CloseCode, ErrorCode, Frame, Hello, History, HistoryPage, Ping, Pong, ProtocolError, Send,
    Sync, SyncPage, Welcome, decode_client_frame,
)
from corpchat.store import StorageError, User

from .hub import SendContext, error_frame, message_event
from .session import Session
from .wsframes import event_frame

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("corpchat.server")


class RequestHandler:
    def __init__(self, app: App) -> None:
        self.app = app
        self.limits = app.config.limits

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
            if not isinstance(frame, Hello):
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "send hello first",
                                    close=CloseCode.AUTH_FAILED)
            self._hello(session, frame)
            return
        match frame:
            case Send():
                self._send(session, frame)
            case Sync():
                self._sync(session, frame)
            case History():
                self._history(session, frame)
            case Ping():
                session.push(event_frame(Pong(re=frame.id, server_time=self.app.clock.now_ms())))
            case Hello():
                raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "already authenticated")
            case _:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{frame.TYPE} is not served")

    def _hello(self, session: Session, frame: Hello) -> None:
        app = self.app
        found = app.store.authenticate(frame.token)
        if found is None:
            log.warning("auth failed from %s", session.peer)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "unknown, revoked or disabled token",
                                close=CloseCode.AUTH_FAILED)
        user, token_id = found
        if len(app.hub.sessions_of(user.uid)) >= app.config.max_sessions_per_user:
            raise ProtocolError(ErrorCode.TOO_MANY_CONNECTIONS,
                                f"at most {app.config.max_sessions_per_user} sessions per user",
                                close=CloseCode.POLICY_VIOLATION)
        session.user = user
        session.token_id = token_id
        session.device = frame.device
        app.hub.register(session)
        session.push(event_frame(Welcome(
            re=frame.id, user=user.handle, session=session.id,
            server_time=app.clock.now_ms(), sync=str(app.hub.head),
            limits=self.limits.to_wire())))

    def _send(self, session: Session, frame: Send) -> None:
        limits = self.limits
        if not 0 < len(frame.client_msg_id) <= limits.max_client_msg_id_chars:
            raise _bad(f"client_msg_id must have 1 to {limits.max_client_msg_id_chars} characters")
        if not frame.text:
            raise _bad("text is empty")
        if len(frame.text) > limits.max_text_chars:
            raise ProtocolError(ErrorCode.TEXT_TOO_LONG,
                                f"text is longer than {limits.max_text_chars} characters")
        sender: User = session.user  # type: ignore[assignment]
        recipient = self._recipient(sender, frame)
        verdict = may_message_directly(sender, recipient)
        if not verdict.allowed:
            raise ProtocolError(ErrorCode(verdict.code), verdict.reason)
        now = self.app.clock.now_ms()
        cmid, text = frame.client_msg_id, frame.text

        def op(w):  # runs on the writer thread, inside the batch transaction
            return w.send_direct(sender, recipient, cmid, text, now)

        session.inflight += 1
        try:
            self.app.writer.submit(op, SendContext(session, frame.id, (sender.uid, recipient.uid)))
        except StorageError:
            session.inflight -= 1
            raise

    def _recipient(self, sender: User, frame: Send) -> User:
        store = self.app.store
        if (frame.to is None) == (frame.conv is None):
            raise _bad("give exactly one of 'to' and 'conv'")
        if frame.to is not None:
            recipient = store.user_by_handle(frame.to)
            if recipient is None:
                raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {frame.to!r}")
            return recipient
        peer = store.direct_peer(sender.uid, frame.conv)  # type: ignore[arg-type]
        if peer is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
        return peer

    def _sync(self, session: Session, frame: Sync) -> None:
        if not frame.since.isdigit() or int(frame.since) > self.app.hub.head:
            raise ProtocolError(ErrorCode.BAD_SYNC_TOKEN, f"not a valid sync token: {frame.since!r}")
        limit = self._page_limit(frame.limit)
        msgs, token, more = self.app.store.sync_page(
            session.user.uid, int(frame.since), limit, self.app.config.max_page_bytes)  # type: ignore[union-attr]
        session.push(event_frame(SyncPage(
            re=frame.id, msgs=tuple(map(message_event, msgs)), sync=str(token), more=more)))

    def _history(self, session: Session, frame: History) -> None:
        page = self.app.store.history_page(
            session.user.uid, frame.conv, frame.before,  # type: ignore[union-attr]
            self._page_limit(frame.limit), self.app.config.max_page_bytes)
        if page is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
        msgs, more = page
        session.push(event_frame(HistoryPage(
            re=frame.id, conv=frame.conv, msgs=tuple(map(message_event, msgs)), more=more)))

    def _page_limit(self, asked: int | None) -> int:
        if asked == 0:
            raise _bad("limit must be at least 1")
        return min(asked or self.limits.default_page, self.limits.max_page)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)
