"""Requests about quiet hours, presence and push devices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corpchat.bridge import may_look_up
from corpchat.protocol import (
    DeviceRegister,
    DeviceUnregister,
    ErrorCode,
    Frame,
    ProtocolError,
    QuietBreak,
    QuietResume,
    QuietSet,
    UserInfo,
    UserInfoReply,
)
from corpchat.protocol.quiet import Schedule
from corpchat.store import User

from .hub import NoticeContext
from .ops import settings as settings_ops
from .people import People
from .quiet import MAX_BREAK_MS
from .session import Session
from .wsframes import event_frame

if TYPE_CHECKING:
    from .app import App

QUIET_FRAMES = (QuietSet, QuietBreak, QuietResume, UserInfo, DeviceRegister, DeviceUnregister)


def handle(app: App, session: Session, frame: Frame, submit) -> None:  # noqa: ANN001
    user: User = session.user  # type: ignore[assignment]
    context = NoticeContext(session, frame.id)  # type: ignore[attr-defined]
    quiet, uid = app.quiet, user.uid
    match frame:
        case QuietSet(inherit=True):
            submit(lambda w: settings_ops.set_schedule(
                w, uid, None, lambda: quiet.set_schedule(uid, None)), context)
        case QuietSet():
            schedule = _schedule(frame)
            wire = schedule.to_wire()
            submit(lambda w: settings_ops.set_schedule(
                w, uid, wire, lambda: quiet.set_schedule(uid, schedule)), context)
        case QuietBreak():
            until = _break_until(app.clock.now_ms(), frame)
            submit(lambda w: settings_ops.set_break(
                w, uid, until, lambda: quiet.set_break(uid, until)), context)
        case QuietResume():
            submit(lambda w: settings_ops.set_break(
                w, uid, None, lambda: quiet.set_break(uid, None)), context)
        case DeviceRegister(platform=platform, push_token=token):
            if not 0 < len(platform) <= 32 or not 0 < len(token) <= 4096:
                raise _bad("platform has 1-32 characters and push_token 1-4096")
            now = app.clock.now_ms()
            devices = app.push.with_devices
            submit(lambda w: settings_ops.register_device(w, uid, platform, token, now, devices),
                   context)
        case DeviceUnregister(push_token=token):
            if not 0 < len(token) <= 4096:
                raise _bad("push_token has 1-4096 characters")
            devices = app.push.with_devices
            submit(lambda w: settings_ops.drop_device(w, uid, token, devices), context)
        case UserInfo(user=handle):
            _user_info(app, session, user, frame.id, handle)


def _schedule(frame: QuietSet) -> Schedule:
    try:
        return Schedule.from_wire({
            "timezone": frame.timezone or "UTC",
            "enabled": True if frame.enabled is None else frame.enabled,
            "windows": [{"day": w.day, "start": w.start, "end": w.end}
                        for w in frame.windows or ()],
        })
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _break_until(now: int, frame: QuietBreak) -> int:
    if (frame.minutes is None) == (frame.until is None):
        raise _bad("give exactly one of 'minutes' and 'until'")
    until = now + frame.minutes * 60_000 if frame.minutes is not None else frame.until
    if not now < until <= now + MAX_BREAK_MS:  # type: ignore[operator]
        raise _bad("a break ends in the future, within 7 days")
    return until  # type: ignore[return-value]


def _user_info(app: App, session: Session, viewer: User, request_id: int, handle: str) -> None:
    person = app.store.user_by_handle(handle)
    if person is None or not may_look_up(
            viewer, person, peers=lambda: person.uid in app.store.peers(viewer.uid)).allowed:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {handle!r}")
    until = app.quiet.resting.get(person.uid)
    session.push(event_frame(UserInfoReply(
        re=request_id, profile=People(app.store).profile(person, viewer),
        status="resting" if until else "available", until=until)))


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)
