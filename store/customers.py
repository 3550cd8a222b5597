"""Tables of customer management (issue 7): tags, transfers, moments.

Functions take an open transaction and the database handles (like
store/contacts.py), for Store.read and WriteTxn.do.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .records import StoredAttachment, pack, unpack
from .scan import Dbs, Txn, indexed
from .scan import prefix_items as _items

# ----- tags -----

def tag_groups(txn: Txn, db: Dbs, corp_id: int) -> dict[int, str]:
    return {keys.read_u64(k, 8): unpack(v) for k, v in _items(txn, db["tag_groups"],
                                                              keys.u64(corp_id))}


def put_tag_group(txn: Txn, db: Dbs, corp_id: int, group_id: int, name: str) -> None:
    txn.put(keys.pair(corp_id, group_id), pack(name), db=db["tag_groups"])


def tags(txn: Txn, db: Dbs, corp_id: int) -> dict[int, tuple[int, str]]:
    """tag id -> (group id, name) of a corp's tag library."""
    return {keys.read_u64(k, 8): tuple(unpack(v))
            for k, v in _items(txn, db["tags"], keys.u64(corp_id))}


def put_tag(txn: Txn, db: Dbs, corp_id: int, tag_id: int, group_id: int, name: str) -> None:
    txn.put(keys.pair(corp_id, tag_id), pack([group_id, name]), db=db["tags"])


def delete_tag(txn: Txn, db: Dbs, corp_id: int, tag_id: int) -> bool:
    return txn.delete(keys.pair(corp_id, tag_id), db=db["tags"])


def contact_tags(txn: Txn, db: Dbs, employee: int, consumer: int) -> set[int]:
    return {keys.read_u64(k, 16) for k, _ in _items(txn, db["contact_tags"],
                                                    keys.pair(employee, consumer))}


def contacts_tags(txn: Txn, db: Dbs, employee: int, consumers: list[int]) -> dict[int, set[int]]:
    """The tags of several of an employee's contacts, in one transaction."""
    return {c: contact_tags(txn, db, employee, c) for c in consumers}


def set_contact_tag(txn: Txn, db: Dbs, employee: int, consumer: int, tag_id: int,
                    on: bool) -> None:
    key = keys.triple(employee, consumer, tag_id)
    if on:
        txn.put(key, b"", db=db["contact_tags"])
    else:
        txn.delete(key, db=db["contact_tags"])


def move_contact_tags(txn: Txn, db: Dbs, old: int, new: int, consumer: int) -> None:
    for tag_id in contact_tags(txn, db, old, consumer):
        set_contact_tag(txn, db, old, consumer, tag_id, False)
        set_contact_tag(txn, db, new, consumer, tag_id, True)


# ----- customer transfers -----

@dataclass(frozen=True, slots=True)
class Transfer:
    consumer: int
    source: int  # the employee handing over
    target: int
    corp_id: int
    started_ms: int
    due_ms: int  # completes on its own then, unless refused
    message: str = ""
    state: str = "pending"  # pending, refused, done

    def encode(self) -> bytes:
        return pack([self.target, self.corp_id, self.started_ms, self.due_ms, self.message,
                     self.state])

    @classmethod
    def decode(cls, consumer: int, source: int, data: bytes) -> Transfer:
        return cls(consumer, source, *unpack(data)[:6])


def transfer(txn: Txn, db: Dbs, consumer: int, source: int) -> Transfer | None:
    raw = txn.get(keys.pair(consumer, source), db=db["transfers"])
    return None if raw is None else Transfer.decode(consumer, source, raw)


def put_transfer(txn: Txn, db: Dbs, record: Transfer) -> None:
    txn.put(keys.pair(record.consumer, record.source), record.encode(), db=db["transfers"])


def all_transfers(txn: Txn, db: Dbs) -> list[Transfer]:
    return [Transfer.decode(*keys.read_pair(k), v)
            for k, v in txn.cursor(db=db["transfers"]).iternext()]


def log_transfer(txn: Txn, db: Dbs, consumer: int, time_ms: int, source: int, target: int) -> None:
    txn.put(keys.pair(consumer, time_ms), pack([source, target]), db=db["transfer_log"])


def transfers_since(txn: Txn, db: Dbs, consumer: int, since_ms: int) -> int:
    return sum(1 for _ in _items(txn, db["transfer_log"], keys.u64(consumer),
                                 keys.pair(consumer, since_ms)))


# ----- moments -----

@dataclass(frozen=True, slots=True)
class Moment:
    employee: int
    moment_id: int
    time_ms: int
    text: str
    attachments: tuple[str, ...] = ()
    authored_by: int = 0  # a corp admin who drafted it, 0 when the employee wrote it
    media: tuple[StoredAttachment, ...] = ()  # uploaded files (1.4)

    def encode(self) -> bytes:
        fields = [self.time_ms, self.text, list(self.attachments), self.authored_by]
        if self.media:
            fields.append([a.row() for a in self.media])
        return pack(fields)

    @classmethod
    def decode(cls, employee: int, moment_id: int, data: bytes) -> Moment:
        time_ms, text, attachments, authored, *rest = unpack(data)
        media = tuple(StoredAttachment.from_row(row) for row in rest[0]) if rest else ()
        return cls(employee, moment_id, time_ms, text, tuple(attachments), authored, media)


def put_moment(txn: Txn, db: Dbs, moment: Moment) -> None:
    txn.put(keys.pair(moment.employee, moment.moment_id), moment.encode(), db=db["moments"])


def moments_of(txn: Txn, db: Dbs, employee: int, before_id: int | None,
               limit: int) -> list[Moment]:
    """An employee's moments, newest first (ids grow with time)."""
    out: list[Moment] = []
    cursor = txn.cursor(db=db["moments"])
    end = keys.pair(employee, before_id) if before_id else keys.u64(employee + 1)
    if cursor.set_range(end):
        moved = cursor.prev()
    else:
        moved = cursor.last()
    while moved and len(out) < limit:
        key = cursor.key()
        if keys.read_u64(key) != employee:
            break
        out.append(Moment.decode(employee, keys.read_u64(key, 8), cursor.value()))
        moved = cursor.prev()
    return out


def draft(txn: Txn, db: Dbs, corp_id: int, draft_id: int) -> list | None:
    raw = txn.get(keys.pair(corp_id, draft_id), db=db["moment_drafts"])
    return None if raw is None else unpack(raw)


def put_draft(txn: Txn, db: Dbs, corp_id: int, draft_id: int, value: list) -> None:
    txn.put(keys.pair(corp_id, draft_id), pack(value), db=db["moment_drafts"])


def owned_groups_with(txn: Txn, db: Dbs, owner: int, consumer: int) -> list[int]:
    """Groups `owner` owns in which `consumer` is a current member."""
    from .records import GROUP, OWNER, Conversation, Membership

    out = []
    for key, value in _items(txn, db["members"], keys.u64(owner)):
        conv, mine = keys.read_u64(key, 8), Membership.decode(value)
        if not mine.active or mine.role != OWNER:
            continue
        if Conversation.decode(conv, indexed(txn, db["convs"], keys.u64(conv))).kind != GROUP:
            continue
        theirs = txn.get(keys.pair(consumer, conv), db=db["members"])
        if theirs is not None and Membership.decode(theirs).active:
            out.append(conv)
    return out
