"""Typed frames: one frozen dataclass per wire message.

Every frame travels as one msgpack map with a string key `type`. A frame
class lists its fields as dataclass fields; a field's wire key is its name
unless `wire(...)` renames it (`sender` travels as `from`). A field without
a default is required. Unknown keys are ignored, so later minor versions can
add fields. Validation is by exact type: an int field takes no bool and no
float, a str field no bytes.

Requests (client to server) carry `id`, a client-chosen unsigned integer;
the reply to a request carries the same number as `re`. Events the server
sends on its own carry neither.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from .errors import ErrorCode, ProtocolError

MAX_UINT = 2**63 - 1


def wire(name: str, default: Any = dataclasses.MISSING) -> Any:
    """A field whose wire key differs from its Python name."""
    if default is dataclasses.MISSING:
        return field(metadata={"wire": name})
    return field(default=default, metadata={"wire": name})


class Frame:
    """Base of every frame. Subclasses set TYPE and are frozen dataclasses."""

    __slots__ = ()
    TYPE: ClassVar[str] = ""
    _spec: ClassVar[tuple[tuple[str, str, Callable[[Any], Any], bool], ...]] = ()

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        for attr, key, _check, _required in self._spec:
            value = getattr(self, attr)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = [v.to_wire() if isinstance(v, Frame) else v for v in value]
            elif isinstance(value, Frame):
                value = value.to_wire()
            out[key] = value
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Frame:
        kwargs = {}
        for attr, key, check, required in cls._spec:
            value = data.get(key)
            if value is None:
                if required:
                    raise _bad(f"{cls.TYPE}: field {key!r} is required")
                continue
            kwargs[attr] = check(value)
        return cls(**kwargs)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def _check_uint(v: Any) -> int:
    if type(v) is not int or v < 0 or v > MAX_UINT:
        raise _bad(f"expected an unsigned integer, got {type(v).__name__}")
    return v


def _check_str(v: Any) -> str:
    if type(v) is not str:
        raise _bad(f"expected a string, got {type(v).__name__}")
    return v


def _check_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _bad(f"expected a boolean, got {type(v).__name__}")
    return v


def _check_int_map(v: Any) -> dict[str, int]:
    if type(v) is not dict or not all(type(x) is int for x in v.values()):
        raise _bad("expected a map of integers")
    return v


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def check(v: Any) -> tuple[Any, ...]:
        if type(v) is not list:
            raise _bad(f"expected an array, got {type(v).__name__}")
        return tuple(item(x) for x in v)

    return check


def _frame_of(cls: type[Frame]) -> Callable[[Any], Frame]:
    def check(v: Any) -> Frame:
        if type(v) is not dict:
            raise _bad(f"expected a map for {cls.TYPE}")
        return cls.from_wire(v)

    return check


_SCALAR_CHECKS: dict[Any, Callable[[Any], Any]] = {
    int: _check_uint,
    str: _check_str,
    bool: _check_bool,
    dict[str, int]: _check_int_map,
}


def _checker(hint: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _checker(inner)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if isinstance(inner, type) and issubclass(inner, Frame):
            return _list_of(_frame_of(inner))
        return _list_of(_checker(inner))
    if isinstance(hint, type) and issubclass(hint, Frame):
        return _frame_of(hint)
    if hint in _SCALAR_CHECKS:
        return _SCALAR_CHECKS[hint]
    raise TypeError(f"no wire check for {hint!r}")


CLIENT_FRAMES: dict[str, type[Frame]] = {}
SERVER_FRAMES: dict[str, type[Frame]] = {}


def _register(table: dict[str, type[Frame]]) -> Callable[[type[Frame]], type[Frame]]:
    def register(cls: type[Frame]) -> type[Frame]:
        hints = typing.get_type_hints(cls)
        spec = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            required = f.default is dataclasses.MISSING
            spec.append((f.name, f.metadata.get("wire", f.name), _checker(hints[f.name]), required))
        cls._spec = tuple(spec)
        table[cls.TYPE] = cls
        return cls

    return register


client_frame = _register(CLIENT_FRAMES)
server_frame = _register(SERVER_FRAMES)
nested_frame = _register({})  # maps that only travel inside other frames


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class Hello(Frame):
    """Authenticate. Must be the first frame on a connection."""

    TYPE: ClassVar[str] = "hello"
    id: int
    token: str
    device: str | None = None
    client: str | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class Send(Frame):
    """Send a text message: `to` a user (a direct chat) or into `conv`."""

    TYPE: ClassVar[str] = "send"
    id: int
    client_msg_id: str
    text: str
    to: str | None = None
    conv: int | None = None
    receipt: bool | None = None  # ask who reads it (see `receipts`)
    urgent: bool | None = None  # bypass quiet hours (employees, a daily quota)


@client_frame
@dataclass(frozen=True, slots=True)
class Announce(Frame):
    """A corp admin posts to the corp's notice board (every employee gets it)."""

    TYPE: ClassVar[str] = "announce"
    id: int
    client_msg_id: str
    text: str
    receipt: bool | None = None
    urgent: bool | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class Read(Frame):
    """The user has read `conv` up to and including `seq` (the cursor only moves forward)."""

    TYPE: ClassVar[str] = "read"
    id: int
    conv: int
    seq: int


