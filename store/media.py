"""Media records: what an uploaded file is, who uploaded it, and what refers to it.

An upload's life in four tables (keys in store/keys.py):

  media_pending  media id -> MediaRecord  an upload no message refers to yet
  media_expiry   expires ms u64 | media id -> b""  (the sweep's order)
  media          media id -> MediaRecord  referenced at least once: kept
  media_refs     media id | conv u64 | seq u64 -> b""  messages that carry it
                 media id | 0 u64 | employee u64 | moment u64 -> b""  moments
  media_hashes   sha256 32 bytes -> [records, size]  (a file is removed at 0)

`add_pending` is committed once the upload's file is durable (the upload
route answers 201 after that commit). `claim` moves it to `media` in the same
transaction as the first message or moment that references it, so a message
never names a record a crash could lose; `sweep` removes pending uploads past
their expiry and answers the hashes no record needs any more, whose files the
caller removes after the commit (store/blobs.py). The counters `media_files`
and `media_bytes` count distinct files; `corp_media` counts each corp's
bytes (records, not files: what its people uploaded) for its quota.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace

from . import contacts, conversations, keys, messages, users
from .contacts import bump, count, quota_used
from .records import Membership, User, pack, unpack
from .scan import Dbs, Txn, prefix_items

MEDIA_ID_CHARS = 22  # secrets.token_urlsafe(16): 128 random bits
MOMENT_REF = 0  # the conv slot of a moment's reference (no conversation is 0)


def new_media_id() -> str:
    return secrets.token_urlsafe(16)


def valid_media_id(media_id: str) -> bool:
    return (len(media_id) == MEDIA_ID_CHARS
            and all(c.isascii() and (c.isalnum() or c in "-_") for c in media_id))


@dataclass(frozen=True, slots=True)
class MediaRecord:
    media_id: str
    sha256: str  # hex
    size: int
    mime: str  # sniffed from the bytes, never the client's word
    uploader: int  # uid
    created_ms: int
    name: str = ""  # the file name the uploader gave (`?name=`)
    width: int = 0  # images: pixels, after EXIF orientation
    height: int = 0
    duration_ms: int = 0  # audio and video, when known
    corp_id: int = 0  # the uploader's corp (0: a consumer), for the corp quota
    animated: bool = False

    def encode(self) -> bytes:
        return pack([self.sha256, self.size, self.mime, self.uploader, self.created_ms,
                     self.name, self.width, self.height, self.duration_ms, self.corp_id,
                     self.animated])

    @classmethod
    def decode(cls, media_id: str, data: bytes) -> MediaRecord:
        return cls(media_id, *unpack(data)[:11])


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A message (conv, seq) or, with conv == MOMENT_REF, a moment (employee, moment)."""

    conv: int
    seq: int
    employee: int = 0
    moment: int = 0


@dataclass(frozen=True, slots=True)
class MessageSighting:
    """A message carrying the file, as the viewer stands to it."""

    membership: Membership | None  # the viewer's in its conversation (None: never a member)
    pos: int
    recalled: bool


@dataclass(frozen=True, slots=True)
class MomentSighting:
    """A moment carrying the file."""

    author: User | None
    viewer_is_customer: bool  # the viewer is an external contact of the author now


Sighting = MessageSighting | MomentSighting


def _id(media_id: str) -> bytes:
    return media_id.encode("ascii")


# ----- reads -----

def get_media(txn: Txn, db: Dbs, *, media_id: str) -> tuple[MediaRecord, bool] | None:
    """The record and whether it is committed (referenced); None if unknown."""
    if not valid_media_id(media_id):
        return None
    raw = txn.get(_id(media_id), db=db["media"])
    if raw is not None:
        return MediaRecord.decode(media_id, raw), True
    raw = txn.get(_id(media_id), db=db["media_pending"])
    return None if raw is None else (MediaRecord.decode(media_id, raw), False)


def refs(txn: Txn, db: Dbs, *, media_id: str) -> list[MediaRef]:
    """Every message and moment that carries the media, in key order."""
    prefix = _id(media_id)
    out = []
    for key, _ in prefix_items(txn, db["media_refs"], prefix):
        conv, second = keys.read_pair(key[len(prefix):])
        if conv == MOMENT_REF:
            out.append(MediaRef(0, 0, second, keys.read_u64(key, len(prefix) + 16)))
        else:
            out.append(MediaRef(conv, second))
    return out


def sightings(txn: Txn, db: Dbs, *, media_id: str, uid: int) -> Iterator[Sighting]:
    """The facts of each reference as user `uid` stands to it (for bridge/media.py).
    A generator: consume it inside the transaction."""
    for ref in refs(txn, db, media_id=media_id):
        if ref.conv == MOMENT_REF:
            tie = contacts.contact(txn, db, ref.employee, uid)
            yield MomentSighting(users.get_user(txn, db, uid=ref.employee), tie is not None)
            continue
        msg = messages.get_message(txn, db, conv=ref.conv, seq=ref.seq)
        if msg is None:
            continue
        mine = conversations.membership(txn, db, uid=uid, conv=ref.conv)
        yield MessageSighting(mine, msg.pos, msg.recalled)


