"""Who is connected, and fan-out of each committed batch.

The writer thread hands every committed batch to `on_batch` on the event
loop. For each operation in commit order it answers the requester (ack or
error) and builds each new message's frame once, then appends those same
bytes to every live session of every member. Each session then gets all of
the batch's frames in one `push_many` — one write for the lot. No await
happens anywhere on this path, so one slow receiver cannot hold up others.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import trio

from corpchat.protocol import Ack, CloseCode, Error, ErrorCode, Msg
from corpchat.store import Message, Pending, Refused, StorageError, Store

from .session import Session
from .wsframes import event_frame


@dataclass(slots=True)
class SendContext:
    """What fan-out needs to know about a submitted send."""

    session: Session
    request_id: int
    members: tuple[int, ...]


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
    return Msg(conv=msg.conv, seq=msg.seq, pos=msg.pos, sender=msg.sender, time=msg.time_ms,
               text=msg.text, client_msg_id=msg.client_msg_id, to=msg.to)


def error_frame(code: str, message: str, request_id: int | None = None,
                retry_after_ms: int | None = None) -> bytes:
    return event_frame(Error(code=code, message=message, re=request_id,
                             retry_after_ms=retry_after_ms))


def failure_frame(result: object, request_id: int | None) -> bytes | None:
    """The error frame answering a failed write, or None if it succeeded."""
    if isinstance(result, Refused):
        return error_frame(result.code, result.message, request_id)
    if isinstance(result, StorageError):
        return error_frame(ErrorCode.STORAGE_UNAVAILABLE, "the write could not be stored",
                           request_id)
    if isinstance(result, BaseException):
        return error_frame(ErrorCode.INTERNAL_ERROR, "internal error", request_id)
    return None


class Hub:
    def __init__(self, store: Store) -> None:
        self.sessions: dict[int, list[Session]] = defaultdict(list)
        self.connections = 0
        self.head = store.head_pos()  # the last position fanned out
        self.stats = HubStats()

    def register(self, session: Session) -> None:
        self.sessions[session.user.uid].append(session)  # type: ignore[union-attr]

    def unregister(self, session: Session) -> None:
        if session.user is None:
            return
        peers = self.sessions.get(session.user.uid)
        if peers and session in peers:
            peers.remove(session)
            if not peers:
                del self.sessions[session.user.uid]

    def sessions_of(self, uid: int) -> list[Session]:
        return self.sessions.get(uid, [])

    def on_batch(self, batch: list[Pending]) -> None:
        """Answer and fan out one committed batch (event-loop thread, no await)."""
        out: dict[Session, list[bytes]] = defaultdict(list)
        for pending in batch:
            context = pending.context
            if isinstance(context, SendContext):
                self._on_send(context, pending.result, out)
            elif isinstance(context, Waiter):
                context.set(pending.result)
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
            client_msg_id=msg.client_msg_id, duplicate=duplicate)))
        if duplicate:
            return
        self.stats.messages += 1
        self.head = msg.pos
        frame = event_frame(message_event(msg))
        delivered = 0
        for uid in ctx.members:
            for session in self.sessions.get(uid, ()):
                if session is not origin:
                    out[session].append(frame)
                    delivered += 1
        self.stats.deliveries += delivered
