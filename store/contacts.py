"""Tables of the bridge: external contacts, contact requests, friends,
departments and the directory's name index, counters, daily quotas and the
corp archive.

Every function takes an open transaction and the database handles, so it
composes inside a read (Store) or a batch write (WriteTxn).
"""

from __future__ import annotations

from . import keys
from .records import ArchiveEntry, Contact, Department, User, pack, unpack
from .scan import Dbs, Txn
from .scan import prefix_items as _items

# ----- counters and quotas -----

def count(txn: Txn, db: Dbs, name: str, ident: int) -> int:
    raw = txn.get(keys.counter_key(name, ident), db=db["counters"])
    return 0 if raw is None else keys.read_u64(raw)


def bump(txn: Txn, db: Dbs, name: str, ident: int, delta: int) -> None:
    value = max(0, count(txn, db, name, ident) + delta)
    txn.put(keys.counter_key(name, ident), keys.u64(value), db=db["counters"])


def quota_used(txn: Txn, db: Dbs, name: str, ident: int, day: int) -> int:
    raw = txn.get(keys.quota_key(name, ident, day), db=db["quotas"])
    return 0 if raw is None else keys.read_u64(raw)


def use_quota(txn: Txn, db: Dbs, name: str, ident: int, day: int) -> None:
    used = quota_used(txn, db, name, ident, day)
    txn.put(keys.quota_key(name, ident, day), keys.u64(used + 1), db=db["quotas"])


# ----- external contacts -----

def contact(txn: Txn, db: Dbs, employee: int, consumer: int) -> Contact | None:
    raw = txn.get(keys.pair(employee, consumer), db=db["contacts"])
    return None if raw is None else Contact.decode(employee, consumer, raw)


def put_contact(txn: Txn, db: Dbs, record: Contact) -> None:
    txn.put(keys.pair(record.employee, record.consumer), record.encode(), db=db["contacts"])


def add_contact(txn: Txn, db: Dbs, record: Contact) -> None:
    put_contact(txn, db, record)
    txn.put(keys.pair(record.consumer, record.employee), keys.u64(record.corp_id),
            db=db["contacts_of"])
    bump(txn, db, "contacts.employee", record.employee, 1)
    bump(txn, db, "contacts.corp", record.corp_id, 1)


def remove_contact(txn: Txn, db: Dbs, record: Contact) -> None:
    txn.delete(keys.pair(record.employee, record.consumer), db=db["contacts"])
    txn.delete(keys.pair(record.consumer, record.employee), db=db["contacts_of"])
    bump(txn, db, "contacts.employee", record.employee, -1)
    bump(txn, db, "contacts.corp", record.corp_id, -1)


def contacts_of_employee(txn: Txn, db: Dbs, employee: int) -> list[Contact]:
    return [Contact.decode(employee, keys.read_u64(k, 8), v)
            for k, v in _items(txn, db["contacts"], keys.u64(employee))]


def contacts_among(txn: Txn, db: Dbs, employee: int, consumers: list[int]) -> set[int]:
    """Which of these consumers are the employee's contacts (one transaction for many)."""
    return {c for c in consumers if txn.get(keys.pair(employee, c), db=db["contacts"])}


def contacts_page(txn: Txn, db: Dbs, employee: int, after: int, limit: int) -> list[Contact]:
    """Up to `limit` of an employee's contacts whose consumer uid is above `after`, in
    uid order: a long walk in steps, so the event loop runs between them."""
    out = []
    for k, v in _items(txn, db["contacts"], keys.u64(employee), keys.pair(employee, after + 1)):
        out.append(Contact.decode(employee, keys.read_u64(k, 8), v))
        if len(out) == limit:
            break
    return out


def employees_of_consumer(txn: Txn, db: Dbs, consumer: int) -> list[int]:
    return [keys.read_u64(k, 8) for k, _ in _items(txn, db["contacts_of"], keys.u64(consumer))]


def request(txn: Txn, db: Dbs, consumer: int, employee: int) -> tuple[str, int] | None:
    raw = txn.get(keys.pair(consumer, employee), db=db["requests"])
    return None if raw is None else tuple(unpack(raw))


def put_request(txn: Txn, db: Dbs, consumer: int, employee: int, note: str, now_ms: int) -> None:
    txn.put(keys.pair(consumer, employee), pack([note, now_ms]), db=db["requests"])
    txn.put(keys.pair(employee, consumer), b"", db=db["requests_by"])


def drop_request(txn: Txn, db: Dbs, consumer: int, employee: int) -> bool:
    txn.delete(keys.pair(employee, consumer), db=db["requests_by"])
    return txn.delete(keys.pair(consumer, employee), db=db["requests"])


def requests_from(txn: Txn, db: Dbs, employee: int) -> list[tuple[int, str, int]]:
    """(consumer uid, note, time) of an employee's requests still waiting."""
    out = []
    for key, _ in _items(txn, db["requests_by"], keys.u64(employee)):
        consumer = keys.read_u64(key, 8)
        found = request(txn, db, consumer, employee)
        if found is not None:
            out.append((consumer, *found))
    return out


def requests_to(txn: Txn, db: Dbs, consumer: int) -> list[tuple[int, str, int]]:
    """(employee uid, note, time) of the requests waiting for a consumer."""
    return [(keys.read_u64(k, 8), *unpack(v)) for k, v in
            _items(txn, db["requests"], keys.u64(consumer))]


