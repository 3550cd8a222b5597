"""Bearer-token records: listing a user's tokens and noting when each is used.

Functions take an open transaction and the database handles (see
store/contacts.py), for Store.read and WriteTxn.do. Issuing and revoking
tokens are WriteTxn methods (store/store.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import lmdb

from .records import Token

Txn = lmdb.Transaction
Dbs = dict[str, Any]

# A hello notes its token's last use at most this often: last seen is shown to
# the minute, and a reconnecting crowd does not turn into a write per hello.
SEEN_EVERY_MS = 60_000
DEVICE_CHARS = 100  # of a hello's device name, kept in the token record


def user_tokens(txn: Txn, db: Dbs, uid: int) -> list[Token]:
    """A user's tokens, oldest first. Tokens are keyed by their hash, so this walks
    them all (an operator's command, like revoking a user's tokens)."""
    found = [Token.decode(raw) for raw in txn.cursor(db=db["tokens"]).iternext(keys=False)]
    return sorted((t for t in found if t.uid == uid), key=lambda t: (t.created_ms, t.token_id))


def seen_is_due(token: Token, now_ms: int) -> bool:
    """Whether a hello with this token should write its last use."""
    return now_ms - token.last_seen_ms >= SEEN_EVERY_MS


def mark_seen(txn: Txn, db: Dbs, token_id: str, device: str, now_ms: int) -> bool:
    """Note a hello with a token: its device and time. False if it was revoked meanwhile."""
    digest = txn.get(token_id.encode(), db=db["token_ids"])
    raw = None if digest is None else txn.get(digest, db=db["tokens"])
    if raw is None:
        return False
    seen = dataclasses.replace(Token.decode(raw), device=device, last_seen_ms=now_ms)
    txn.put(digest, seen.encode(), db=db["tokens"])
    return True
