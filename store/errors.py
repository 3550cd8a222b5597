"""The store's own error types and its refusal value, shared by every table module."""

from __future__ import annotations

from dataclasses import dataclass


class StorageError(Exception):
    """The database refused a write or a read (disk full, I/O error)."""


class MapFull(StorageError):
    """The memory map is full; the caller grows it and tries again."""


@dataclass(frozen=True, slots=True)
class Refused:
    """An operation that was checked and refused; nothing was written."""

    code: str
    message: str
    retry_after_ms: int | None = None