def index_senders(txn: Txn, db: Dbs) -> None:
    """Build the by-sender indexes of pending requests if a database made before them
    has requests but no index (once, at open; O(1) otherwise)."""
    for table, index in (("requests", "requests_by"), ("friend_reqs", "friend_reqs_by")):
        if txn.stat(db[index])["entries"] or not txn.stat(db[table])["entries"]:
            continue
        for key, _ in txn.cursor(db=db[table]).iternext():
            to, sender = keys.read_pair(key)
            txn.put(keys.pair(sender, to), b"", db=db[index])


# ----- consumer friends -----

def are_friends(txn: Txn, db: Dbs, a: int, b: int) -> bool:
    return txn.get(keys.pair(a, b), db=db["friends"]) is not None


def add_friends(txn: Txn, db: Dbs, a: int, b: int, now_ms: int) -> None:
    for x, y in ((a, b), (b, a)):
        txn.put(keys.pair(x, y), keys.u64(now_ms), db=db["friends"])
        bump(txn, db, "friends", x, 1)


def friend_request(txn: Txn, db: Dbs, to: int, sender: int) -> bool:
    return txn.get(keys.pair(to, sender), db=db["friend_reqs"]) is not None


def put_friend_request(txn: Txn, db: Dbs, to: int, sender: int, now_ms: int) -> None:
    txn.put(keys.pair(to, sender), keys.u64(now_ms), db=db["friend_reqs"])
    txn.put(keys.pair(sender, to), b"", db=db["friend_reqs_by"])


def drop_friend_request(txn: Txn, db: Dbs, to: int, sender: int) -> bool:
    txn.delete(keys.pair(sender, to), db=db["friend_reqs_by"])
    return txn.delete(keys.pair(to, sender), db=db["friend_reqs"])


def friend_requests_to(txn: Txn, db: Dbs, uid: int) -> list[tuple[int, int]]:
    """(sender uid, time) of the friend requests waiting for a user."""
    return [(keys.read_u64(k, 8), keys.read_u64(v))
            for k, v in _items(txn, db["friend_reqs"], keys.u64(uid))]


def friend_requests_from(txn: Txn, db: Dbs, uid: int) -> list[tuple[int, int]]:
    """(addressee uid, time) of a user's own friend requests still waiting."""
    out = []
    for key, _ in _items(txn, db["friend_reqs_by"], keys.u64(uid)):
        to = keys.read_u64(key, 8)
        raw = txn.get(keys.pair(to, uid), db=db["friend_reqs"])
        if raw is not None:
            out.append((to, keys.read_u64(raw)))
    return out


def remove_friends(txn: Txn, db: Dbs, a: int, b: int) -> bool:
    """End a friendship (both directions); False if they were not friends."""
    if not are_friends(txn, db, a, b):
        return False
    for x, y in ((a, b), (b, a)):
        txn.delete(keys.pair(x, y), db=db["friends"])
        bump(txn, db, "friends", x, -1)
    return True


def friends_of(txn: Txn, db: Dbs, uid: int) -> list[int]:
    return [keys.read_u64(k, 8) for k, _ in _items(txn, db["friends"], keys.u64(uid))]


# ----- departments and the directory's name index -----

def department(txn: Txn, db: Dbs, dept_id: int) -> Department | None:
    raw = txn.get(keys.u64(dept_id), db=db["depts"])
    return None if raw is None else Department.decode(dept_id, raw)


def put_department(txn: Txn, db: Dbs, dept: Department) -> None:
    txn.put(keys.u64(dept.dept_id), dept.encode(), db=db["depts"])


def departments(txn: Txn, db: Dbs, corp_id: int) -> list[Department]:
    return [d for d in (Department.decode(keys.read_u64(k), v)
                        for k, v in txn.cursor(db=db["depts"]).iternext())
            if d.corp_id == corp_id]


def index_name(txn: Txn, db: Dbs, user: User, old: User | None = None) -> None:
    """Keep the directory's name index in step with a user's display name."""
    if old is not None and old.corp_id:
        txn.delete(keys.dir_name_key(old.corp_id, old.display, old.uid), db=db["dir_names"])
    if user.corp_id:
        txn.put(keys.dir_name_key(user.corp_id, user.display, user.uid), b"", db=db["dir_names"])


def search_names(txn: Txn, db: Dbs, corp_id: int, prefix: str, limit: int) -> list[int]:
    start = keys.u64(corp_id) + prefix.casefold().encode()
    out = []
    for key, _ in _items(txn, db["dir_names"], start):
        out.append(keys.read_u64(key, len(key) - 8))
        if len(out) >= limit:
            break
    return out


# ----- archive -----

def archive(txn: Txn, db: Dbs, entry: ArchiveEntry) -> None:
    key = keys.triple(entry.corp_id, entry.time_ms, entry.pos)
    txn.put(key, entry.encode(), db=db["archive"])


def archive_page(txn: Txn, db: Dbs, corp_id: int, since_ms: int, until_ms: int, limit: int,
                 resume: bytes | None = None) -> tuple[list[ArchiveEntry], bytes | None]:
    """Entries from `since_ms` (or from where the previous page said to `resume`) up to
    `until_ms`: (entries, where the next page resumes, or None at the end)."""
    start = keys.pair(corp_id, since_ms) if resume is None else resume
    out: list[ArchiveEntry] = []
    for key, value in _items(txn, db["archive"], keys.u64(corp_id), start):
        _, time_ms = keys.read_pair(key)
        if time_ms > until_ms:
            return out, None
        if len(out) >= limit:
            return out, key
        out.append(ArchiveEntry.decode(corp_id, time_ms, keys.read_u64(key, 16), value))
    return out, None
