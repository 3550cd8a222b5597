"""Core frames: sign-in, sending, sync and history, conversations, and the
generic replies (`ok`, `created`, `error`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame, wire
from .frames_everyday import Edited, ForwardedFrom, MuteEvent, Quote, ReactionEvent
from .frames_media import Attachment, MediaInfo
from .frames_platform import Card
from .frames_quiet import QuietState

__all__ = [
    "Ack",
    "Announce",
    "ConvSummary",
    "Conversations",
    "ConversationsReply",
    "Created",
    "Error",
    "Hello",
    "History",
    "HistoryPage",
    "Msg",
    "Ok",
    "Ping",
    "Pong",
    "Recall",
    "Register",
    "Registered",
    "Send",
    "Sync",
    "SyncPage",
    "Typing",
    "TypingEvent",
    "Unread",
    "Welcome",
]


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
    attachments: tuple[Attachment, ...] | None = None  # 1.4: uploaded files (text may be "")
    mentions: tuple[str, ...] | None = None  # 1.5: members' handles, or "all"
    reply_to: int | None = None  # 1.5: the seq (same conversation) this answers


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
    attachments: tuple[Attachment, ...] | None = None


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
class Unread(Frame):
    """A conversation with unread messages: the read cursor and the count after it."""

    TYPE: ClassVar[str] = "unread"
    conv: int
    read: int
    unread: int
    mentions: int | None = None  # 1.5: how many of the unread mention the user


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
    attachments: tuple[MediaInfo, ...] | None = None  # 1.4: its files (kind says which)
    mentioned: bool | None = None  # 1.5: it mentions you (by handle or @all)
    reply_to: int | None = None  # 1.5
    quote: Quote | None = None  # 1.5: the replied-to message as you may see it
    edited_at: int | None = None  # 1.5: the latest version's time (pages only)
    version: int | None = None  # 1.5: edits so far (pages only)
    reactions: dict[str, int] | None = None  # 1.5: emoji -> count (pages only)
    reacted: tuple[str, ...] | None = None  # 1.5: the emoji you reacted with
    forwarded_from: ForwardedFrom | None = None  # 1.5
    notice: bool | None = None  # 1.5: the group's notice (confirm it by reading it)
    mentions: tuple[str, ...] | None = None  # 1.5: who it mentions, as sent
    robot: bool | None = None  # 1.7: sent by a group robot (`from` is robot:<id>)
    card: Card | None = None  # 1.10: kind "card": render it; `text` is its fallback
    markdown: bool | None = None  # 1.10: `text` is markdown (render it, or show it as is)


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
    muted_until: int | None = None  # 1.5: muted (0: until unmuted)
    notice: int | None = None  # 1.5: the seq of the group's notice
    last: Msg | None = None  # 1.9: the last message you see in it, as `history` shows it


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
    edited: tuple[Edited, ...] | None = None  # 1.5: the stream's events in the page
    reaction: tuple[ReactionEvent, ...] | None = None  # 1.5
    mute: tuple[MuteEvent, ...] | None = None  # 1.5


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


@server_frame
@dataclass(frozen=True, slots=True)
class TypingEvent(Frame):
    TYPE: ClassVar[str] = "typing"
    conv: int
    user: str


@server_frame
@dataclass(frozen=True, slots=True)
class Registered(Frame):
    TYPE: ClassVar[str] = "registered"
    re: int
    user: str
    token: str


@server_frame
@dataclass(frozen=True, slots=True)
class ConversationsReply(Frame):
    TYPE: ClassVar[str] = "conversations"
    re: int
    convs: tuple[ConvSummary, ...]


@server_frame
@dataclass(frozen=True, slots=True)
class Created(Frame):
    """A request created something; `id` is its new id."""

    TYPE: ClassVar[str] = "created"
    re: int
    id: int

