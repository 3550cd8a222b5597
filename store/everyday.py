"""Tables of everyday messaging (1.5): edit versions, reactions, pins, the group
notice, mutes, and the events they put in the stream.

The stream (docs/protocol.md §8) orders everything a device must learn by
`pos`, one counter for messages and events alike. A message takes a `pos`
and a `seq` (conv_pos); an edit or a reaction change takes only a `pos`, in
`conv_events` (conv | pos), so that `sync` returns it after the messages
committed before it and before those committed after, exactly once:

* every edit keeps its own entry (edits are rare, and a former member must
  see those made before their removal even if more came after);
* a message has at most one reaction entry, at the position of its last
  change: a change deletes the previous entry and writes the new one, so a
  storm of reactions leaves one event in the stream, carrying the counts.

A mute is a user's own state: its event is in `user_events` (uid | pos),
merged into that user's stream only.

Reads take the transaction with keyword-only ids, shared by Store and
WriteTxn (see messages.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from . import keys
from .records import Membership, Message, StoredAttachment, pack, unpack
from .scan import Dbs, Txn, prefix_items

EDIT = "edit"
REACTION = "reaction"
MUTE = "mute"


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a message's text and files (0: as sent)."""

    version: int
    text: str
    time_ms: int
    pos: int  # where it entered the stream (the message's own pos for version 0)
    editor: str
    files: tuple[StoredAttachment, ...] | None  # None: a 1.5 record (the message's files)


@dataclass(frozen=True, slots=True)
class EditEvent:
    conv: int
    seq: int
    pos: int
    text: str
    edited_ms: int
    version: int
    files: tuple[StoredAttachment, ...] = ()  # the version's attachments (1.8)


@dataclass(frozen=True, slots=True)
class ReactionState:
    conv: int
    seq: int
    pos: int
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class MuteState:
    conv: int
    pos: int
    until: int | None  # None: not muted; 0: until unmuted


StreamEvent = EditEvent | ReactionState | MuteState


# ----- edits -----------------------------------------------------------------


def _files(row: list[Any]) -> tuple[StoredAttachment, ...] | None:
    """A version record's files (None: a 1.5 record, written before edits took files)."""
    if len(row) < 5:
        return None
    return tuple(StoredAttachment.from_row(f) for f in row[4])


def versions(txn: Txn, db: Dbs, *, conv: int, seq: int) -> list[Version]:
    """Every stored version of a message's text, oldest first (empty: never edited)."""
    out = []
    for key, value in prefix_items(txn, db["edits"], keys.pair(conv, seq)):
        row = unpack(value)
        text, time_ms, pos, editor = row[:4]
        out.append(Version(keys.read_u64(key, 16), text, time_ms, pos, editor, _files(row)))
    return out


def _version_row(text: str, time_ms: int, pos: int, editor: str,
                 files: tuple[StoredAttachment, ...]) -> bytes:
    return pack([text, time_ms, pos, editor, [f.row() for f in files]])


def put_edit(txn: Txn, db: Dbs, msg: Message, text: str,
             files: tuple[StoredAttachment, ...] | None, *, pos: int, now_ms: int,
             editor: str) -> Message:
    """Store a new version of `msg` at stream position `pos` with these files (None:
    the message's own); the message record holds the latest. Returns the edited
    message."""
    base = keys.pair(msg.conv, msg.seq)
    if msg.version == 0:  # the original, so the archive and former members keep it
        txn.put(base + keys.u64(0), _version_row(msg.text, msg.time_ms, msg.pos, msg.sender,
                                                 msg.attachments), db=db["edits"])
    elif files is not None and files != msg.attachments:
        _record_files(txn, db, msg)
    version = msg.version + 1
    kept = msg.attachments if files is None else files
    txn.put(base + keys.u64(version), _version_row(text, now_ms, pos, editor, kept),
            db=db["edits"])
    txn.put(keys.pair(msg.conv, pos), pack([EDIT, msg.seq, version]), db=db["conv_events"])
    # the search index follows `stream`: the message is indexed again, edited, from here
    txn.put(keys.u64(pos), base, db=db["stream"])
    return replace(msg, text=text, attachments=kept, version=version, edited_ms=now_ms)


