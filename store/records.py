"""Value encodings of stored records (msgpack arrays, versioned by length).

Records are positional arrays to keep them small; a later version appends
fields and reads older, shorter arrays with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

ENTERPRISE = "enterprise"
CONSUMER = "consumer"
DIRECT = "direct"
GROUP = "group"
ANNOUNCE = "announce"  # a corp's notice board: every employee, read-only for non-admins


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, use_list=True)


# The first element of a stored message (its stream position) read straight from
# the msgpack bytes: a fixarray or array16, then a non-negative int.
_UINT_WIDTH = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}


def message_pos(data: bytes) -> int:
    """`Message.decode(…, data).pos` without decoding the rest (the text)."""
    head = data[0]
    at = 1 if 0x90 <= head <= 0x9F else 3 if head == 0xDC else 0
    if at:
        first = data[at]
        if first < 0x80:
            return first
        width = _UINT_WIDTH.get(first)
        if width:
            return int.from_bytes(data[at + 1:at + 1 + width], "big")
    return unpack(data)[0]


@dataclass(frozen=True, slots=True)
class Corp:
    corp_id: int
    name: str
    created_ms: int
    announce_conv: int = 0  # the corp's notice board conversation
    full_name: str = ""  # shown to consumers beside the badge (the short name)
    # The corp's policy (`corpchat admin corp set`); see bridge/ for the rules.
    show_consumer_reads: bool = True  # customers' read state shown to employees
    show_employee_reads: bool = False  # employees' read state shown to customers
    push_previews: bool = True  # message text in its employees' push notifications
    transfer_history: bool = True  # a colleague taking over customers sees the old chat
    forward_to_customers: bool = False  # 1.5: internal messages may be forwarded to customers
    robots_in_external_groups: bool = False  # group robots may post where consumers read

    def encode(self) -> bytes:
        return pack([self.name, self.created_ms, self.announce_conv, self.full_name,
                     self.show_consumer_reads, self.show_employee_reads, self.push_previews,
                     self.transfer_history, self.forward_to_customers,
                     self.robots_in_external_groups])

    @classmethod
    def decode(cls, corp_id: int, data: bytes) -> Corp:
        return cls(corp_id, *unpack(data)[:10])  # older records lack the policy: defaults


@dataclass(frozen=True, slots=True)
class User:
    uid: int
    handle: str
    realm: str
    corp_id: int  # 0 for consumers
    created_ms: int
    disabled: bool = False
    corp_admin: bool = False  # may post announcements for the corp
    name: str = ""  # display name (the handle when empty)
    title: str = ""
    dept: int = 0  # department id within the corp, 0 for none
    phone: str = ""
    email: str = ""

    @property
    def display(self) -> str:
        return self.name or self.handle

    def encode(self) -> bytes:
        return pack([self.handle, self.realm, self.corp_id, self.created_ms, self.disabled,
                     self.corp_admin, self.name, self.title, self.dept, self.phone, self.email])

    @classmethod
    def decode(cls, uid: int, data: bytes) -> User:
        return cls(uid, *unpack(data)[:11])


@dataclass(frozen=True, slots=True)
class Token:
    token_id: str
    uid: int
    created_ms: int
    device: str = ""  # the `device` of the last hello with it ("" if none said one)
    last_seen_ms: int = 0  # a hello with it, to the minute (0: never used)
    address: str = ""  # the remote address of that hello (or of the login that made it)

    def encode(self) -> bytes:
        return pack([self.token_id, self.uid, self.created_ms, self.device,
                     self.last_seen_ms, self.address])

    @classmethod
    def decode(cls, data: bytes) -> Token:
        return cls(*unpack(data)[:6])  # older records lack device, last seen, address


OWNER = "owner"
ADMIN = "admin"
MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Conversation:
    """A direct or group conversation; groups keep their name and member counts."""

    conv: int
    kind: str
    created_ms: int
    name: str = ""
    members: int = 0  # current members
    consumers: int = 0  # current members from the consumer realm
    dissolved: bool = False
    corp_id: int = 0  # the corp that owns it (groups: the creator's; archives go there)

    def encode(self) -> bytes:
        return pack([self.kind, self.created_ms, self.name, self.members, self.consumers,
                     self.dissolved, self.corp_id])

    @classmethod
    def decode(cls, conv: int, data: bytes) -> Conversation:
        kind, created, *rest = unpack(data)
        return cls(conv, kind, created, *rest[:6])


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's place in a conversation: they see positions [joined_pos, left_pos]."""

    joined_pos: int
    left_pos: int = 0  # 0 while still a member
    role: str = MEMBER
    consumer: bool = False

    @property
    def active(self) -> bool:
        return self.left_pos == 0

    def sees(self, pos: int) -> bool:
        return pos >= self.joined_pos and (self.left_pos == 0 or pos <= self.left_pos)

    def encode(self) -> bytes:
        return pack([self.joined_pos, self.left_pos, self.role, self.consumer])

    @classmethod
    def decode(cls, data: bytes) -> Membership:
        return cls(*unpack(data)[:4])


