"""Per-user settings tables: quiet-hours schedules, breaks and push devices.

Functions take an open transaction and the database handles (see
store/contacts.py), for Store.read and WriteTxn.do.
"""

from __future__ import annotations

import hashlib

from . import keys
from .records import pack, unpack
from .scan import Dbs, Txn


def schedule(txn: Txn, db: Dbs, uid: int) -> dict | None:
    raw = txn.get(keys.u64(uid), db=db["quiet"])
    return None if raw is None else unpack(raw)


def set_schedule(txn: Txn, db: Dbs, uid: int, wire: dict | None) -> None:
    if wire is None:
        txn.delete(keys.u64(uid), db=db["quiet"])
    else:
        txn.put(keys.u64(uid), pack(wire), db=db["quiet"])


def corp_schedule(txn: Txn, db: Dbs, corp_id: int) -> dict | None:
    raw = txn.get(keys.u64(corp_id), db=db["quiet_corp"])
    return None if raw is None else unpack(raw)


def set_corp_schedule(txn: Txn, db: Dbs, corp_id: int, wire: dict | None) -> None:
    if wire is None:
        txn.delete(keys.u64(corp_id), db=db["quiet_corp"])
    else:
        txn.put(keys.u64(corp_id), pack(wire), db=db["quiet_corp"])


def all_schedules(txn: Txn, db: Dbs) -> list[tuple[int, dict]]:
    return [(keys.read_u64(k), unpack(v)) for k, v in txn.cursor(db=db["quiet"]).iternext()]


def all_corp_schedules(txn: Txn, db: Dbs) -> dict[int, dict]:
    return {keys.read_u64(k): unpack(v) for k, v in txn.cursor(db=db["quiet_corp"]).iternext()}


def break_until(txn: Txn, db: Dbs, uid: int) -> int | None:
    raw = txn.get(keys.u64(uid), db=db["breaks"])
    return None if raw is None else keys.read_u64(raw)


def set_break(txn: Txn, db: Dbs, uid: int, until_ms: int | None) -> None:
    if until_ms is None:
        txn.delete(keys.u64(uid), db=db["breaks"])
    else:
        txn.put(keys.u64(uid), keys.u64(until_ms), db=db["breaks"])


def all_breaks(txn: Txn, db: Dbs) -> dict[int, int]:
    return {keys.read_u64(k): keys.read_u64(v) for k, v in txn.cursor(db=db["breaks"]).iternext()}


def _device_key(uid: int, digest: bytes) -> bytes:
    return keys.u64(uid) + digest[:8]


def add_device(txn: Txn, db: Dbs, uid: int, platform: str, token: str,
               now_ms: int) -> int | None:
    """Register a push token to `uid`. A token belongs to one device, so one user: if
    another user had it (the phone changed hands), it moves; their uid is returned."""
    digest = hashlib.sha256(token.encode()).digest()
    owner = txn.get(digest, db=db["device_tokens"])
    moved_from = None
    if owner is not None and keys.read_u64(owner) != uid:
        moved_from = keys.read_u64(owner)
        txn.delete(_device_key(moved_from, digest), db=db["devices"])
    txn.put(_device_key(uid, digest), pack([platform, token, now_ms]), db=db["devices"])
    txn.put(digest, keys.u64(uid), db=db["device_tokens"])
    return moved_from


def index_tokens(txn: Txn, db: Dbs) -> None:
    """Build the token -> user index if a database made before it has devices but no
    index (once, at open). A token two users registered then goes to the later one."""
    if txn.stat(db["device_tokens"])["entries"] or not txn.stat(db["devices"])["entries"]:
        return
    latest: dict[bytes, tuple[int, int]] = {}
    for key, value in txn.cursor(db=db["devices"]).iternext():
        _, token, time_ms = unpack(value)
        digest = hashlib.sha256(token.encode()).digest()
        if time_ms >= latest.get(digest, (0, -1))[1]:
            latest[digest] = (keys.read_u64(key), time_ms)
    for digest, (uid, _) in latest.items():
        txn.put(digest, keys.u64(uid), db=db["device_tokens"])


def remove_device(txn: Txn, db: Dbs, uid: int, token: str) -> bool:
    """Forget one of a user's push tokens; False if they had no such device."""
    digest = hashlib.sha256(token.encode()).digest()
    owner = txn.get(digest, db=db["device_tokens"])
    if owner is not None and keys.read_u64(owner) == uid:
        txn.delete(digest, db=db["device_tokens"])
    return txn.delete(_device_key(uid, digest), db=db["devices"])


def has_devices(txn: Txn, db: Dbs, uid: int) -> bool:
    cursor = txn.cursor(db=db["devices"])
    return cursor.set_range(keys.u64(uid)) and cursor.key().startswith(keys.u64(uid))


def devices(txn: Txn, db: Dbs, uid: int) -> list[tuple[str, str]]:
    """(platform, push token) of a user's registered devices."""
    cursor = txn.cursor(db=db["devices"])
    prefix = keys.u64(uid)
    out = []
    if cursor.set_range(prefix):
        for key, value in cursor.iternext():
            if not key.startswith(prefix):
                break
            platform, token, _ = unpack(value)
            out.append((platform, token))
    return out


def users_with_devices(txn: Txn, db: Dbs) -> set[int]:
    return {keys.read_u64(k) for k, _ in txn.cursor(db=db["devices"]).iternext()}
