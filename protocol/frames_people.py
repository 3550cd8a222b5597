"""People: profiles, the corp directory, external contacts and friends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame

__all__ = [
    "ContactAccept",
    "ContactDecline",
    "ContactEvent",
    "ContactList",
    "ContactRemark",
    "ContactRemove",
    "ContactRequest",
    "Department",
    "DepartmentReply",
    "DirectoryDepartment",
    "DirectorySearch",
    "FriendAccept",
    "FriendDecline",
    "FriendRemove",
    "FriendRequest",
    "PendingRequest",
    "People",
    "Profile",
    "RequestList",
    "RequestListReply",
    "UserInfo",
    "UserInfoReply",
]


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class UserInfo(Frame):
    """A person's profile as you may see them, with their presence."""

    TYPE: ClassVar[str] = "user.info"
    id: int
    user: str


@client_frame
@dataclass(frozen=True, slots=True)
class DirectorySearch(Frame):
    """Employees of the caller's corp whose display name starts with `prefix`."""

    TYPE: ClassVar[str] = "directory.search"
    id: int
    prefix: str
    limit: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class DirectoryDepartment(Frame):
    """A department's members and sub-departments (0 or absent: the top)."""

    TYPE: ClassVar[str] = "directory.department"
    id: int
    dept: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class ContactRequest(Frame):
    """An employee asks a consumer to become an external contact."""

    TYPE: ClassVar[str] = "contact.request"
    id: int
    to: str
    note: str | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class ContactAccept(Frame):
    TYPE: ClassVar[str] = "contact.accept"
    id: int
    employee: str


@client_frame
@dataclass(frozen=True, slots=True)
class ContactDecline(Frame):
    TYPE: ClassVar[str] = "contact.decline"
    id: int
    employee: str


@client_frame
@dataclass(frozen=True, slots=True)
class ContactRemove(Frame):
    """Either side ends an external contact."""

    TYPE: ClassVar[str] = "contact.remove"
    id: int
    user: str


@client_frame
@dataclass(frozen=True, slots=True)
class ContactRemark(Frame):
    """An employee's own note on a customer (shown only to them)."""

    TYPE: ClassVar[str] = "contact.remark"
    id: int
    user: str
    remark: str


@client_frame
@dataclass(frozen=True, slots=True)
class ContactList(Frame):
    """Your contacts; employees may filter customers by tags (`match`: any or all)."""

    TYPE: ClassVar[str] = "contact.list"
    id: int
    tags: tuple[int, ...] | None = None
    match: str | None = None
    offset: int | None = None
    limit: int | None = None  # default 500, at most 1000


@client_frame
@dataclass(frozen=True, slots=True)
class FriendRequest(Frame):
    TYPE: ClassVar[str] = "friend.request"
    id: int
    to: str


@client_frame
@dataclass(frozen=True, slots=True)
class FriendAccept(Frame):
    TYPE: ClassVar[str] = "friend.accept"
    id: int
    user: str


@client_frame
@dataclass(frozen=True, slots=True)
class FriendDecline(Frame):
    """The addressee of a pending friend request declines it."""

    TYPE: ClassVar[str] = "friend.decline"
    id: int
    user: str


@client_frame
@dataclass(frozen=True, slots=True)
class FriendRemove(Frame):
    """Either friend ends the friendship."""

    TYPE: ClassVar[str] = "friend.remove"
    id: int
    user: str


@client_frame
@dataclass(frozen=True, slots=True)
class RequestList(Frame):
    """Your pending contact and friend requests, received and sent."""

    TYPE: ClassVar[str] = "request.list"
    id: int


# ----- replies and events: server to client ---------------------------------




@nested_frame
@dataclass(frozen=True, slots=True)
class Profile(Frame):
    """A person as the receiver may see them (consumers never get directory fields)."""

    TYPE: ClassVar[str] = "profile"
    user: str
    display: str
    title: str | None = None
    corp: str | None = None  # the corp's full name, beside the @badge
    dept: int | None = None
    phone: str | None = None
    email: str | None = None
    external: bool | None = None
    remark: str | None = None
    note: str | None = None  # on a contact request
    tags: tuple[int, ...] | None = None  # an employee's view of their customer


@nested_frame
@dataclass(frozen=True, slots=True)
class Department(Frame):
    TYPE: ClassVar[str] = "department"
    dept: int
    name: str


@server_frame
@dataclass(frozen=True, slots=True)
class People(Frame):
    """A list of people: directory search results or the contact list."""

    TYPE: ClassVar[str] = "people"
    re: int
    people: tuple[Profile, ...]
    more: bool | None = None  # contact.list: another page follows


@server_frame
@dataclass(frozen=True, slots=True)
class DepartmentReply(Frame):
    TYPE: ClassVar[str] = "directory.department"
    re: int
    dept: int
    name: str
    members: tuple[Profile, ...]
    departments: tuple[Department, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class ContactEvent(Frame):
    """Something happened to a contact or friendship of yours.

    `event` is one of: request (someone asks; `profile.note` holds the note),
    added, declined, removed, friend_request, friend_added, friend_declined,
    friend_removed.
    """

    TYPE: ClassVar[str] = "contact"
    event: str
    profile: Profile


@nested_frame
@dataclass(frozen=True, slots=True)
class PendingRequest(Frame):
    """One pending request: `kind` contact (employee to consumer) or friend."""

    TYPE: ClassVar[str] = "request"
    kind: str
    profile: Profile  # the other side; a contact request's note in `profile.note`
    time: int


@server_frame
@dataclass(frozen=True, slots=True)
class RequestListReply(Frame):
    TYPE: ClassVar[str] = "request.list"
    re: int
    incoming: tuple[PendingRequest, ...]
    outgoing: tuple[PendingRequest, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class UserInfoReply(Frame):
    TYPE: ClassVar[str] = "user.info"
    re: int
    profile: Profile
    status: str
    until: int | None = None