def _record_files(txn: Txn, db: Dbs, msg: Message) -> None:
    """Before the files first change, write them into the versions stored without
    (1.5's: their files were the message's, which no edit could change then)."""
    for old in versions(txn, db, conv=msg.conv, seq=msg.seq):
        if old.files is None:
            txn.put(keys.triple(msg.conv, msg.seq, old.version),
                    _version_row(old.text, old.time_ms, old.pos, old.editor, msg.attachments),
                    db=db["edits"])


def as_seen(txn: Txn, db: Dbs, msg: Message, membership: Membership) -> Message:
    """The message as a member sees it: a former member sees the version current at
    their removal, not later edits."""
    if not msg.version or membership.left_pos == 0:
        return msg
    seen = [v for v in versions(txn, db, conv=msg.conv, seq=msg.seq)
            if v.pos <= membership.left_pos]
    if not seen or seen[-1].version == msg.version:
        return msg
    last = seen[-1]
    edited = last.time_ms if last.version else 0
    files = msg.attachments if last.files is None else last.files
    return replace(msg, text="" if msg.recalled else last.text,
                   attachments=() if msg.recalled else files, version=last.version,
                   edited_ms=edited)


@dataclass(frozen=True, slots=True)
class Seen:
    """What a reader sees of one message beyond the record (pages)."""

    message: Message
    reactions: dict[str, int]
    reacted: tuple[str, ...]
    quote_shown: bool  # the reader sees the quoted original (its text may be shown)
    quote_recalled: bool  # the quoted original has been recalled since


def as_read(txn: Txn, db: Dbs, *, uid: int, msgs: list[Message]) -> list[Seen]:
    """Messages of a page as `uid` sees them: the version current at a former
    member's removal, the reactions (as of their removal) with their own, and
    whether the quote of a reply may show its text."""
    memberships: dict[int, Membership | None] = {}
    out = []
    for msg in msgs:
        if msg.conv not in memberships:
            raw = txn.get(keys.pair(uid, msg.conv), db=db["members"])
            memberships[msg.conv] = None if raw is None else Membership.decode(raw)
        membership = memberships[msg.conv]
        if membership is None:
            out.append(Seen(msg, {}, (), False, False))
            continue
        msg = as_seen(txn, db, msg, membership)
        counts, last = reaction_counts(txn, db, conv=msg.conv, seq=msg.seq)
        if membership.left_pos and last > membership.left_pos:
            counts = counts_at(txn, db, conv=msg.conv, seq=msg.seq, pos=membership.left_pos)
        mine = reacted(txn, db, conv=msg.conv, seq=msg.seq, uid=uid, emojis=list(counts)) \
            if counts else ()
        shown = recalled = False
        if msg.quote is not None:
            shown = membership.sees(msg.quote.pos)
            raw = txn.get(keys.pair(msg.conv, msg.quote.seq), db=db["msgs"])
            recalled = raw is not None and Message.decode(msg.conv, msg.quote.seq, raw).recalled
        out.append(Seen(msg, counts, mine, shown, recalled))
    return out


# ----- reactions -------------------------------------------------------------


def reaction_counts(txn: Txn, db: Dbs, *, conv: int, seq: int) -> tuple[dict[str, int], int]:
    """A message's reactions (emoji -> count) and the pos of their last change."""
    raw = txn.get(keys.pair(conv, seq), db=db["reaction_counts"])
    if raw is None:
        return {}, 0
    counts, pos = unpack(raw)[:2]
    return counts, pos


def reacted(txn: Txn, db: Dbs, *, conv: int, seq: int, uid: int,
            emojis: list[str]) -> tuple[str, ...]:
    """Which of these emoji `uid` stands reacted with on a message."""
    out = []
    for emoji in emojis:
        raw = txn.get(keys.reaction_key(conv, seq, emoji, uid), db=db["reactions"])
        if raw is not None and unpack(raw)[1] == 0:
            out.append(emoji)
    return tuple(out)


