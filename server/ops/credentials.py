"""Sign-in writes: a login's token, an invite redeemed, a password changed, a device revoked.

A password is hashed and verified before the write (off the event loop, in
server/passwords.py); the write checks that what was verified still holds — the
stored hash unchanged, the invite still live, the user still enabled — so a
concurrent password change or redeem cannot be undone by an older check.
"""

from __future__ import annotations

from functools import partial

from corpchat.protocol import ErrorCode, Refusal
from corpchat.store import WriteTxn, credentials, tokens

from .results import Revoked, SignedIn

WRONG = "wrong handle or password"
BAD_INVITE = "unknown or expired invite"
# A user's tokens past this are ended, least recently used first, when a login adds one.
MAX_TOKENS_PER_USER = 100


def login(w: WriteTxn, uid: int, verified: str, rehashed: str | None, device: str,
          address: str, now_ms: int) -> SignedIn | Refusal:
    """A new device token for a user whose password `verified` just matched."""
    user = w.user(uid)
    current = w.do(partial(credentials.password_of, uid=uid))
    if user is None or user.disabled or current != verified:
        return Refusal(ErrorCode.AUTH_FAILED, WRONG)
    if rehashed is not None:  # the configured parameters changed since it was set
        w.do(partial(credentials.set_password, uid=uid, hashed=rehashed))
    return _signed_in(w, uid, device, address, now_ms)


def redeem(w: WriteTxn, code: str, hashed: str, device: str, address: str,
           now_ms: int) -> SignedIn | Refusal:
    """The invite's user gets this password and a device token; the invite ends."""
    uid = w.do(partial(credentials.invite_owner, code=code, now_ms=now_ms))
    user = None if uid is None else w.user(uid)
    if uid is None or user is None or user.disabled:
        return Refusal(ErrorCode.AUTH_FAILED, BAD_INVITE)
    w.do(partial(credentials.set_password, uid=uid, hashed=hashed))
    w.do(partial(credentials.end_invite, uid=uid))
    return _signed_in(w, uid, device, address, now_ms)


def _signed_in(w: WriteTxn, uid: int, device: str, address: str,
               now_ms: int) -> SignedIn | Refusal:
    issued = w.issue_token(uid, now_ms, device, address)
    if isinstance(issued, Refusal):
        return Refusal(ErrorCode.AUTH_FAILED, WRONG)
    token_id, token = issued
    return SignedIn(uid, token_id, token, _evict_tokens(w, uid, keep=token_id))


def _evict_tokens(w: WriteTxn, uid: int, keep: str) -> tuple[str, ...]:
    """End the least recently used tokens past MAX_TOKENS_PER_USER."""
    held = w.do(tokens.user_tokens, uid)
    if len(held) <= MAX_TOKENS_PER_USER:
        return ()
    held.sort(key=lambda t: (t.last_seen_ms or t.created_ms, t.token_id))
    doomed = [t.token_id for t in held if t.token_id != keep][:len(held) - MAX_TOKENS_PER_USER]
    for token_id in doomed:
        w.revoke_token(token_id)
    return tuple(doomed)


def change_password(w: WriteTxn, uid: int, verified: str | None, hashed: str,
                    keep_token: str | None) -> Revoked | Refusal:
    """Set a new password if the old one is still `verified` (None: none was set);
    every token but `keep_token` ends, unless it is None (keep them all)."""
    if w.do(partial(credentials.password_of, uid=uid)) != verified:
        return Refusal(ErrorCode.AUTH_FAILED, "wrong password")
    w.do(partial(credentials.set_password, uid=uid, hashed=hashed))
    revoked = () if keep_token is None else tuple(w.revoke_other_tokens(uid, keep_token))
    return Revoked(uid, revoked)


def revoke_device(w: WriteTxn, uid: int, token_id: str) -> Revoked | Refusal:
    """End one of the user's own tokens."""
    token = w.do(partial(tokens.token_by_id, token_id=token_id))
    if token is None or token.uid != uid:
        return Refusal(ErrorCode.NOT_FOUND, "no such device")
    w.revoke_token(token_id)
    return Revoked(uid, (token_id,))


def set_password(w: WriteTxn, uid: int, hashed: str) -> bool | Refusal:
    """An operator's `user password`: the password, replacing any; tokens untouched."""
    if w.user(uid) is None:
        return Refusal(ErrorCode.NOT_FOUND, "no such user")
    w.do(partial(credentials.set_password, uid=uid, hashed=hashed))
    return True


def invite(w: WriteTxn, uid: int, now_ms: int, ttl_ms: int) -> tuple[str, int] | Refusal:
    """A new invite for the user (the old one ends): (code, expires ms)."""
    user = w.user(uid)
    if user is None:
        return Refusal(ErrorCode.NOT_FOUND, "no such user")
    if user.disabled:
        return Refusal(ErrorCode.FORBIDDEN, f"user {user.handle!r} is disabled")
    return w.do(partial(credentials.issue_invite, uid=uid, now_ms=now_ms, ttl_ms=ttl_ms))