@client_frame
@dataclass(frozen=True, slots=True)
class Receipts(Frame):
    """Who has and has not read a receipt-requested message (paged)."""

    TYPE: ClassVar[str] = "receipts"
    id: int
    conv: int
    seq: int
    offset: int | None = None
    limit: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class Remind(Frame):
    """Re-notify the members who have not read a receipt-requested message."""

    TYPE: ClassVar[str] = "remind"
    id: int
    conv: int
    seq: int


@nested_frame
@dataclass(frozen=True, slots=True)
class QuietWindow(Frame):
    """A quiet window: from `start` on weekday `day` (0 = Monday) to `end`, local time
    ("HH:MM"; an end at or before the start is on the next day)."""

    TYPE: ClassVar[str] = "window"
    day: int
    start: str
    end: str


@client_frame
@dataclass(frozen=True, slots=True)
class QuietSet(Frame):
    """Set your quiet hours (synced to all your devices); `inherit` drops your own
    schedule so the corp's default applies."""

    TYPE: ClassVar[str] = "quiet.set"
    id: int
    timezone: str | None = None
    windows: tuple[QuietWindow, ...] | None = None
    enabled: bool | None = None
    inherit: bool | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class QuietBreak(Frame):
    """Take a break: rest for `minutes`, or until `until` (ms); at most 7 days."""

    TYPE: ClassVar[str] = "quiet.break"
    id: int
    minutes: int | None = None
    until: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class QuietResume(Frame):
    """End a break early."""

    TYPE: ClassVar[str] = "quiet.resume"
    id: int


@client_frame
@dataclass(frozen=True, slots=True)
class UserInfo(Frame):
    """A person's profile as you may see them, with their presence."""

    TYPE: ClassVar[str] = "user.info"
    id: int
    user: str


@client_frame
@dataclass(frozen=True, slots=True)
class DeviceRegister(Frame):
    """Register this device for offline (push) notifications."""

    TYPE: ClassVar[str] = "device.register"
    id: int
    platform: str
    push_token: str


@client_frame
@dataclass(frozen=True, slots=True)
class DeviceUnregister(Frame):
    """Stop offline notifications to this device (sign-out)."""

    TYPE: ClassVar[str] = "device.unregister"
    id: int
    push_token: str


@client_frame
@dataclass(frozen=True, slots=True)
class Conversations(Frame):
    """The caller's conversations, most recently active first."""

    TYPE: ClassVar[str] = "conversations"
    id: int
    limit: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class Register(Frame):
    """Create a consumer account (only when the server allows open sign-up)."""

    TYPE: ClassVar[str] = "register"
    id: int
    handle: str
    name: str | None = None


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


@client_frame
@dataclass(frozen=True, slots=True)
class TransferRefuse(Frame):
    """A customer refuses to be handed over from `employee` to a colleague."""

    TYPE: ClassVar[str] = "transfer.refuse"
    id: int
    employee: str


@client_frame
@dataclass(frozen=True, slots=True)
class MomentPost(Frame):
    TYPE: ClassVar[str] = "moment.post"
    id: int
    text: str
    attachments: tuple[str, ...] | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class MomentDraft(Frame):
    """A corp admin writes a moment for employees to confirm and publish."""

    TYPE: ClassVar[str] = "moment.draft"
    id: int
    text: str
    employees: tuple[str, ...]
    attachments: tuple[str, ...] | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class MomentConfirm(Frame):
    TYPE: ClassVar[str] = "moment.confirm"
    id: int
    draft: int


