"""Requests about quiet hours, presence and push devices.

A settings write changes the in-memory state that mirrors it (who rests,
who has a device) only after its commit (ops/settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from corpchat.bridge import may_look_up
from corpchat.protocol import (
    DeviceRegister,
    DeviceUnregister,
    ErrorCode,
    ProtocolError,
    QuietBreak,
    QuietResume,
    QuietSet,
    UserInfo,
    UserInfoReply,
)
from corpchat.protocol.quiet import Schedule
from corpchat.store import WriteOp

from ..hub import NoticeContext
from ..ops import settings as ops
from ..people import People
from ..push import PushGateway
from ..quiet import MAX_BREAK_MS, QuietHours
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame
from .common import bad as _bad

routes = Routes()


@dataclass(slots=True)
class Quiet(Services):
    quiet: QuietHours
    push: PushGateway


def _submit(s: Services, session: Session, request_id: int, op: WriteOp) -> None:
    s.submit(session, op, NoticeContext(session, request_id))


@routes.handles(QuietSet)
def quiet_set(s: Quiet, session: Session, frame: QuietSet) -> None:
    uid, quiet = session.authed_user.uid, s.quiet
    if frame.inherit:
        _submit(s, session, frame.id, lambda w: ops.set_schedule(
            w, uid, None, lambda: quiet.set_schedule(uid, None)))
        return
    schedule = _schedule(frame)
    wire = schedule.to_wire()
    _submit(s, session, frame.id, lambda w: ops.set_schedule(
        w, uid, wire, lambda: quiet.set_schedule(uid, schedule)))


@routes.handles(QuietBreak)
def quiet_break(s: Quiet, session: Session, frame: QuietBreak) -> None:
    uid, quiet = session.authed_user.uid, s.quiet
    until = _break_until(s.clock.now_ms(), frame)
    _submit(s, session, frame.id, lambda w: ops.set_break(
        w, uid, until, lambda: quiet.set_break(uid, until)))


@routes.handles(QuietResume)
def quiet_resume(s: Quiet, session: Session, frame: QuietResume) -> None:
    uid, quiet = session.authed_user.uid, s.quiet
    _submit(s, session, frame.id, lambda w: ops.set_break(
        w, uid, None, lambda: quiet.set_break(uid, None)))


@routes.handles(DeviceRegister)
def device_register(s: Quiet, session: Session, frame: DeviceRegister) -> None:
    uid, platform, token = session.authed_user.uid, frame.platform, frame.push_token
    if not 0 < len(platform) <= 32 or not 0 < len(token) <= 4096:
        raise _bad("platform has 1-32 characters and push_token 1-4096")
    now, devices = s.clock.now_ms(), s.push.with_devices
    _submit(s, session, frame.id,
            lambda w: ops.register_device(w, uid, platform, token, now, devices))


@routes.handles(DeviceUnregister)
def device_unregister(s: Quiet, session: Session, frame: DeviceUnregister) -> None:
    uid, token = session.authed_user.uid, frame.push_token
    if not 0 < len(token) <= 4096:
        raise _bad("push_token has 1-4096 characters")
    devices = s.push.with_devices
    _submit(s, session, frame.id, lambda w: ops.drop_device(w, uid, token, devices))


@routes.handles(UserInfo)
def user_info(s: Quiet, session: Session, frame: UserInfo) -> None:
    viewer = session.authed_user
    handle = frame.user
    person = s.store.user_by_handle(handle)
    if person is None or not may_look_up(
            viewer, person, peers=lambda: person.uid in s.store.peers(viewer.uid)).allowed:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {handle!r}")
    until = s.quiet.resting.get(person.uid)
    session.push(event_frame(UserInfoReply(
        re=frame.id, profile=People(s.store).profile(person, viewer),
        status="resting" if until else "available", until=until)))


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
    if frame.minutes is not None:
        until = now + frame.minutes * 60_000
    else:
        assert frame.until is not None  # exactly one of the two, checked above
        until = frame.until
    if not now < until <= now + MAX_BREAK_MS:
        raise _bad("a break ends in the future, within 7 days")
    return until
