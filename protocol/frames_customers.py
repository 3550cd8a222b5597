"""Serving customers: tags, mass messages to customers, and handing a
customer over to a colleague."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame, wire
from .frames_media import Attachment
from .frames_people import Department, Profile

__all__ = [
    "BroadcastCustomers",
    "BroadcastDone",
    "ContactTag",
    "Skipped",
    "TagAdd",
    "TagGroupAdd",
    "TagInfo",
    "TagList",
    "TagRemove",
    "TagsReply",
    "TransferEvent",
    "TransferRefuse",
]


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class ContactTag(Frame):
    """An employee tags or untags one of their customers."""

    TYPE: ClassVar[str] = "contact.tag"
    id: int
    user: str
    add: tuple[int, ...] | None = None
    remove: tuple[int, ...] | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class TagGroupAdd(Frame):
    """A corp admin adds a tag group to the corp's library."""

    TYPE: ClassVar[str] = "tag.group.add"
    id: int
    name: str


@client_frame
@dataclass(frozen=True, slots=True)
class TagAdd(Frame):
    TYPE: ClassVar[str] = "tag.add"
    id: int
    group: int
    name: str


@client_frame
@dataclass(frozen=True, slots=True)
class TagRemove(Frame):
    TYPE: ClassVar[str] = "tag.remove"
    id: int
    tag: int


@client_frame
@dataclass(frozen=True, slots=True)
class TagList(Frame):
    TYPE: ClassVar[str] = "tag.list"
    id: int


@client_frame
@dataclass(frozen=True, slots=True)
class BroadcastCustomers(Frame):
    """One message to many of your customers, chosen by tags or by name."""

    TYPE: ClassVar[str] = "broadcast.customers"
    id: int
    client_msg_id: str
    text: str
    tags: tuple[int, ...] | None = None
    match: str | None = None
    users: tuple[str, ...] | None = None
    attachments: tuple[Attachment, ...] | None = None  # 1.4


@client_frame
@dataclass(frozen=True, slots=True)
class TransferRefuse(Frame):
    """A customer refuses to be handed over from `employee` to a colleague."""

    TYPE: ClassVar[str] = "transfer.refuse"
    id: int
    employee: str


# ----- replies and events: server to client ---------------------------------




@nested_frame
@dataclass(frozen=True, slots=True)
class TagInfo(Frame):
    TYPE: ClassVar[str] = "tag"
    tag: int
    group: int
    name: str


@server_frame
@dataclass(frozen=True, slots=True)
class TagsReply(Frame):
    TYPE: ClassVar[str] = "tags"
    re: int
    groups: tuple[Department, ...]  # {dept: group id, name}: the same shape as departments
    tags: tuple[TagInfo, ...]


@nested_frame
@dataclass(frozen=True, slots=True)
class Skipped(Frame):
    TYPE: ClassVar[str] = "skipped"
    reason: str
    count: int


@server_frame
@dataclass(frozen=True, slots=True)
class BroadcastDone(Frame):
    TYPE: ClassVar[str] = "broadcast.done"
    re: int
    sent: int
    skipped: tuple[Skipped, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class TransferEvent(Frame):
    """Your contact hands you over to a colleague (`state`: pending, refused, done); or, to
    the two employees, `customer` refused it."""

    TYPE: ClassVar[str] = "transfer"
    state: str
    source: Profile = wire("from")
    target: Profile = wire("to")
    message: str | None = None
    due: int | None = None
    customer: Profile | None = None  # to the employees: the customer who refused

