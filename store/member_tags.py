"""Employees' tags (issue 23's `to.tags` and app scopes): which employees carry a tag
of their corp's tag library (store/customers.py's `tags`, the same ids the corp
puts on customers), kept both ways so that a tag's members and an employee's tags
are each one prefix scan.

Functions take an open transaction and the database handles (like
store/contacts.py), for Store.read and WriteTxn.do.
"""

from __future__ import annotations

from . import keys
from .scan import Dbs, Txn
from .scan import prefix_items as _items


def tags_of(txn: Txn, db: Dbs, *, uid: int) -> set[int]:
    return {keys.read_u64(k, 8) for k, _ in _items(txn, db["member_tags"], keys.u64(uid))}


def members_of(txn: Txn, db: Dbs, *, tag: int) -> list[int]:
    """The uids carrying `tag`, in uid order."""
    return [keys.read_u64(k, 8) for k, _ in _items(txn, db["tag_members"], keys.u64(tag))]


def set_member_tag(txn: Txn, db: Dbs, *, uid: int, tag: int, on: bool) -> bool:
    """Put or take `tag` on the employee; whether anything changed."""
    if on:
        changed = txn.put(keys.pair(uid, tag), b"", db=db["member_tags"], overwrite=False)
        txn.put(keys.pair(tag, uid), b"", db=db["tag_members"])
        return bool(changed)
    txn.delete(keys.pair(tag, uid), db=db["tag_members"])
    return bool(txn.delete(keys.pair(uid, tag), db=db["member_tags"]))


def drop_tag(txn: Txn, db: Dbs, *, tag: int) -> None:
    """A tag removed from the library: no employee carries it any more."""
    for key, _ in list(_items(txn, db["tag_members"], keys.u64(tag))):
        txn.delete(keys.pair(keys.read_u64(key, 8), tag), db=db["member_tags"])
        txn.delete(key, db=db["tag_members"])
