"""Requests about group robots (revision 1.7): robot.add, robot.remove, robot.list.

The webhook itself is an HTTP route (server/api/robots.py). A new robot's key
is drawn here and only its digest goes to the writer; the URL with the key is
in the reply and nowhere else (never logged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from corpchat.protocol import (
    ErrorCode,
    Ok,
    ProtocolError,
    RobotAdd,
    RobotAdded,
    RobotInfo,
    RobotList,
    RobotListReply,
    RobotRemove,
)
from corpchat.store import GROUP, Refused, Store, User
from corpchat.store import robots as tables

from ..api import robots
from ..hub import NoticeContext
from ..ops.results import Notices
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame

routes = Routes()


@dataclass(slots=True)
class Robots(Services):
    quota: robots.RobotQuota
    base_url: Callable[[], str]  # PlatformCaps.public_url, or the listener's http://HOST:PORT


@routes.handles(RobotAdd)
def robot_add(s: Robots, session: Session, frame: RobotAdd) -> None:
    user = session.authed_user
    name, conv, caps = frame.name.strip(), frame.conv, s.config.platform
    if not 0 < len(name) <= robots.MAX_NAME_CHARS:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"a robot's name has 1 to {robots.MAX_NAME_CHARS} characters")
    key, digest = robots.new_key()
    url = robots.robot_url(s.base_url(), key)
    now, request_id = s.clock.now_ms(), frame.id
    s.submit(session, lambda w: _added(robots.add_robot(w, user, conv, name, digest, now,
                                                        caps.robots_per_group), request_id, url),
             NoticeContext(session, request_id))


@routes.handles(RobotRemove)
def robot_remove(s: Robots, session: Session, frame: RobotRemove) -> None:
    user = session.authed_user
    conv, robot_id, quota, request_id = frame.conv, frame.robot, s.quota, frame.id
    s.submit(session, lambda w: _removed(robots.remove_robot(w, user, conv, robot_id),
                                         request_id, quota),
             NoticeContext(session, request_id))


@routes.handles(RobotList)
def robot_list(s: Robots, session: Session, frame: RobotList) -> None:
    user = session.authed_user
    session.push(event_frame(_listing(s.store, user, frame.conv, frame.id)))


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
