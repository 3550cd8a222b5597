"""Prefix scans over sorted keys, shared by every table module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeAlias

import lmdb

# Every transaction is opened with buffers=False, so keys and values are bytes.
Txn: TypeAlias = "lmdb.Transaction[bytes]"
Cursor: TypeAlias = "lmdb.Cursor[bytes]"
Dbs: TypeAlias = dict[str, Any]


def indexed(txn: Txn, db: Any, key: bytes) -> bytes:
    """A record that an index or a membership guarantees exists (its absence is a
    corrupt database, not a refusal)."""
    raw = txn.get(key, db=db)
    assert raw is not None, f"record {key.hex()} missing"
    return raw


def prefix_items(txn: Txn, db: Any, prefix: bytes,
                 start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
    """Items whose key starts with `prefix`, from `start` (default: the prefix) on."""
    cursor = txn.cursor(db=db)
    if not cursor.set_range(start or prefix):
        return
    for key, value in cursor.iternext():
        if not key.startswith(prefix):
            return
        yield key, value


def cursor_before(cursor: Cursor, key: bytes) -> Cursor:
    """Place a cursor on the last key below `key` (unpositioned if none)."""
    if cursor.set_range(key):
        cursor.prev()
    else:
        cursor.last()
    return cursor


def walk_back(cursor: Cursor, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Items from the cursor's place backwards while their key starts with `prefix`."""
    if not cursor.key():
        return
    for key, value in cursor.iterprev():
        if not key.startswith(prefix):
            return
        yield key, value
