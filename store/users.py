"""Tables of users and corps: the user records, the handle and corp-name indexes.

Every function takes an open transaction and the database handles, so it
composes inside a read (Store) or a batch write (WriteTxn). Bearer tokens stay
with the Store for now (store/store.py).
"""

from __future__ import annotations

from . import keys
from .records import Corp, User
from .scan import Dbs, Txn, indexed

HANDLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
MAX_HANDLE_CHARS = 64


def valid_handle(handle: str) -> bool:
    return 0 < len(handle) <= MAX_HANDLE_CHARS and set(handle) <= HANDLE_CHARS


def get_user(txn: Txn, db: Dbs, *, uid: int) -> User | None:
    raw = txn.get(keys.u64(uid), db=db["users"])
    return None if raw is None else User.decode(uid, raw)


def user_by_handle(txn: Txn, db: Dbs, *, handle: str) -> User | None:
    raw = txn.get(handle.encode(), db=db["handles"])
    return None if raw is None else get_user(txn, db, uid=keys.read_u64(raw))


def handle_taken(txn: Txn, db: Dbs, *, handle: str) -> bool:
    return txn.get(handle.encode(), db=db["handles"]) is not None


def all_users(txn: Txn, db: Dbs) -> list[User]:
    return [User.decode(keys.read_u64(k), v) for k, v in txn.cursor(db=db["users"]).iternext()]


def put_user(txn: Txn, db: Dbs, user: User) -> None:
    txn.put(keys.u64(user.uid), user.encode(), db=db["users"])


def index_handle(txn: Txn, db: Dbs, user: User) -> None:
    txn.put(user.handle.encode(), keys.u64(user.uid), db=db["handles"])


def get_corp(txn: Txn, db: Dbs, *, corp_id: int) -> Corp | None:
    raw = txn.get(keys.u64(corp_id), db=db["corps"])
    return None if raw is None else Corp.decode(corp_id, raw)


def corp_by_name(txn: Txn, db: Dbs, *, name: str) -> Corp | None:
    raw = txn.get(name.encode(), db=db["corp_names"])
    if raw is None:
        return None
    corp_id = keys.read_u64(raw)
    return Corp.decode(corp_id, indexed(txn, db["corps"], keys.u64(corp_id)))


def corp_name_taken(txn: Txn, db: Dbs, *, name: str) -> bool:
    return txn.get(name.encode(), db=db["corp_names"]) is not None


def put_corp(txn: Txn, db: Dbs, corp: Corp) -> None:
    txn.put(keys.u64(corp.corp_id), corp.encode(), db=db["corps"])


def index_corp_name(txn: Txn, db: Dbs, corp: Corp) -> None:
    txn.put(corp.name.encode(), keys.u64(corp.corp_id), db=db["corp_names"])
