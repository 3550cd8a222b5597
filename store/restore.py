"""Putting a backup in place of a stopped server's database.

Everything about the backup is checked before anything is touched: it must
be a directory holding a `data.mdb` that LMDB opens, with corpchat's `meta`
table and a schema record this server reads. Both databases are opened
read-only and without a lock file (`lock=False`): py-lmdb would otherwise
create `lock.mdb` (and, for a missing file, an empty database) in a
directory we only mean to read.

Media files (store/blobs.py) go first: every file the backup's records need
is linked or copied from the backup's `media/` into the data directory's
(content-addressed, so files already there are the same bytes), fsynced,
before the database that refers to them is put in place.

The new file is copied beside the live one and fsynced; the live one gets a
second, timestamped name (a hard link, so `data.mdb` exists at every moment)
and the copy is renamed over `data.mdb`. A crash at any step leaves either
the old or the new database in place, never none and never an empty one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import lmdb

from . import blobs, messages
from .errors import StorageError
from .records import unpack
from .scan import Dbs, Txn
from .store import SCHEMA_VERSION

DATA_FILE = "data.mdb"
KEPT_PREFIX = "data.mdb.before-restore-"


class NotRestorable(StorageError):
    """The backup or the data directory was refused; nothing was touched."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What one database holds, as the restore output names it."""

    schema: int
    messages: int
    last_pos: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Restored:
    installed: Summary
    replaced: Summary | None  # None: the data directory held no database
    replaced_error: str | None  # why the replaced database could not be summarised
    kept_as: str | None  # where the replaced database now is


def message_count(txn: Txn, db: Dbs) -> int:
    return int(txn.stat(db["msgs"])["entries"])


def last_pos(txn: Txn, db: Dbs) -> int:
    """The stream position of the last committed message (0: none yet): the `head`
    record every commit writes (store.WriteTxn.commit)."""
    return messages.head(txn, db)


def summarize(directory: str) -> Summary:
    """Open the database in `directory` read-only and describe it; NotRestorable if
    it is missing, is not a corpchat database, or has a schema this server does not
    read. Creates no file."""
    path = os.path.join(directory, DATA_FILE)
    if not os.path.exists(directory):
        raise NotRestorable(f"{directory} does not exist")
    if not os.path.isdir(directory):
        raise NotRestorable(f"{directory} is not a directory")
    if not os.path.isfile(path):
        raise NotRestorable(f"{directory} holds no {DATA_FILE}: not a corpchat backup")
    try:
        env = lmdb.open(directory, readonly=True, lock=False, create=False, max_dbs=2)
    except lmdb.Error as exc:
        raise NotRestorable(f"{path} is not an LMDB database: {exc}") from exc
    try:
        return _summarize_env(env, path)
    finally:
        env.close()


def _summarize_env(env: lmdb.Environment, path: str) -> Summary:
    try:
        db = {name: env.open_db(name.encode(), create=False) for name in ("meta", "msgs")}
        with env.begin(buffers=False) as txn:
            raw = txn.get(b"schema", db=db["meta"])
            schema = None if raw is None else unpack(raw)
            if not isinstance(schema, int):
                raise NotRestorable(f"{path} is not a corpchat database (no schema record)")
            _check_schema(path, schema)
            return Summary(schema, message_count(txn, db), last_pos(txn, db),
                           os.path.getsize(path))
    except (lmdb.Error, ValueError) as exc:  # no such table, or not msgpack
        raise NotRestorable(f"{path} is not a corpchat database: {exc}") from exc


def _check_schema(path: str, schema: int) -> None:
    if schema < SCHEMA_VERSION:
        raise NotRestorable(f"{path} has schema {schema}, older than this server's "
                            f"{SCHEMA_VERSION}; it cannot be restored by this version")
    if schema > SCHEMA_VERSION:
        raise NotRestorable(f"{path} has schema {schema}, newer than this server's "
                            f"{SCHEMA_VERSION}; restore it with a newer corpchat")


