"""Read cursors and read receipts: who has read a message, and reminders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame, wire

__all__ = [
    "Read",
    "ReadEvent",
    "Reader",
    "ReceiptEvent",
    "Receipts",
    "ReceiptsReply",
    "Remind",
    "Reminder",
]


# ----- requests: client to server -------------------------------------------


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


# ----- replies and events: server to client ---------------------------------




@nested_frame
@dataclass(frozen=True, slots=True)
class Reader(Frame):
    TYPE: ClassVar[str] = "reader"
    user: str
    time: int


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

