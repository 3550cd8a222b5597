"""Passwords and invites: what a person signs in with, never in plaintext.

  passwords   uid u64          -> argon2id hash (PHC string, utf-8): its parameters inside
  invites     sha256(code) 32  -> [uid, created ms, expires ms]
  invite_of   uid u64          -> sha256(code) (the one live invite of a user)

An invite code is a bearer secret like a token: ≥ 128 random bits
(`secrets`), only its SHA-256 stored (a code that random needs no slow hash:
nobody can guess one to test against the digest). Issuing a user a new
invite deletes the old one; redeeming deletes it. Failure counts for rate
limiting are not stored here: they live in memory (server/lockout.py says why).

Reads take the transaction with keyword-only ids, shared by Store.read and
WriteTxn.do (`functools.partial(password_of, uid=...)`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from . import keys
from .records import pack, unpack
from .scan import Dbs, Txn

INVITE_PREFIX = "inv_"


def invite_digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def new_invite_code() -> str:
    """192 random bits, URL-safe (it travels in a link's fragment)."""
    return INVITE_PREFIX + secrets.token_urlsafe(24)


# ----- passwords -----------------------------------------------------------


def password_of(txn: Txn, db: Dbs, *, uid: int) -> str | None:
    raw = txn.get(keys.u64(uid), db=db["passwords"])
    return None if raw is None else bytes(raw).decode()


def set_password(txn: Txn, db: Dbs, *, uid: int, hashed: str) -> None:
    assert hashed.startswith("$argon2"), "only a hash is ever stored"
    txn.put(keys.u64(uid), hashed.encode(), db=db["passwords"])


def drop_password(txn: Txn, db: Dbs, *, uid: int) -> bool:
    return bool(txn.delete(keys.u64(uid), db=db["passwords"]))


# ----- invites -------------------------------------------------------------


def issue_invite(txn: Txn, db: Dbs, *, uid: int, now_ms: int, ttl_ms: int) -> tuple[str, int]:
    """A new invite for `uid`, ending any earlier one: (code, expires ms)."""
    end_invite(txn, db, uid=uid)
    code = new_invite_code()
    digest = invite_digest(code)
    expires = now_ms + ttl_ms
    txn.put(digest, pack([uid, now_ms, expires]), db=db["invites"])
    txn.put(keys.u64(uid), digest, db=db["invite_of"])
    return code, expires


def invite_owner(txn: Txn, db: Dbs, *, code: str, now_ms: int) -> int | None:
    """The uid a live invite code belongs to; None if unknown, ended or expired."""
    digest = invite_digest(code)
    raw = txn.get(digest, db=db["invites"])
    if raw is None:
        return None
    uid, _created, expires = unpack(raw)[:3]
    live = txn.get(keys.u64(uid), db=db["invite_of"])
    # The index names the one live code; compare digests in constant time anyway.
    if live is None or not hmac.compare_digest(bytes(live), digest) or now_ms >= expires:
        return None
    return int(uid)


def invite_expiry(txn: Txn, db: Dbs, *, uid: int) -> int | None:
    """When the user's live invite expires (ms), or None if they have none."""
    digest = txn.get(keys.u64(uid), db=db["invite_of"])
    raw = None if digest is None else txn.get(digest, db=db["invites"])
    return None if raw is None else int(unpack(raw)[2])


def end_invite(txn: Txn, db: Dbs, *, uid: int) -> bool:
    """Delete the user's invite, if any."""
    digest = txn.get(keys.u64(uid), db=db["invite_of"])
    if digest is None:
        return False
    txn.delete(bytes(digest), db=db["invites"])
    txn.delete(keys.u64(uid), db=db["invite_of"])
    return True