def counts_at(txn: Txn, db: Dbs, *, conv: int, seq: int, pos: int) -> dict[str, int]:
    """A message's reactions as they stood at stream position `pos` (a former
    member's view: changes after their removal are not theirs to see)."""
    counts: dict[str, int] = {}
    base = keys.pair(conv, seq)
    for key, value in prefix_items(txn, db["reactions"], base):
        on_pos, off_pos = unpack(value)[:2]
        if on_pos <= pos and (off_pos == 0 or off_pos > pos):
            emoji = key[16:-9].decode()
            counts[emoji] = counts.get(emoji, 0) + 1
    return counts


def set_reaction(txn: Txn, db: Dbs, *, conv: int, seq: int, uid: int, emoji: str, on: bool,
                 pos: int, now_ms: int, max_distinct: int) -> ReactionState | None | str:
    """Add or take back one user's reaction at stream position `pos`.

    Returns the message's new reaction state; None if nothing changed (already
    so: the write is still answered, nothing is told); "limit" if `emoji` would
    be one distinct emoji too many.
    """
    key = keys.reaction_key(conv, seq, emoji, uid)
    raw = txn.get(key, db=db["reactions"])
    standing = raw is not None and unpack(raw)[1] == 0
    if standing == on:
        return None
    counts, last = reaction_counts(txn, db, conv=conv, seq=seq)
    if on and emoji not in counts and len(counts) >= max_distinct:
        return "limit"
    if on:
        txn.put(key, pack([pos, 0, now_ms]), db=db["reactions"])
        counts[emoji] = counts.get(emoji, 0) + 1
    else:
        assert raw is not None  # standing: taking back a reaction that stands
        on_pos = unpack(raw)[0]
        txn.put(key, pack([on_pos, pos, now_ms]), db=db["reactions"])
        counts[emoji] -= 1
        if not counts[emoji]:
            del counts[emoji]
    txn.put(keys.pair(conv, seq), pack([counts, pos]), db=db["reaction_counts"])
    if last:  # the message's one reaction entry moves to this change
        txn.delete(keys.pair(conv, last), db=db["conv_events"])
    txn.put(keys.pair(conv, pos), pack([REACTION, seq, 0]), db=db["conv_events"])
    return ReactionState(conv, seq, pos, counts)


def reactors(txn: Txn, db: Dbs, *, conv: int, seq: int, emoji: str, offset: int,
             limit: int) -> tuple[list[int], int]:
    """(uids of one page, how many in all) who stand reacted with `emoji`, by uid."""
    prefix = keys.pair(conv, seq) + emoji.encode() + b"\x00"
    uids = []
    total = 0
    for key, value in prefix_items(txn, db["reactions"], prefix):
        if unpack(value)[1] != 0:
            continue
        if offset <= total < offset + limit:
            uids.append(keys.read_u64(key, len(prefix)))
        total += 1
    return uids, total


# ----- pins and the group notice ---------------------------------------------


def pins(txn: Txn, db: Dbs, *, conv: int) -> list[tuple[int, str, int]]:
    """(seq, by, time ms) of a conversation's pinned messages, in seq order."""
    return [(keys.read_u64(key, 8), *unpack(value)[:2])
            for key, value in prefix_items(txn, db["pins"], keys.u64(conv))]


def pin(txn: Txn, db: Dbs, *, conv: int, seq: int, by: str, now_ms: int) -> None:
    txn.put(keys.pair(conv, seq), pack([by, now_ms]), db=db["pins"])


def unpin(txn: Txn, db: Dbs, *, conv: int, seq: int) -> bool:
    return bool(txn.delete(keys.pair(conv, seq), db=db["pins"]))


def notice_seq(txn: Txn, db: Dbs, *, conv: int) -> int:
    raw = txn.get(keys.u64(conv), db=db["notices"])
    return 0 if raw is None else keys.read_u64(raw)


