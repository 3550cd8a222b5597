"""Requests about group robots (revision 1.7): robot.add, robot.remove, robot.list.

The webhook itself is an HTTP route (server/api/robots.py). A new robot's key
is drawn here and only its digest goes to the writer; the URL with the key is
in the reply and nowhere else (never logged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corpchat.protocol import (
    ErrorCode,
    Frame,
    Ok,
    ProtocolError,
    RobotAdd,
    RobotAdded,
    RobotInfo,
    RobotList,
    RobotListReply,
    RobotRemove,
)
from corpchat.protocol.clock import Clock
from corpchat.store import GROUP, Refused, Store, User
from corpchat.store import robots as tables

from .api import robots
from .api.settings import PlatformCaps
from .bridge_ops import Notices
from .hub import NoticeContext
from .session import Session
from .wsframes import event_frame

ROBOT_FRAMES = (RobotAdd, RobotRemove, RobotList)


@dataclass(frozen=True, slots=True)
class RobotServices:
    """What the robot requests need: reads, the time, the caps, the webhook's base URL."""

    store: Store
    clock: Clock
    caps: PlatformCaps
    base_url: str  # e.g. https://chat.acme.example (PlatformCaps.public_url or the listener)
    quota: robots.RobotQuota


def handle(s: RobotServices, session: Session, frame: Frame, submit: Any) -> None:
    user: User = session.user  # type: ignore[assignment]
    context = NoticeContext(session, frame.id)  # type: ignore[attr-defined]
    caps, now = s.caps, s.clock.now_ms()
    match frame:
        case RobotAdd(conv=conv, name=name):
            name = name.strip()
            if not 0 < len(name) <= robots.MAX_NAME_CHARS:
                raise ProtocolError(ErrorCode.BAD_REQUEST,
                                    f"a robot's name has 1 to {robots.MAX_NAME_CHARS} characters")
            key, digest = robots.new_key()
            url = robots.robot_url(s.base_url, key)
            submit(lambda w: _added(robots.add_robot(w, user, conv, name, digest, now,
                                                     caps.robots_per_group), frame.id, url),
                   context)
        case RobotRemove(conv=conv, robot=robot_id):
            quota = s.quota
            submit(lambda w: _removed(robots.remove_robot(w, user, conv, robot_id), frame.id,
                                      quota), context)
        case RobotList(conv=conv):
            session.push(event_frame(_listing(s.store, user, conv, frame.id)))


def _added(result: tables.Robot | Refused, request_id: int, url: str) -> Notices | Refused:
    if isinstance(result, Refused):
        return result
    return Notices(reply=RobotAdded(re=request_id, conv=result.conv, robot=result.robot_id,
                                    name=result.name, url=url))


def _removed(result: tables.Robot | Refused, request_id: int,
             quota: robots.RobotQuota) -> Notices | Refused:
    if isinstance(result, Refused):
        return result
    robot_id = result.robot_id
    return Notices(reply=Ok(re=request_id), then=lambda: quota.forget(robot_id))


def _listing(store: Store, user: User, conv: int, request_id: int) -> RobotListReply:
    found = store.conversation_state(conv)
    mine = found[1].get(user.uid) if found is not None else None
    if found is None or found[0].kind != GROUP or mine is None or not mine.active:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of group {conv}")
    bots = store.read(tables.conv_robots, conv)
    return RobotListReply(re=request_id, conv=conv, robots=tuple(
        RobotInfo(robot=b.robot_id, name=b.name, by=b.by, created=b.created_ms) for b in bots))
