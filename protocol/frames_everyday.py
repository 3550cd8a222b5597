"""Everyday messaging (revision 1.5): edits, reactions, forwarding, the group
notice and pins, mute; and the maps that travel inside `msg` (a reply's quote,
a forward's origin) and `sync.page` (the stream's events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame, wire
from .frames_media import Attachment, MediaInfo

__all__ = [
    "ConvMute",
    "Edit",
    "Edited",
    "Forward",
    "Forwarded",
    "ForwardedFrom",
    "GroupNotice",
    "MuteEvent",
    "Pin",
    "PinEntry",
    "Pins",
    "PinsReply",
    "Quote",
    "React",
    "ReactionChange",
    "ReactionEvent",
    "ReactionsList",
    "ReactionsListReply",
    "Unpin",
]

MENTION_ALL = "all"  # send.mentions: every member


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class Edit(Frame):
    """Replace the text of one's own message (a new version; every member is told),
    and with `attachments` (1.8) its files too (absent: the files stay as they are)."""

    TYPE: ClassVar[str] = "edit"
    id: int
    conv: int
    seq: int
    text: str
    attachments: tuple[Attachment, ...] | None = None  # 1.8


@client_frame
@dataclass(frozen=True, slots=True)
class React(Frame):
    """Add (`on` true) or take back (`on` false) one's reaction with an emoji."""

    TYPE: ClassVar[str] = "react"
    id: int
    conv: int
    seq: int
    emoji: str
    on: bool


@client_frame
@dataclass(frozen=True, slots=True)
class ReactionsList(Frame):
    """Who reacted to a message with an emoji (paged, in a stable order)."""

    TYPE: ClassVar[str] = "reactions.list"
    id: int
    conv: int
    seq: int
    emoji: str
    offset: int | None = None
    limit: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class Forward(Frame):
    """Copy messages of one conversation into another, in their order."""

    TYPE: ClassVar[str] = "forward"
    id: int
    client_msg_id: str
    from_conv: int
    seqs: tuple[int, ...]
    to_conv: int


@client_frame
@dataclass(frozen=True, slots=True)
class GroupNotice(Frame):
    """Set the group's notice (owner/admins): pinned, every member confirms it."""

    TYPE: ClassVar[str] = "group.notice"
    id: int
    conv: int
    text: str
    attachments: tuple[Attachment, ...] | None = None  # 1.8 (text may then be "")


@client_frame
@dataclass(frozen=True, slots=True)
class Pin(Frame):
    TYPE: ClassVar[str] = "pin"
    id: int
    conv: int
    seq: int


@client_frame
@dataclass(frozen=True, slots=True)
class Unpin(Frame):
    TYPE: ClassVar[str] = "unpin"
    id: int
    conv: int
    seq: int


@client_frame
@dataclass(frozen=True, slots=True)
class Pins(Frame):
    """The conversation's pinned messages and its group notice."""

    TYPE: ClassVar[str] = "pins"
    id: int
    conv: int


@client_frame
@dataclass(frozen=True, slots=True)
class ConvMute(Frame):
    """Mute a conversation for oneself until `until` (ms; absent: until unmuted;
    a time not in the future, e.g. 0: unmute)."""

    TYPE: ClassVar[str] = "conv.mute"
    id: int
    conv: int
    until: int | None = None


# ----- maps inside other frames ---------------------------------------------


@nested_frame
@dataclass(frozen=True, slots=True)
class Quote(Frame):
    """What a reply quotes: a snapshot taken when the reply was sent."""

    TYPE: ClassVar[str] = "quote"
    seq: int
    sender: str = wire("from")
    kind: str | None = None  # absent for text
    text: str | None = None  # absent: recalled, or not visible to the reader
    recalled: bool | None = None


@nested_frame
@dataclass(frozen=True, slots=True)
class ForwardedFrom(Frame):
    """Where a forwarded message comes from, as the target's readers may see it."""

    TYPE: ClassVar[str] = "origin"
    sender: str = wire("from")
    time: int = 0
    display: str | None = None
    corp: str | None = None
    external: bool | None = None


@nested_frame
@dataclass(frozen=True, slots=True)
class ReactionChange(Frame):
    TYPE: ClassVar[str] = "change"
    user: str
    emoji: str
    on: bool


@nested_frame
@dataclass(frozen=True, slots=True)
class PinEntry(Frame):
    TYPE: ClassVar[str] = "pinned"
    seq: int
    by: str
    time: int


# ----- replies and events: server to client ---------------------------------


@server_frame
@dataclass(frozen=True, slots=True)
class Edited(Frame):
    """A message's text was edited: its new version (live, or in `sync.page.edited`),
    since 1.8 with the files of that version."""

    TYPE: ClassVar[str] = "edited"
    conv: int
    seq: int
    pos: int
    text: str
    edited_at: int
    version: int
    attachments: tuple[MediaInfo, ...] | None = None  # 1.8: absent, the version has none


@server_frame
@dataclass(frozen=True, slots=True)
class ReactionEvent(Frame):
    """A message's reactions changed: the counts after the change and what changed
    (coalesced: one event per message per commit)."""

    TYPE: ClassVar[str] = "reaction"
    conv: int
    seq: int
    pos: int
    reactions: dict[str, int]
    changes: tuple[ReactionChange, ...] | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class MuteEvent(Frame):
    """Your mute of a conversation changed (on any of your devices)."""

    TYPE: ClassVar[str] = "mute"
    conv: int
    pos: int
    muted: bool
    until: int | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class ReactionsListReply(Frame):
    TYPE: ClassVar[str] = "reactions.list"
    re: int
    conv: int
    seq: int
    emoji: str
    users: tuple[str, ...]
    count: int
    more: bool


@server_frame
@dataclass(frozen=True, slots=True)
class Forwarded(Frame):
    """The forwarded copies: their seqs in the target, the last one's position."""

    TYPE: ClassVar[str] = "forwarded"
    re: int
    conv: int
    seqs: tuple[int, ...]
    pos: int
    duplicate: bool = False


@server_frame
@dataclass(frozen=True, slots=True)
class PinsReply(Frame):
    TYPE: ClassVar[str] = "pins"
    re: int
    conv: int
    pins: tuple[PinEntry, ...]
    notice: int | None = None  # the seq of the group's notice