def set_notice(txn: Txn, db: Dbs, *, conv: int, seq: int) -> None:
    txn.put(keys.u64(conv), keys.u64(seq), db=db["notices"])


# ----- mutes -----------------------------------------------------------------


def mutes_of(txn: Txn, db: Dbs, *, uid: int) -> dict[int, int]:
    """conv -> until ms (0: until unmuted) of a user's muted conversations."""
    return {keys.read_u64(key, 8): keys.read_u64(value)
            for key, value in prefix_items(txn, db["mutes"], keys.u64(uid))}


def all_mutes(txn: Txn, db: Dbs) -> dict[tuple[int, int], int]:
    """(uid, conv) -> until of every mute (loaded once by the hub)."""
    cursor = txn.cursor(db=db["mutes"])
    return {keys.read_pair(key): keys.read_u64(value) for key, value in cursor}


def set_mute(txn: Txn, db: Dbs, *, uid: int, conv: int, until: int | None,
             pos: int) -> MuteState:
    """Mute (until ms; 0: until unmuted) or unmute (None) at stream position `pos`."""
    key = keys.pair(uid, conv)
    if until is None:
        txn.delete(key, db=db["mutes"])
    else:
        txn.put(key, keys.u64(until), db=db["mutes"])
    txn.put(keys.pair(uid, pos), pack([MUTE, conv, until]), db=db["user_events"])
    return MuteState(conv, pos, until)


# ----- the stream ------------------------------------------------------------


def conv_events(txn: Txn, db: Dbs, conv: int, membership: Membership,
                since: int) -> Iterator[tuple[int, int, bytes]]:
    """(pos, conv, record) of a conversation's events after `since` the member sees:
    within their membership, on messages they see (a member added later sees no
    reactions on messages from before they joined that they do not see)."""
    start = max(since + 1, membership.joined_pos)
    for key, value in prefix_items(txn, db["conv_events"], keys.u64(conv),
                                   keys.pair(conv, start)):
        pos = keys.read_u64(key, 8)
        if membership.left_pos and pos > membership.left_pos:
            return
        yield pos, conv, value


def user_events(txn: Txn, db: Dbs, uid: int, since: int) -> Iterator[tuple[int, int, bytes]]:
    for key, value in prefix_items(txn, db["user_events"], keys.u64(uid),
                                   keys.pair(uid, since + 1)):
        yield keys.read_u64(key, 8), 0, value


def read_event(txn: Txn, db: Dbs, conv: int, pos: int, record: bytes,
               membership: Membership | None) -> StreamEvent | None:
    """The event a stream entry stands for, as the member may see it (None: not)."""
    kind, ref, version = unpack(record)[:3]
    if kind == MUTE:
        return MuteState(ref, pos, version)
    raw = txn.get(keys.pair(conv, ref), db=db["msgs"])
    if raw is None:
        return None
    msg = Message.decode(conv, ref, raw)
    if membership is not None and not membership.sees(msg.pos):
        return None
    if kind == REACTION:
        return ReactionState(conv, ref, pos, reaction_counts(txn, db, conv=conv, seq=ref)[0])
    found = txn.get(keys.triple(conv, ref, version), db=db["edits"])
    if found is None:
        return None
    row = unpack(found)
    text, time_ms = row[:2]
    if msg.recalled:
        return EditEvent(conv, ref, pos, "", time_ms, version)
    files = _files(row)
    return EditEvent(conv, ref, pos, text, time_ms, version,
                     msg.attachments if files is None else files)


def visible_message(txn: Txn, db: Dbs, *, uid: int, conv: int, seq: int) -> Message | None:
    """A message of `conv` that `uid` sees (within their membership), or None."""
    raw = txn.get(keys.pair(uid, conv), db=db["members"])
    found = txn.get(keys.pair(conv, seq), db=db["msgs"])
    if raw is None or found is None:
        return None
    msg = Message.decode(conv, seq, found)
    return msg if Membership.decode(raw).sees(msg.pos) else None
