"""The store's own error types and its refusal value, shared by every table module."""

from __future__ import annotations

from corpchat.protocol.errors import Refusal


class StorageError(Exception):
    """The database refused a write or a read (disk full, I/O error)."""


class MapFull(StorageError):
    """The memory map is full; the caller grows it and tries again."""


# An operation that was checked and refused; nothing was written. The one
# refusal type of the project (protocol/errors.py), under the store's old name.
Refused = Refusal