def media_hashes(directory: str) -> list[str]:
    """The files the database in `directory` needs (its `media_hashes` table), read
    read-only without a lock file; [] for a database from before media."""
    env = lmdb.open(directory, readonly=True, lock=False, create=False, max_dbs=4)
    try:
        try:
            table = env.open_db(b"media_hashes", create=False)
        except lmdb.NotFoundError:
            return []
        with env.begin(buffers=False) as txn:
            return [bytes(key).hex() for key, _ in txn.cursor(db=table)]
    finally:
        env.close()


def copy_media(source_dir: str, target_dir: str, *, needed_by: str) -> tuple[int, int]:
    """Every file the database in `needed_by` needs, from `source_dir`'s `media/` into
    `target_dir`'s: for a backup, from the live data directory as the backup's
    snapshot needs; for a restore, from the backup. Returns (files, bytes)."""
    return blobs.copy_files(os.path.join(source_dir, "media"),
                            os.path.join(target_dir, "media"), media_hashes(needed_by))


def check_data_dir(backup_dir: str, data_dir: str, *, create: bool) -> None:
    """Refuse a data directory that does not exist (unless `create`), or the backup's own."""
    if not os.path.exists(data_dir):
        if not create:
            raise NotRestorable(f"the data directory {data_dir} does not exist "
                                "(pass --create to restore into a new one)")
        return
    if not os.path.isdir(data_dir):
        raise NotRestorable(f"{data_dir} is not a directory")
    if os.path.samefile(backup_dir, data_dir):
        raise NotRestorable("the backup is the data directory itself")


def restore_backup(backup_dir: str, data_dir: str, *, create: bool = False,
                   hold: Callable[[str], AbstractContextManager] | None = None) -> Restored:
    """Put a backup (a directory made by Store.backup) in place of a stopped server's
    database; the replaced one is kept under a new timestamped name. `hold(data_dir)`
    locks the data directory (so no server runs on it) once it exists, for the rest."""
    installed = summarize(backup_dir)
    check_data_dir(backup_dir, data_dir, create=create)
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    held = hold(data_dir) if hold else nullcontext()
    with held:
        target = os.path.join(data_dir, DATA_FILE)
        replaced, replaced_error = _summarize_live(data_dir)
        copy_media(backup_dir, data_dir, needed_by=backup_dir)  # before the records
        staging = target + ".restoring"
        _copy_synced(os.path.join(backup_dir, DATA_FILE), staging)
        kept_as = _keep(target) if os.path.exists(target) else None
        os.replace(staging, target)
        lock = os.path.join(data_dir, "lock.mdb")  # the old file's reader table
        if os.path.exists(lock):
            os.unlink(lock)
        _sync_dir(data_dir)
    return Restored(installed, replaced, replaced_error, kept_as)


def _summarize_live(data_dir: str) -> tuple[Summary | None, str | None]:
    """The database about to be replaced: (summary, None), (None, why it is unreadable),
    or (None, None) when there is none. An unreadable one is still replaced (and kept):
    a broken database is what a restore is for."""
    if not os.path.exists(os.path.join(data_dir, DATA_FILE)):
        return None, None
    try:
        return summarize(data_dir), None
    except NotRestorable as exc:
        return None, str(exc)


def _copy_synced(source: str, target: str) -> None:
    """Copy and fsync; a partial copy (disk full) is removed."""
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            os.chmod(target, 0o600)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError:
        if os.path.exists(target):
            os.unlink(target)
        raise


def _keep(target: str) -> str:
    """Give the live database a second name no earlier restore used; returns it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(1000):
        name = KEPT_PREFIX + stamp + (f".{attempt}" if attempt else "")
        kept = os.path.join(os.path.dirname(target), name)
        try:
            os.link(target, kept)  # fails if the name is taken: nothing is overwritten
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if os.path.exists(kept):
                continue
            os.rename(target, kept)
        return kept
    raise NotRestorable(f"no free name for the replaced database beside {target}")


def _sync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