@client_frame
@dataclass(frozen=True, slots=True)
class MomentsFeed(Frame):
    """A customer's feed (their employees' moments), or, for a corp admin with
    `employee`, what that employee posted. Newest first."""

    TYPE: ClassVar[str] = "moments.feed"
    id: int
    employee: str | None = None
    before: int | None = None
    limit: int | None = None


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


@client_frame
@dataclass(frozen=True, slots=True)
class Sync(Frame):
    """Fetch every message after a sync token, in pages."""

    TYPE: ClassVar[str] = "sync"
    id: int
    since: str
    limit: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class History(Frame):
    """Page backwards through one conversation."""

    TYPE: ClassVar[str] = "history"
    id: int
    conv: int
    before: int | None = None
    limit: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class Ping(Frame):
    TYPE: ClassVar[str] = "ping"
    id: int


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


@client_frame
@dataclass(frozen=True, slots=True)
class Typing(Frame):
    """The user is typing in a conversation (not stored, rate-limited)."""

    TYPE: ClassVar[str] = "typing"
    id: int
    conv: int


@client_frame
@dataclass(frozen=True, slots=True)
class Recall(Frame):
    """Withdraw a message: everyone sees a tombstone in its place."""

    TYPE: ClassVar[str] = "recall"
    id: int
    conv: int
    seq: int


# ----- replies and events: server to client ---------------------------------


@nested_frame
@dataclass(frozen=True, slots=True)
class QuietState(Frame):
    """Your quiet hours: the schedule in force (`source`: user, corp or none) and,
    while you rest, until when."""

    TYPE: ClassVar[str] = "quiet"
    source: str
    timezone: str | None = None
    windows: tuple[QuietWindow, ...] | None = None
    enabled: bool | None = None
    resting_until: int | None = None
    break_until: int | None = None


@nested_frame
@dataclass(frozen=True, slots=True)
class Unread(Frame):
    """A conversation with unread messages: the read cursor and the count after it."""

    TYPE: ClassVar[str] = "unread"
    conv: int
    read: int
    unread: int


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


@nested_frame
@dataclass(frozen=True, slots=True)
class ConvSummary(Frame):
    TYPE: ClassVar[str] = "conv"
    conv: int
    kind: str  # direct, group or announce
    name: str  # the group's name, the corp's for a notice board, the peer for a direct chat
    last_seq: int
    last_pos: int
    read: int  # the caller's read cursor
    peer: str | None = None  # direct chats: the other user
    left: bool | None = None  # the caller is no longer a member


@nested_frame
@dataclass(frozen=True, slots=True)
class Reader(Frame):
    TYPE: ClassVar[str] = "reader"
    user: str
    time: int


@server_frame
@dataclass(frozen=True, slots=True)
class Welcome(Frame):
    TYPE: ClassVar[str] = "welcome"
    re: int
    user: str
    session: str
    server_time: int
    sync: str
    limits: dict[str, int]
    protocol: int = 1
    announce_conv: int | None = None  # the corp's notice board, for employees
    unread: tuple[Unread, ...] | None = None
    quiet: QuietState | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class Msg(Frame):
    """One stored message, live or inside a sync or history page."""

    TYPE: ClassVar[str] = "msg"
    conv: int
    seq: int
    pos: int
    sender: str = wire("from")
    time: int = 0
    text: str = ""
    client_msg_id: str | None = None
    to: str | None = None
    kind: str | None = None  # absent for text; "system" for membership events
    event: str | None = None
    users: tuple[str, ...] | None = None
    name: str | None = None
    ref: int | None = None
    recalled: bool | None = None
    receipt: bool | None = None
    display: str | None = None  # how to show the sender (consumers see "Name @Corp")
    title: str | None = None
    corp: str | None = None
    external: bool | None = None  # the sender is a consumer (shown to employees)
    urgent: bool | None = None
    silent: bool | None = None  # you are resting: store it, show it, do not alert


@server_frame
@dataclass(frozen=True, slots=True)
class Ack(Frame):
    """The message is committed to storage: it is safe."""

    TYPE: ClassVar[str] = "ack"
    re: int
    conv: int
    seq: int
    pos: int
    time: int
    client_msg_id: str
    duplicate: bool = False
    recipient_resting_until: int | None = None  # a direct message's recipient is resting


