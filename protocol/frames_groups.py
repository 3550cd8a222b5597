"""Group conversations: creating, membership and roles, and their replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame

__all__ = [
    "GroupAdd",
    "GroupCreate",
    "GroupDissolve",
    "GroupInfo",
    "GroupInfoReply",
    "GroupLeave",
    "GroupList",
    "GroupListReply",
    "GroupRemove",
    "GroupRename",
    "GroupSetRole",
    "GroupSummary",
    "GroupTransfer",
    "Member",
    "Removed",
]


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class GroupCreate(Frame):
    """Create a group; the caller becomes its owner."""

    TYPE: ClassVar[str] = "group.create"
    id: int
    name: str
    members: tuple[str, ...] = ()


@client_frame
@dataclass(frozen=True, slots=True)
class GroupAdd(Frame):
    TYPE: ClassVar[str] = "group.add"
    id: int
    conv: int
    members: tuple[str, ...]


@client_frame
@dataclass(frozen=True, slots=True)
class GroupRemove(Frame):
    TYPE: ClassVar[str] = "group.remove"
    id: int
    conv: int
    members: tuple[str, ...]


@client_frame
@dataclass(frozen=True, slots=True)
class GroupLeave(Frame):
    TYPE: ClassVar[str] = "group.leave"
    id: int
    conv: int


@client_frame
@dataclass(frozen=True, slots=True)
class GroupRename(Frame):
    TYPE: ClassVar[str] = "group.rename"
    id: int
    conv: int
    name: str


@client_frame
@dataclass(frozen=True, slots=True)
class GroupTransfer(Frame):
    """Make another member the owner; the old owner becomes an admin."""

    TYPE: ClassVar[str] = "group.transfer"
    id: int
    conv: int
    to: str


@client_frame
@dataclass(frozen=True, slots=True)
class GroupSetRole(Frame):
    """The owner makes a member an admin, or an admin a member."""

    TYPE: ClassVar[str] = "group.role"
    id: int
    conv: int
    user: str
    role: str


@client_frame
@dataclass(frozen=True, slots=True)
class GroupDissolve(Frame):
    TYPE: ClassVar[str] = "group.dissolve"
    id: int
    conv: int


@client_frame
@dataclass(frozen=True, slots=True)
class GroupInfo(Frame):
    TYPE: ClassVar[str] = "group.info"
    id: int
    conv: int


@client_frame
@dataclass(frozen=True, slots=True)
class GroupList(Frame):
    TYPE: ClassVar[str] = "group.list"
    id: int


# ----- replies and events: server to client ---------------------------------




@nested_frame
@dataclass(frozen=True, slots=True)
class Member(Frame):
    TYPE: ClassVar[str] = "member"
    user: str
    role: str
    external: bool = False
    display: str | None = None  # as the viewer may see them (consumers: "Name @Corp")


@server_frame
@dataclass(frozen=True, slots=True)
class GroupInfoReply(Frame):
    TYPE: ClassVar[str] = "group.info"
    re: int
    conv: int
    name: str
    created: int
    members: tuple[Member, ...]


@nested_frame
@dataclass(frozen=True, slots=True)
class GroupSummary(Frame):
    TYPE: ClassVar[str] = "group"
    conv: int
    name: str
    role: str
    members: int


@server_frame
@dataclass(frozen=True, slots=True)
class GroupListReply(Frame):
    TYPE: ClassVar[str] = "group.list"
    re: int
    groups: tuple[GroupSummary, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class Removed(Frame):
    """You were removed from a group (or it was dissolved): it stops here."""

    TYPE: ClassVar[str] = "removed"
    conv: int
    by: str

