"""Read state: `read` moves the reader's cursor (and records receipts), `remind`
nudges those who have not read a receipt-requested message, `receipts` lists
who has and has not read one. The writes are in ops/receipts.py.
"""

from __future__ import annotations

from dataclasses import replace

from corpchat.protocol import (
    ErrorCode,
    ProtocolError,
    Read,
    Reader,
    ReadEvent,
    Receipts,
    ReceiptsReply,
    Refusal,
    Remind,
    Reminder,
)

from ..hub import Hub, Out, RequestContext
from ..ops import receipts as ops
from ..ops.results import ReadChange, ReminderSent
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame, ok_frame
from .common import page_limit

routes = Routes()


class ReadContext(RequestContext):
    """A submitted `read`: answered with `ok`, then the cursor and receipt events.

    The hot path of read receipts (one per read): a pre-encoded `ok`, the cursor
    to the reader's other devices only if there are any, and the reader queued
    for the senders' coalesced `receipt` events (one per message per batch)."""

    __slots__ = ()

    def answer(self, hub: Hub, result: ReadChange | Refusal, out: Out) -> None:
        origin = self.session
        origin.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        out[origin].append(ok_frame(self.request_id, result.conv, result.seq))
        user = origin.authed_user
        if result.moved:
            devices = hub.sessions.get(user.uid, ())
            if len(devices) > 1:
                frame = event_frame(ReadEvent(conv=result.conv, seq=result.seq))
                for session in devices:
                    if session is not origin:
                        out[session].append(frame)
        if result.receipts:
            entry = (user, Reader(user=user.handle, time=result.time_ms))
            conv, receipts = result.conv, hub.pending_receipts
            for seq, sender_uid in result.receipts:
                receipts[(sender_uid, conv, seq)].append(entry)


class RemindContext(RequestContext):
    """A submitted `remind`: answered with `ok`; the reminder is silent for those resting."""

    __slots__ = ()

    def answer(self, hub: Hub, result: ReminderSent | Refusal, out: Out) -> None:
        origin = self.session
        origin.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        out[origin].append(ok_frame(self.request_id, result.conv, result.seq))
        reminder = Reminder(conv=result.conv, seq=result.seq,
                            sender=origin.authed_user.handle)
        frames = {False: event_frame(reminder),
                  True: event_frame(replace(reminder, silent=True))}
        for uid in result.targets:
            silent = uid in hub.quiet.resting
            sessions = hub.sessions.get(uid)
            if not sessions and not silent and hub.push.wanted(uid):
                hub.push.reminder(uid, result.conv, reminder.sender)
            for session in sessions or ():
                out[session].append(frames[silent])


@routes.handles(Read)
def read(s: Services, session: Session, frame: Read) -> None:
    reader, now, conv, seq = session.authed_user, s.clock.now_ms(), frame.conv, frame.seq
    s.submit(session, lambda w: ops.mark_read(w, reader, conv, seq, now),
             ReadContext(session, frame.id))


@routes.handles(Remind)
def remind(s: Services, session: Session, frame: Remind) -> None:
    actor, now, conv, seq = session.authed_user, s.clock.now_ms(), frame.conv, frame.seq
    interval = s.config.remind_interval_s * 1000
    s.submit(session, lambda w: ops.remind(w, actor, conv, seq, now, interval),
             RemindContext(session, frame.id))


@routes.handles(Receipts)
def receipts(s: Services, session: Session, frame: Receipts) -> None:
    """Who has and has not read a receipt-requested message, paged."""
    viewer = session.authed_user
    state = s.store.receipt_state(conv=frame.conv, seq=frame.seq)
    mine = s.store.membership(uid=viewer.uid, conv=frame.conv)
    if state is None or mine is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no receipt-requested message {frame.seq}")
    msg, readers, members = state
    if not mine.active and msg.sender != viewer.handle:
        raise ProtocolError(ErrorCode.FORBIDDEN, "only current admins see this")
    conversation = s.hub.conversation(frame.conv)
    assert conversation is not None  # the viewer's membership was found above
    conv_kind = conversation.kind
    if not ops.may_view_receipts(viewer, msg.sender, conv_kind, mine.role):
        raise ProtocolError(ErrorCode.FORBIDDEN, "only the sender and group admins see this")
    users = {uid: s.store.user(uid) for uid, m in members.items()
             if m.sees(msg.pos) and (uid in readers or m.active)}
    shown = {uid: u for uid, u in users.items() if u is not None and u.handle != msg.sender
             and s.hub.read_visible(u, viewer)}
    read = sorted((readers[uid], shown[uid].handle) for uid in shown if uid in readers)
    unread = sorted(u.handle for uid, u in shown.items() if uid not in readers)
    start = frame.offset or 0
    limit = page_limit(s.config.limits, frame.limit)
    session.push(event_frame(ReceiptsReply(
        re=frame.id, conv=frame.conv, seq=frame.seq,
        read=tuple(Reader(user=h, time=t) for t, h in read[start:start + limit]),
        unread=tuple(unread[start:start + limit]), read_count=len(read),
        unread_count=len(unread), more=start + limit < max(len(read), len(unread)))))