@server_frame
@dataclass(frozen=True, slots=True)
class SyncPage(Frame):
    TYPE: ClassVar[str] = "sync.page"
    re: int
    msgs: tuple[Msg, ...]
    sync: str
    more: bool
    unread: tuple[Unread, ...] | None = None  # on the last page


@server_frame
@dataclass(frozen=True, slots=True)
class HistoryPage(Frame):
    TYPE: ClassVar[str] = "history.page"
    re: int
    conv: int
    msgs: tuple[Msg, ...]
    more: bool


@server_frame
@dataclass(frozen=True, slots=True)
class Pong(Frame):
    TYPE: ClassVar[str] = "pong"
    re: int
    server_time: int


@server_frame
@dataclass(frozen=True, slots=True)
class Error(Frame):
    """A refused request (`re` set) or a connection-level problem."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    re: int | None = None
    retry_after_ms: int | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class Ok(Frame):
    """A request succeeded; `conv`/`seq`/`pos` name the system message it produced."""

    TYPE: ClassVar[str] = "ok"
    re: int
    conv: int | None = None
    seq: int | None = None
    pos: int | None = None


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


@server_frame
@dataclass(frozen=True, slots=True)
class TypingEvent(Frame):
    TYPE: ClassVar[str] = "typing"
    conv: int
    user: str


@server_frame
@dataclass(frozen=True, slots=True)
class ReadEvent(Frame):
    """Your read cursor moved on another device."""

    TYPE: ClassVar[str] = "read"
    conv: int
    seq: int


@server_frame
@dataclass(frozen=True, slots=True)
class ReceiptEvent(Frame):
    """Members read your receipt-requested message (coalesced: many readers per event)."""

    TYPE: ClassVar[str] = "receipt"
    conv: int
    seq: int
    readers: tuple[Reader, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class ReceiptsReply(Frame):
    TYPE: ClassVar[str] = "receipts"
    re: int
    conv: int
    seq: int
    read: tuple[Reader, ...]
    unread: tuple[str, ...]
    read_count: int
    unread_count: int
    more: bool


@server_frame
@dataclass(frozen=True, slots=True)
class Reminder(Frame):
    """The sender reminds you to read a message."""

    TYPE: ClassVar[str] = "reminder"
    conv: int
    seq: int
    sender: str = wire("from")
    silent: bool | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class Registered(Frame):
    TYPE: ClassVar[str] = "registered"
    re: int
    user: str
    token: str


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
class ConversationsReply(Frame):
    TYPE: ClassVar[str] = "conversations"
    re: int
    convs: tuple[ConvSummary, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class QuietEvent(Frame):
    """Your quiet-hours settings or resting state changed (on any device)."""

    TYPE: ClassVar[str] = "quiet"
    quiet: QuietState


@server_frame
@dataclass(frozen=True, slots=True)
class Presence(Frame):
    """Someone you share a conversation with started or stopped resting."""

    TYPE: ClassVar[str] = "presence"
    user: str
    status: str  # "available" or "resting"
    until: int | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class Digest(Frame):
    """What arrived while you rested, once the rest ends."""

    TYPE: ClassVar[str] = "digest"
    messages: int
    conversations: int


@server_frame
@dataclass(frozen=True, slots=True)
class UserInfoReply(Frame):
    TYPE: ClassVar[str] = "user.info"
    re: int
    profile: Profile
    status: str
    until: int | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class Created(Frame):
    """A request created something; `id` is its new id."""

    TYPE: ClassVar[str] = "created"
    re: int
    id: int


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


@nested_frame
@dataclass(frozen=True, slots=True)
class MomentInfo(Frame):
    TYPE: ClassVar[str] = "moment"
    moment: int
    author: Profile
    time: int
    text: str
    attachments: tuple[str, ...] | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class MomentsPage(Frame):
    TYPE: ClassVar[str] = "moments"
    re: int
    moments: tuple[MomentInfo, ...]
    more: bool


@server_frame
@dataclass(frozen=True, slots=True)
class MomentEvent(Frame):
    """A new moment in your feed, or (`draft` set) one to confirm."""

    TYPE: ClassVar[str] = "moment"
    moment: MomentInfo
    draft: int | None = None
