"""Group robots (revision 1.7): a group's owner and admins add robots, each with a
webhook URL that the company's systems POST messages to (docs/api.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame

__all__ = [
    "RobotAdd",
    "RobotAdded",
    "RobotInfo",
    "RobotList",
    "RobotListReply",
    "RobotRemove",
]


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class RobotAdd(Frame):
    """Add a robot named `name` to group `conv` (its owner or an admin)."""

    TYPE: ClassVar[str] = "robot.add"
    id: int
    conv: int
    name: str


@client_frame
@dataclass(frozen=True, slots=True)
class RobotRemove(Frame):
    """Remove a robot: its webhook key stops working at once (404)."""

    TYPE: ClassVar[str] = "robot.remove"
    id: int
    conv: int
    robot: int


@client_frame
@dataclass(frozen=True, slots=True)
class RobotList(Frame):
    """The group's robots (any member may list them; only managers see no keys)."""

    TYPE: ClassVar[str] = "robot.list"
    id: int
    conv: int


# ----- replies: server to client --------------------------------------------


@server_frame
@dataclass(frozen=True, slots=True)
class RobotAdded(Frame):
    """The new robot and its webhook: `url` is shown once (keep it secret)."""

    TYPE: ClassVar[str] = "robot.add"
    re: int
    conv: int
    robot: int
    name: str
    url: str


@nested_frame
@dataclass(frozen=True, slots=True)
class RobotInfo(Frame):
    TYPE: ClassVar[str] = "robot"
    robot: int
    name: str
    by: str  # who added it
    created: int  # ms


@server_frame
@dataclass(frozen=True, slots=True)
class RobotListReply(Frame):
    TYPE: ClassVar[str] = "robot.list"
    re: int
    conv: int
    robots: tuple[RobotInfo, ...]
