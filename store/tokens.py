"""Bearer tokens: only a token's hash is stored, with its id, owner, device and last use.

The operations are mixed into Store (reads in a read transaction of their own)
and WriteTxn (writes in the batch's transaction), as Synapse composes its
DataStore from one class per table family. The module functions take an open
transaction and the database handles, for Store.read and WriteTxn.do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from corpchat.protocol.errors import ErrorCode

from . import keys, users
from .errors import Refused
from .records import Token, User
from .scan import Dbs, Txn, indexed, prefix_items

# A hello notes its token's last use at most this often: last seen is shown to
# the minute, and a reconnecting crowd does not turn into a write per hello.
SEEN_EVERY_MS = 60_000
DEVICE_CHARS = 100  # of a hello's device name, kept in the token record


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenReads:
    """Token reads of Store."""

    db: Dbs

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Txn]: ...
        def user(self, uid: int) -> User | None: ...

    def authenticate(self, token: str) -> tuple[User, Token] | None:
        """The enabled user a bearer token belongs to, with the token's record; or None."""
        with self._read() as txn:
            raw = txn.get(token_digest(token), db=self.db["tokens"])
            if raw is None:
                return None
            record = Token.decode(raw)
        user = self.user(record.uid)
        return None if user is None or user.disabled else (user, record)


class TokenWrites:
    """Token writes of WriteTxn."""

    txn: Txn
    db: Dbs

    def issue_token(self, uid: int, now_ms: int, device: str = "",
                    address: str = "") -> tuple[str, str] | Refused:
        """A new bearer token for `uid`: (token id, token). Only its hash is kept.
        A token made by a login names its device and address, seen now."""
        user = _get_user(self.txn, self.db, uid)
        if user is None:
            return Refused(ErrorCode.NOT_FOUND, f"no user {uid}")
        if user.disabled:  # disabling revoked its tokens; a new one would undo that
            return Refused(
                "disabled",  # type: ignore[arg-type]  # an admin code (operations.md), not a client one
                f"user {user.handle!r} is disabled "
                f"(enable it first: corpchat admin user enable {user.handle})")
        token = "cc_" + secrets.token_urlsafe(32)  # never starts with "-" on a command line
        token_id = secrets.token_hex(6)
        digest = token_digest(token)
        record = (Token(token_id, uid, now_ms) if not device and not address else
                  Token(token_id, uid, now_ms, device[:DEVICE_CHARS], now_ms, address))
        self.txn.put(digest, record.encode(), db=self.db["tokens"])
        self.txn.put(token_id.encode(), digest, db=self.db["token_ids"])
        self.txn.put(_by_user(uid, token_id), digest, db=self.db["user_tokens"])
        return token_id, token

    def revoke_user_tokens(self, uid: int) -> int:
        """Delete every token of a user; returns how many there were."""
        return len(self.revoke_other_tokens(uid, None))

    def revoke_other_tokens(self, uid: int, keep: str | None) -> list[str]:
        """Delete every token of a user but `keep`; returns the ids deleted."""
        doomed = [(key, digest) for key, digest in
                  prefix_items(self.txn, self.db["user_tokens"], keys.u64(uid))
                  if key[8:].decode() != keep]
        for key, digest in doomed:
            self.txn.delete(digest, db=self.db["tokens"])
            self.txn.delete(key[8:], db=self.db["token_ids"])
            self.txn.delete(key, db=self.db["user_tokens"])
        return [key[8:].decode() for key, _ in doomed]

    def revoke_token(self, token_id: str) -> int | Refused:
        """Delete a token; returns the uid it belonged to."""
        digest = self.txn.get(token_id.encode(), db=self.db["token_ids"])
        if digest is None:
            return Refused(ErrorCode.NOT_FOUND, f"no token {token_id!r}")
        uid = Token.decode(indexed(self.txn, self.db["tokens"], digest)).uid
        self.txn.delete(digest, db=self.db["tokens"])
        self.txn.delete(token_id.encode(), db=self.db["token_ids"])
        self.txn.delete(_by_user(uid, token_id), db=self.db["user_tokens"])
        return uid


def user_tokens(txn: Txn, db: Dbs, uid: int) -> list[Token]:
    """A user's tokens, oldest first (through the per-user index: `devices` asks)."""
    found = [txn.get(digest, db=db["tokens"])
             for _, digest in prefix_items(txn, db["user_tokens"], keys.u64(uid))]
    return sorted((Token.decode(raw) for raw in found if raw is not None),
                  key=lambda t: (t.created_ms, t.token_id))


def index_user_tokens(txn: Txn, db: Dbs) -> None:
    """Build the per-user token index if a database made before it (1.3) has tokens
    but no index (once, at open)."""
    if txn.stat(db["user_tokens"])["entries"] or not txn.stat(db["tokens"])["entries"]:
        return
    for digest, raw in txn.cursor(db=db["tokens"]).iternext():
        record = Token.decode(raw)
        txn.put(_by_user(record.uid, record.token_id), digest, db=db["user_tokens"])


def _by_user(uid: int, token_id: str) -> bytes:
    return keys.u64(uid) + token_id.encode()


def token_by_id(txn: Txn, db: Dbs, *, token_id: str) -> Token | None:
    digest = txn.get(token_id.encode(), db=db["token_ids"])
    raw = None if digest is None else txn.get(digest, db=db["tokens"])
    return None if raw is None else Token.decode(raw)


def seen_is_due(token: Token, now_ms: int) -> bool:
    """Whether a hello with this token should write its last use."""
    return now_ms - token.last_seen_ms >= SEEN_EVERY_MS


def mark_seen(txn: Txn, db: Dbs, token_id: str, device: str, now_ms: int,
              address: str = "") -> bool:
    """Note a hello with a token: its device, time and remote address. False if it
    was revoked meanwhile."""
    digest = txn.get(token_id.encode(), db=db["token_ids"])
    raw = None if digest is None else txn.get(digest, db=db["tokens"])
    if digest is None or raw is None:
        return False
    old = Token.decode(raw)  # a hello naming no device keeps the login's name
    seen = dataclasses.replace(old, device=device or old.device, last_seen_ms=now_ms,
                               address=address or old.address)
    txn.put(digest, seen.encode(), db=db["tokens"])
    return True


def _get_user(txn: Txn, db: Dbs, uid: int) -> User | None:
    return users.get_user(txn, db, uid=uid)
