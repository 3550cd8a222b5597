"""A read-only view of a data directory's LMDB environment, for another process.

The search indexer runs in a process of its own (search/process.py) so that
its Python work never holds the server's GIL; it only reads the database.
LMDB lets several processes open one environment: this one opens it read-only
and creates nothing (the server's `Store` made every table), so it never
takes LMDB's writer lock, and runs the same named read operations (`read`)
as `Store` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import lmdb

from . import keys
from .errors import StorageError

__all__ = ["StoreReader"]

T = TypeVar("T")


class StoreReader:
    """Reads of the environment in `path`, opened read-only; one thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.env = lmdb.open(path, readonly=True, lock=True, max_dbs=len(keys.DATABASES) + 2,
                                 max_readers=256, create=False)
            self.env.reader_check()  # slots of a reader that was killed
            self.db = {name: self.env.open_db(name.encode(), create=False)
                       for name in keys.DATABASES}
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the database in {path}: {exc}") from exc

    def read(self, op: Callable[..., T], *args: Any, **ids: Any) -> T:
        """Run a named read operation in one short read transaction."""
        try:
            return self._read(op, *args, **ids)
        except lmdb.MapResizedError:
            # The server grew the map (store.grow_map) past this process's view of it.
            self.env.set_mapsize(0)
            return self._read(op, *args, **ids)

    def _read(self, op: Callable[..., T], *args: Any, **ids: Any) -> T:
        try:
            with self.env.begin(buffers=False) as txn:
                return op(txn, self.db, *args, **ids)
        except lmdb.MapResizedError:
            raise
        except lmdb.Error as exc:
            raise StorageError(str(exc)) from exc

    def close(self) -> None:
        self.env.close()
