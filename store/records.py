"""Value encodings of stored records (msgpack arrays, versioned by length).

Records are positional arrays to keep them small; a later version appends
fields and reads older, shorter arrays with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

ENTERPRISE = "enterprise"
CONSUMER = "consumer"
DIRECT = "direct"
GROUP = "group"


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> list:
    return msgpack.unpackb(data, raw=False, use_list=True)


@dataclass(frozen=True, slots=True)
class Corp:
    corp_id: int
    name: str
    created_ms: int

    def encode(self) -> bytes:
        return pack([self.name, self.created_ms])

    @classmethod
    def decode(cls, corp_id: int, data: bytes) -> "Corp":
        name, created = unpack(data)[:2]
        return cls(corp_id, name, created)


@dataclass(frozen=True, slots=True)
class User:
    uid: int
    handle: str
    realm: str
    corp_id: int  # 0 for consumers
    created_ms: int
    disabled: bool = False

    def encode(self) -> bytes:
        return pack([self.handle, self.realm, self.corp_id, self.created_ms, self.disabled])

    @classmethod
    def decode(cls, uid: int, data: bytes) -> "User":
        handle, realm, corp_id, created, disabled = unpack(data)[:5]
        return cls(uid, handle, realm, corp_id, created, disabled)


@dataclass(frozen=True, slots=True)
class Token:
    token_id: str
    uid: int
    created_ms: int

    def encode(self) -> bytes:
        return pack([self.token_id, self.uid, self.created_ms])

    @classmethod
    def decode(cls, data: bytes) -> "Token":
        token_id, uid, created = unpack(data)[:3]
        return cls(token_id, uid, created)


@dataclass(frozen=True, slots=True)
class Conversation:
    conv: int
    kind: str
    created_ms: int

    def encode(self) -> bytes:
        return pack([self.kind, self.created_ms])

    @classmethod
    def decode(cls, conv: int, data: bytes) -> "Conversation":
        kind, created = unpack(data)[:2]
        return cls(conv, kind, created)


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's place in a conversation: they see positions [joined_pos, left_pos]."""

    joined_pos: int
    left_pos: int = 0  # 0 while still a member

    @property
    def active(self) -> bool:
        return self.left_pos == 0

    def sees(self, pos: int) -> bool:
        return pos >= self.joined_pos and (self.left_pos == 0 or pos <= self.left_pos)

    def encode(self) -> bytes:
        return pack([self.joined_pos, self.left_pos])

    @classmethod
    def decode(cls, data: bytes) -> "Membership":
        joined, left = unpack(data)[:2]
        return cls(joined, left)


@dataclass(frozen=True, slots=True)
class Message:
    conv: int
    seq: int
    pos: int
    sender: str  # handle
    time_ms: int
    text: str
    client_msg_id: str
    to: str | None = None  # the recipient's handle, in direct conversations

    def encode(self) -> bytes:
        return pack([self.pos, self.sender, self.time_ms, self.text, self.client_msg_id, self.to])

    @classmethod
    def decode(cls, conv: int, seq: int, data: bytes) -> "Message":
        pos, sender, time_ms, text, cmid, to = unpack(data)[:6]
        return cls(conv, seq, pos, sender, time_ms, text, cmid, to)