TEXT = "text"
SYSTEM = "system"
FILE_KIND = "file"  # a message whose attachments are of several kinds
CARD_KIND = "card"  # 1.10: an app message's card (msg.card)


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """A file as a message carries it: a copy of its media record (store/media.py)
    with the name this message shows, so a page of messages needs no other read."""

    media_id: str
    name: str
    size: int
    mime: str
    sha256: str
    kind: str  # image, voice, video or file
    width: int = 0
    height: int = 0
    duration_ms: int = 0
    animated: bool = False

    def row(self) -> list[object]:
        return [self.media_id, self.name, self.size, self.mime, self.sha256, self.kind,
                self.width, self.height, self.duration_ms, self.animated]

    @classmethod
    def from_row(cls, row: list[Any]) -> StoredAttachment:
        return cls(*row[:10])


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message: a user's text, or a system event such as a member joining.

    System messages have kind "system", `event` (create, add, remove, leave,
    rename, transfer, role, dissolve, recall), the `users` it concerns and, for
    renames and recalls, `name` / `ref` (the recalled seq). A recalled text
    message keeps its place with `recalled` set and its text emptied.
    """

    conv: int
    seq: int
    pos: int
    sender: str  # handle
    time_ms: int
    text: str
    client_msg_id: str
    to: str | None = None  # the recipient's handle, in direct conversations
    kind: str = TEXT
    event: str | None = None
    users: tuple[str, ...] = ()
    name: str | None = None
    ref: int | None = None
    recalled: bool = False
    receipt: bool = False  # the sender asked who reads it
    urgent: bool = False  # bypasses quiet hours
    attachments: tuple[StoredAttachment, ...] = ()  # files (a text message's; a recall drops them)
    # 1.5 (everyday messaging): appended, so older records read with defaults.
    mentions: tuple[str, ...] = ()  # handles, or "all"
    quote: Quote | None = None  # the replied-to message, as it was when answered
    forwarded: Origin | None = None  # where a forwarded copy comes from
    notice: bool = False  # a group's notice (also receipt-requested)
    version: int = 0  # edits so far; the text is the latest version's
    edited_ms: int = 0  # when the latest version was stored
    # 1.10 (open platform): appended likewise. A card's message is a text message
    # (counted unread, pushed, searched by its text, the card's fallback).
    card: tuple[str, str, str, str] | None = None  # (title, url, description, button)
    markdown: bool = False  # the text is markdown

    @property
    def wire_kind(self) -> str | None:
        """`msg.kind`: absent for text, the files' kind for a message with files,
        "card" for a card (1.10)."""
        if self.kind != TEXT:
            return self.kind
        if self.card is not None:
            return CARD_KIND
        if not self.attachments:
            return None
        kinds = {a.kind for a in self.attachments}
        return kinds.pop() if len(kinds) == 1 else FILE_KIND

    def encode(self) -> bytes:
        fields = [self.pos, self.sender, self.time_ms, self.text, self.client_msg_id, self.to,
                  self.kind, self.event, list(self.users), self.name, self.ref,
                  self.recalled, self.receipt, self.urgent]
        platform = self.card is not None or self.markdown
        everyday = (self.mentions or self.quote or self.forwarded or self.notice
                    or self.version or platform)
        if self.attachments or everyday:  # older records, and plain messages, stay as they were
            fields.append([a.row() for a in self.attachments])
        if everyday:
            # a plain message keeps its 1.2 size: the hot path writes and reads it
            fields += [list(self.mentions), self.quote and self.quote.encode(),
                       self.forwarded and self.forwarded.encode(), self.notice, self.version,
                       self.edited_ms]
        if platform:
            fields += [self.card and list(self.card), self.markdown]
        return pack(fields)

    @classmethod
    def decode(cls, conv: int, seq: int, data: bytes) -> Message:
        pos, sender, time_ms, text, cmid, to, *rest = unpack(data)
        if rest:
            rest[2] = tuple(rest[2])
        if len(rest) > 8:
            rest[8] = tuple(StoredAttachment.from_row(row) for row in rest[8])
        if len(rest) > 9:  # 1.5's fields, after 1.4's attachments
            rest[9] = tuple(rest[9])
            rest[10] = rest[10] and Quote(*rest[10])
            rest[11] = rest[11] and Origin(*rest[11])
        if len(rest) > 15:  # 1.10's, after 1.5's
            rest[15] = rest[15] and tuple(rest[15])
        return cls(conv, seq, pos, sender, time_ms, text, cmid, to, *rest[:17])

    def mentions_user(self, handle: str) -> bool:
        return bool(self.mentions) and (handle in self.mentions or "all" in self.mentions)


QUOTE_CHARS = 100  # how much of the replied-to text a reply keeps


@dataclass(frozen=True, slots=True)
class Quote:
    """A reply's snapshot of the message it answers (taken when the reply is stored)."""

    seq: int
    sender: str
    kind: str
    text: str  # the first QUOTE_CHARS characters
    pos: int  # the quoted message's position: who may see the text

    def encode(self) -> list[Any]:
        return [self.seq, self.sender, self.kind, self.text, self.pos]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a forwarded message comes from."""

    sender: str  # the original sender's handle
    time_ms: int
    conv: int
    seq: int

    def encode(self) -> list[Any]:
        return [self.sender, self.time_ms, self.conv, self.seq]


@dataclass(frozen=True, slots=True)
class Contact:
    """An external contact: owned by the corp, served by one employee."""

    corp_id: int
    employee: int
    consumer: int
    added_ms: int
    remark: str = ""

    def encode(self) -> bytes:
        return pack([self.corp_id, self.added_ms, self.remark])

    @classmethod
    def decode(cls, employee: int, consumer: int, data: bytes) -> Contact:
        corp_id, added, remark = unpack(data)[:3]
        return cls(corp_id, employee, consumer, added, remark)


@dataclass(frozen=True, slots=True)
class Department:
    dept_id: int
    corp_id: int
    name: str
    parent: int = 0  # 0 at the top of the tree

    def encode(self) -> bytes:
        return pack([self.corp_id, self.name, self.parent])

    @classmethod
    def decode(cls, dept_id: int, data: bytes) -> Department:
        return cls(dept_id, *unpack(data)[:3])


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """A cross-realm message (or a recall of one) kept for the corp."""

    corp_id: int
    time_ms: int
    pos: int
    conv: int
    seq: int
    sender: str
    realm: str  # the sender's
    text: str
    kind: str = TEXT  # or "recall"
    attachments: tuple[StoredAttachment, ...] = ()  # kept even once the message is recalled

    def encode(self) -> bytes:
        fields = [self.conv, self.seq, self.sender, self.realm, self.text, self.kind]
        if self.attachments:
            fields.append([a.row() for a in self.attachments])
        return pack(fields)

    @classmethod
    def decode(cls, corp_id: int, time_ms: int, pos: int, data: bytes) -> ArchiveEntry:
        conv, seq, sender, realm, text, kind, *rest = unpack(data)
        files = tuple(StoredAttachment.from_row(row) for row in rest[0]) if rest else ()
        return cls(corp_id, time_ms, pos, conv, seq, sender, realm, text, kind, files)
