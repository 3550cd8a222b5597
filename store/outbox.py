"""The durable outbox of app callbacks (issue 23): events written in the same
transaction as the change that causes them, sent after the commit.

`emit` is called by the table functions that make the changes (store/contacts.py
add_contact / remove_contact, store/users.py put_user for departments,
store/customers.py put_transfer for transfers' results) and by the app
conversation's reply: so every writer of those changes, whichever operation it
runs in, writes the events inside its own WriteTxn, and a crash either keeps
both or neither.

Each event goes to every app of the corp that has a callback URL, under the
app's own next sequence number (its order). A per-app cursor says what was
delivered; delivered events stay for `replay` until swept.

Events carry the time of the change on the server's clock: `set_clock` is called
by the App with its (injectable) clock, since the table functions take no time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import keys
from .apps import all_apps
from .records import User, pack, unpack
from .scan import Dbs, Txn
from .scan import prefix_items as _items

_clock: Callable[[], int] = lambda: int(time.time() * 1000)  # noqa: E731


def set_clock(now_ms: Callable[[], int]) -> None:
    global _clock
    _clock = now_ms


@dataclass(frozen=True, slots=True)
class Event:
    app_id: int
    seq: int  # the app's own order, from 1
    event_id: str
    type: str
    time_ms: int
    data: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {"id": self.event_id, "seq": self.seq, "type": self.type, "time": self.time_ms,
                "data": self.data}


@dataclass(frozen=True, slots=True)
class Cursor:
    """An app's delivery state."""

    delivered: int = 0  # every event up to this seq was acknowledged
    last: int = 0  # the last seq written
    attempts: int = 0  # failed attempts at the next event since its last success
    next_attempt_ms: int = 0
    failing_since_ms: int = 0  # the first failure of the current run of failures
    last_error: str = ""
    failing: bool = False  # retries gave up: `admin app replay` resumes

    def encode(self) -> bytes:
        return pack([self.delivered, self.last, self.attempts, self.next_attempt_ms,
                     self.failing_since_ms, self.last_error, self.failing])

    @classmethod
    def decode(cls, data: bytes) -> Cursor:
        return cls(*unpack(data)[:7])


def cursor(txn: Txn, db: Dbs, app_id: int) -> Cursor:
    raw = txn.get(keys.u64(app_id), db=db["outbox_state"])
    return Cursor.decode(raw) if raw is not None else Cursor()


def put_cursor(txn: Txn, db: Dbs, app_id: int, state: Cursor) -> None:
    txn.put(keys.u64(app_id), state.encode(), db=db["outbox_state"])


def _listeners(txn: Txn, db: Dbs, corp_id: int) -> list[int]:
    """The apps of the corp with a callback URL (apps are few: a scan)."""
    return [a.app_id for a in all_apps(txn, db) if a.corp_id == corp_id and a.callback_url]


def emit(txn: Txn, db: Dbs, corp_id: int, type_: str, data: dict[str, Any],
         only_app: int | None = None) -> int:
    """Write one event for each listening app of the corp; how many were written."""
    apps = [only_app] if only_app is not None else _listeners(txn, db, corp_id)
    now = _clock()
    for app_id in apps:
        state = cursor(txn, db, app_id)
        seq = state.last + 1
        event_id = f"evt_{app_id}_{seq}"
        txn.put(keys.pair(app_id, seq), pack([event_id, type_, now, data]), db=db["outbox"])
        put_cursor(txn, db, app_id, _with_last(state, seq))
    return len(apps)


def _handle(txn: Txn, db: Dbs, uid: int) -> str:
    raw = txn.get(keys.u64(uid), db=db["users"])
    return User.decode(uid, raw).handle if raw is not None else str(uid)


def contact_event(txn: Txn, db: Dbs, corp_id: int, employee: int, customer: int,
                  added: bool) -> None:
    """customer.added / customer.removed: the employee and the customer, by handle."""
    emit(txn, db, corp_id, "customer.added" if added else "customer.removed",
         {"employee": _handle(txn, db, employee), "customer": _handle(txn, db, customer)})


def department_events(txn: Txn, db: Dbs, old: User | None, new: User) -> None:
    """department.left / department.joined when an employee's department changes."""
    before = old.dept if old is not None else 0
    if before == new.dept or not new.corp_id:
        return
    if before:
        emit(txn, db, new.corp_id, "department.left", {"user": new.handle, "department": before})
    if new.dept:
        emit(txn, db, new.corp_id, "department.joined",
             {"user": new.handle, "department": new.dept})


def transfer_event(txn: Txn, db: Dbs, corp_id: int, consumer: int, source: int, target: int,
                   result: str) -> None:
    """transfer.result: a customer transfer completed (done) or not (refused, cancelled)."""
    emit(txn, db, corp_id, "transfer.result", {
        "customer": _handle(txn, db, consumer), "from": _handle(txn, db, source),
        "to": _handle(txn, db, target), "result": result})


def _with_last(state: Cursor, seq: int) -> Cursor:
    from dataclasses import replace

    return replace(state, last=seq)


def pending(txn: Txn, db: Dbs, app_id: int, after: int, limit: int) -> list[Event]:
    """Up to `limit` events of the app after seq `after`, in order."""
    found = []
    for key, value in _items(txn, db["outbox"], keys.u64(app_id)):
        seq = keys.read_u64(key, 8)
        if seq <= after:
            continue
        event_id, type_, time_ms, data = unpack(value)[:4]
        found.append(Event(app_id, seq, event_id, type_, time_ms, data))
        if len(found) >= limit:
            break
    return found


def first_since(txn: Txn, db: Dbs, app_id: int, since_ms: int) -> int | None:
    """The seq of the app's first kept event at or after `since_ms`."""
    for key, value in _items(txn, db["outbox"], keys.u64(app_id)):
        if unpack(value)[2] >= since_ms:
            return keys.read_u64(key, 8)
    return None


def sweep(txn: Txn, db: Dbs, app_id: int, upto: int, before_ms: int, limit: int = 1000) -> int:
    """Drop delivered events (seq <= upto) older than `before_ms`; how many went."""
    gone: list[bytes] = []
    for key, value in _items(txn, db["outbox"], keys.u64(app_id)):
        if keys.read_u64(key, 8) > upto or unpack(value)[2] >= before_ms or len(gone) >= limit:
            break
        gone.append(key)
    for key in gone:
        txn.delete(key, db=db["outbox"])
    return len(gone)


def drop_app(txn: Txn, db: Dbs, app_id: int) -> None:
    for key, _ in list(_items(txn, db["outbox"], keys.u64(app_id))):
        txn.delete(key, db=db["outbox"])
    txn.delete(keys.u64(app_id), db=db["outbox_state"])
