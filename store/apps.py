"""Tables of the open platform (issue 23): apps, their access tokens, the
idempotency keys of app messages, and each employee's `app` conversation.

Functions take an open transaction and the database handles (like
store/contacts.py), for Store.read and WriteTxn.do. Secrets and access tokens
are kept only as SHA-256 digests: both carry 256 random bits, so a plain digest
is enough to make a stolen database useless for signing in as an app.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from . import keys
from .records import pack, unpack
from .scan import Dbs, Txn
from .scan import prefix_items as _items


@dataclass(frozen=True, slots=True)
class AppRecord:
    """An app of a corp: who it may reach (its scope) and where its events go."""

    app_id: int
    corp_id: int
    name: str
    secret_digest: bytes
    created_ms: int
    callback_url: str = ""
    scope_users: tuple[int, ...] = ()  # uids
    scope_depts: tuple[int, ...] = ()  # department ids (their sub-departments too)
    scope_tags: tuple[int, ...] = ()  # tag ids of the corp's library
    avatar: str = ""
    failing: bool = False  # callbacks gave up after the retry period
    extra: dict[str, Any] = field(default_factory=dict)  # room for later fields

    def encode(self) -> bytes:
        return pack([self.corp_id, self.name, self.secret_digest, self.created_ms,
                     self.callback_url, list(self.scope_users), list(self.scope_depts),
                     list(self.scope_tags), self.avatar, self.failing, self.extra])

    @classmethod
    def decode(cls, app_id: int, data: bytes) -> AppRecord:
        corp, name, digest, created, url, users, depts, tags, avatar, failing, extra = \
            unpack(data)[:11]
        return cls(app_id, corp, name, digest, created, url, tuple(users), tuple(depts),
                   tuple(tags), avatar, failing, extra)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# ----- apps -----

def get_app(txn: Txn, db: Dbs, app_id: int) -> AppRecord | None:
    raw = txn.get(keys.u64(app_id), db=db["apps"])
    return AppRecord.decode(app_id, raw) if raw is not None else None


def put_app(txn: Txn, db: Dbs, app: AppRecord) -> None:
    txn.put(keys.u64(app.app_id), app.encode(), db=db["apps"])


def all_apps(txn: Txn, db: Dbs) -> list[AppRecord]:
    return [AppRecord.decode(keys.read_u64(k), v) for k, v in _items(txn, db["apps"], b"")]


def delete_app(txn: Txn, db: Dbs, app_id: int) -> None:
    """The app and its tokens; its conversations stay (their history is the employees')."""
    txn.delete(keys.u64(app_id), db=db["apps"])
    for key, _ in list(_items(txn, db["app_token_ix"], keys.u64(app_id))):
        txn.delete(key[24:], db=db["app_tokens"])
        txn.delete(key, db=db["app_token_ix"])


# ----- access tokens -----

def access_token(txn: Txn, db: Dbs, token_digest: bytes) -> tuple[int, int] | None:
    """(app id, expiry ms) of an access token, by its digest."""
    raw = txn.get(token_digest, db=db["app_tokens"])
    if raw is None:
        return None
    app_id, expires = unpack(raw)
    return app_id, expires


def live_tokens(txn: Txn, db: Dbs, app_id: int, now_ms: int) -> list[bytes]:
    """The index keys of the app's tokens not yet expired, oldest first."""
    return [key for key, _ in _items(txn, db["app_token_ix"], keys.u64(app_id))
            if keys.read_u64(key, 8) > now_ms]


def put_access_token(txn: Txn, db: Dbs, app_id: int, token_digest: bytes,
                     expires_ms: int, serial: int) -> None:
    """`serial` orders tokens issued in the same millisecond (the oldest retires first)."""
    txn.put(token_digest, pack([app_id, expires_ms]), db=db["app_tokens"])
    txn.put(keys.pair(app_id, expires_ms) + keys.u64(serial) + token_digest, b"",
            db=db["app_token_ix"])


def drop_access_token(txn: Txn, db: Dbs, index_key: bytes) -> None:
    txn.delete(index_key[24:], db=db["app_tokens"])
    txn.delete(index_key, db=db["app_token_ix"])


def drop_expired_tokens(txn: Txn, db: Dbs, app_id: int, now_ms: int) -> None:
    for key, _ in list(_items(txn, db["app_token_ix"], keys.u64(app_id))):
        if keys.read_u64(key, 8) <= now_ms:
            txn.delete(key[24:], db=db["app_tokens"])
            txn.delete(key, db=db["app_token_ix"])


def drop_all_tokens(txn: Txn, db: Dbs, app_id: int) -> None:
    for key, _ in list(_items(txn, db["app_token_ix"], keys.u64(app_id))):
        txn.delete(key[24:], db=db["app_tokens"])
        txn.delete(key, db=db["app_token_ix"])


# ----- idempotency keys of app messages -----

def _idem_key(app_id: int, key: str) -> bytes:
    return keys.u64(app_id) + key.encode()


def idempotent_answer(txn: Txn, db: Dbs, app_id: int, key: str,
                      since_ms: int) -> dict[str, Any] | None:
    """The answer first given under this key, if given at or after `since_ms`."""
    raw = txn.get(_idem_key(app_id, key), db=db["app_idem"])
    if raw is None:
        return None
    time_ms, answer = unpack(raw)
    return answer if time_ms >= since_ms else None


def put_idempotent_answer(txn: Txn, db: Dbs, app_id: int, key: str, now_ms: int,
                          answer: dict[str, Any]) -> None:
    txn.put(_idem_key(app_id, key), pack([now_ms, answer]), db=db["app_idem"])
    txn.put(keys.u64(now_ms) + _idem_key(app_id, key), b"", db=db["app_idem_ix"])


def index_old_answers(txn: Txn, db: Dbs) -> int:
    """Index answers stored before app_idem_ix existed (round 1's databases), so the
    sweep finds them too; how many. Idempotent: run once, at the first sweep."""
    missing = []
    for key, raw in _items(txn, db["app_idem"], b""):
        ix = keys.u64(unpack(raw)[0]) + key
        if txn.get(ix, db=db["app_idem_ix"]) is None:
            missing.append(ix)
    for ix in missing:
        txn.put(ix, b"", db=db["app_idem_ix"])
    return len(missing)


def sweep_idempotent_answers(txn: Txn, db: Dbs, before_ms: int, limit: int) -> int:
    """Drop up to `limit` answers given before `before_ms`, oldest first; how many
    index entries went. A key given again after its window (a newer answer under
    the same key) keeps that answer: only the index entry of the old one goes."""
    old: list[bytes] = []
    for ix, _ in _items(txn, db["app_idem_ix"], b""):
        if keys.read_u64(ix) >= before_ms or len(old) >= limit:
            break
        old.append(ix)
    for ix in old:
        txn.delete(ix, db=db["app_idem_ix"])
        raw = txn.get(ix[8:], db=db["app_idem"])
        if raw is not None and unpack(raw)[0] < before_ms:
            txn.delete(ix[8:], db=db["app_idem"])
    return len(old)


# ----- the employees' app conversations -----

def app_conv(txn: Txn, db: Dbs, app_id: int, uid: int) -> int | None:
    raw = txn.get(keys.pair(app_id, uid), db=db["app_convs"])
    return keys.read_u64(raw) if raw is not None else None


def set_app_conv(txn: Txn, db: Dbs, app_id: int, uid: int, conv: int) -> None:
    txn.put(keys.pair(app_id, uid), keys.u64(conv), db=db["app_convs"])
    txn.put(keys.u64(conv), keys.u64(app_id), db=db["app_conv_apps"])


def app_of_conv(txn: Txn, db: Dbs, conv: int) -> int | None:
    """The app whose conversation `conv` is (an employee's reply goes to its callback)."""
    raw = txn.get(keys.u64(conv), db=db["app_conv_apps"])
    return keys.read_u64(raw) if raw is not None else None