def hash_records(txn: Txn, db: Dbs, *, sha256: str) -> int:
    """How many records (pending or referenced) need the file of this hash."""
    raw = txn.get(bytes.fromhex(sha256), db=db["media_hashes"])
    return 0 if raw is None else int(unpack(raw)[0])


def stats(txn: Txn, db: Dbs) -> tuple[int, int]:
    """(distinct files, their bytes)."""
    return count(txn, db, "media_files", 0), count(txn, db, "media_bytes", 0)


def corp_bytes(txn: Txn, db: Dbs, *, corp_id: int) -> int:
    return count(txn, db, "corp_media", corp_id)


def uploaded_today(txn: Txn, db: Dbs, *, uid: int, day: int) -> int:
    return quota_used(txn, db, "upload_bytes", uid, day)


def all_hashes(txn: Txn, db: Dbs) -> list[str]:
    """Every file some record needs (what a backup copies)."""
    return [key.hex() for key, _ in prefix_items(txn, db["media_hashes"], b"")]


# ----- writes -----

def add_pending(txn: Txn, db: Dbs, record: MediaRecord, *, expires_ms: int, day: int) -> None:
    """Remember a durable upload until a message claims it or it expires."""
    txn.put(_id(record.media_id), record.encode(), db=db["media_pending"])
    txn.put(keys.u64(expires_ms) + _id(record.media_id), b"", db=db["media_expiry"])
    _count_hash(txn, db, record, +1)
    bump(txn, db, "corp_media", record.corp_id, record.size)
    key = keys.quota_key("upload_bytes", record.uploader, day)
    txn.put(key, keys.u64(uploaded_today(txn, db, uid=record.uploader, day=day) + record.size),
            db=db["quotas"])


def claim(txn: Txn, db: Dbs, *, media_id: str) -> MediaRecord | None:
    """Commit a pending upload as referenced (no-op when it is already); None if unknown."""
    found = get_media(txn, db, media_id=media_id)
    if found is None:
        return None
    record, committed = found
    if not committed:
        txn.delete(_id(media_id), db=db["media_pending"])
        txn.put(_id(media_id), record.encode(), db=db["media"])
    return record


def add_message_ref(txn: Txn, db: Dbs, *, media_id: str, conv: int, seq: int) -> None:
    txn.put(_id(media_id) + keys.pair(conv, seq), b"", db=db["media_refs"])


def add_moment_ref(txn: Txn, db: Dbs, *, media_id: str, employee: int, moment: int) -> None:
    txn.put(_id(media_id) + keys.triple(MOMENT_REF, employee, moment), b"",
            db=db["media_refs"])


def sweep(txn: Txn, db: Dbs, *, now_ms: int, limit: int) -> list[str]:
    """Drop up to `limit` pending uploads expired by `now_ms`; the hashes left
    without any record (their files may go once this commits)."""
    expired: list[bytes] = []
    for key, _ in prefix_items(txn, db["media_expiry"], b""):
        if keys.read_u64(key) > now_ms or len(expired) >= limit:
            break
        expired.append(key)
    orphans = []
    for key in expired:
        txn.delete(key, db=db["media_expiry"])
        media_id = key[8:].decode("ascii")
        raw = txn.get(key[8:], db=db["media_pending"])
        if raw is None:  # claimed meanwhile: kept
            continue
        record = MediaRecord.decode(media_id, raw)
        txn.delete(key[8:], db=db["media_pending"])
        bump(txn, db, "corp_media", record.corp_id, -record.size)
        if _count_hash(txn, db, record, -1) == 0:
            orphans.append(record.sha256)
    return orphans


def _count_hash(txn: Txn, db: Dbs, record: MediaRecord, delta: int) -> int:
    """Change a file's record count; the count after. The first and last change
    the distinct-file counters."""
    key = bytes.fromhex(record.sha256)
    raw = txn.get(key, db=db["media_hashes"])
    records = unpack(raw)[0] if raw is not None else 0
    after = max(0, records + delta)
    if after:
        txn.put(key, pack([after, record.size]), db=db["media_hashes"])
    elif raw is not None:
        txn.delete(key, db=db["media_hashes"])
    if (records == 0) != (after == 0):
        sign = 1 if after else -1
        bump(txn, db, "media_files", 0, sign)
        bump(txn, db, "media_bytes", 0, sign * record.size)
    return after


def renamed(record: MediaRecord, name: str | None) -> MediaRecord:
    """The record as a message shows it: the sender's name for the file, if given."""
    return record if not name else replace(record, name=name)
