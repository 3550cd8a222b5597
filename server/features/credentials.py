"""Signing in with a password or an invite (`login`, `redeem`, before `hello`), and a
user's own devices after it (`devices`, `device.revoke`, `password.change`).

A password check takes tens of milliseconds of CPU, so a handler only checks
what is cheap (bounds, the failure windows, one request in flight per
connection) and spawns the rest: the argon2id work runs off the event loop
(server/passwords.py), then the write is submitted and its context answers
after the commit. Unknown handles, wrong passwords, disabled accounts and
accounts without a password all take the same path and the same time and get
the same answer; each counts as a failure against the handle and the address
(server/lockout.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from corpchat.protocol import (
    Device,
    DeviceRevoke,
    Devices,
    DevicesReply,
    ErrorCode,
    LoggedIn,
    Login,
    Ok,
    PasswordChange,
    ProtocolError,
    Redeem,
    Refusal,
)
from corpchat.protocol.errors import CloseCode
from corpchat.store import StorageError, credentials, tokens
from corpchat.store.records import User

from ..audit import audit
from ..hub import Hub, Out, RequestContext, refusal_frame
from ..lockout import SignInLimits
from ..ops import credentials as ops
from ..ops.results import Revoked, SignedIn
from ..passwords import MAX_CHARS, MIN_CHARS, Busy, Passwords, password_problem
from ..routes import Routes
from ..seen import SeenTokens
from ..services import Services, Spawn
from ..session import Session
from ..wsframes import event_frame
from .common import peer_address

log = logging.getLogger("corpchat.server")
routes = Routes()
BUSY_RETRY_MS = 1000
DEVICE_CHARS = tokens.DEVICE_CHARS


@dataclass(slots=True)
class Credentials(Services):
    passwords: Passwords
    limits: SignInLimits
    spawn: Spawn  # the password checks, off the event loop
    seen: SeenTokens  # the last-seen notes not yet written, for `devices`
    busy: set[str] = field(default_factory=set)  # sessions with a sign-in in flight


# ----- before hello ---------------------------------------------------------


@routes.handles(Login, before_login=True)
def login(s: Credentials, session: Session, frame: Login) -> None:
    if not MIN_CHARS <= len(frame.password) <= MAX_CHARS:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"a password has {MIN_CHARS} to {MAX_CHARS} characters")
    handle = frame.handle.strip().lower()  # handles are lower case; phones add spaces
    _begin(s, session, frame.id, handle, lambda: _login(s, session, frame, handle))


@routes.handles(Redeem, before_login=True)
def redeem(s: Credentials, session: Session, frame: Redeem) -> None:
    _begin(s, session, frame.id, None, lambda: _redeem(s, session, frame))


def _begin(s: Credentials, session: Session, request_id: int, handle: str | None,
           work: Callable[[], Awaitable[None]]) -> None:
    """Refuse at once what the failure windows or the one-at-a-time rule refuse;
    spawn the rest."""
    wait = s.limits.retry_after_ms(handle, peer_address(session.peer))
    if wait:  # audited once, when the lock began (_failed): a flood writes no log lines
        _refuse(session, request_id, ErrorCode.RATE_LIMITED,
                "too many failed sign-ins; try later", wait)
        return
    if session.id in s.busy:
        _refuse(session, request_id, ErrorCode.RATE_LIMITED,
                "one sign-in at a time per connection", BUSY_RETRY_MS)
        return
    s.busy.add(session.id)
    s.spawn(_guarded, s, session, request_id, work)


async def _guarded(s: Credentials, session: Session, request_id: int,
                   work: Callable[[], Awaitable[None]]) -> None:
    """Run a spawned sign-in step: whatever fails, one answer, and never the server."""
    try:
        await work()
    except ProtocolError as exc:
        _refuse(session, request_id, exc.code, exc.message)
    except Busy as exc:
        _refuse(session, request_id, ErrorCode.RATE_LIMITED, str(exc), BUSY_RETRY_MS)
    except StorageError:
        _refuse(session, request_id, ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable")
    except Exception:
        log.exception("sign-in of %s failed", session.id)
        _refuse(session, request_id, ErrorCode.INTERNAL_ERROR, "internal error")
    finally:
        s.busy.discard(session.id)


async def _login(s: Credentials, session: Session, frame: Login, handle: str) -> None:
    address = peer_address(session.peer)
    user = s.store.user_by_handle(handle)
    stored = None if user is None else _password_of(s, user.uid)
    checked = await s.passwords.verify(stored, frame.password)  # a dummy hash if None
    if user is None or stored is None or user.disabled or not checked.ok:
        audit("login_failed", logging.WARNING, user=user.handle if user else None,
              peer=session.peer, session=session.id, method="password")
        _failed(s, session, handle)
        raise ProtocolError(ErrorCode.AUTH_FAILED, ops.WRONG)
    s.limits.succeed(handle)
    if session.closing:  # gone while we checked: no token nobody will ever hold
        return
    device, now, uid = frame.device[:DEVICE_CHARS], s.clock.now_ms(), user.uid
    s.submit(session, lambda w: ops.login(w, uid, stored, checked.rehashed, device,
                                          address, now),
             SignedInContext(session, frame.id, "password", device))


async def _redeem(s: Credentials, session: Session, frame: Redeem) -> None:
    address, now = peer_address(session.peer), s.clock.now_ms()
    uid = s.store.read(partial(credentials.invite_owner, code=frame.invite, now_ms=now))
    user = None if uid is None else s.store.user(uid)
    if user is None or user.disabled:
        audit("redeem_failed", logging.WARNING, peer=session.peer, session=session.id)
        _failed(s, session, None)
        raise ProtocolError(ErrorCode.AUTH_FAILED, ops.BAD_INVITE)
    _check_new_password(frame.password, user)
    hashed = await s.passwords.hash(frame.password)
    if session.closing:  # gone while we hashed: the invite stays for the next try
        return
    device, code = frame.device[:DEVICE_CHARS], frame.invite
    s.submit(session, lambda w: ops.redeem(w, code, hashed, device, address, now),
             SignedInContext(session, frame.id, "invite", device))


@dataclass(slots=True)
class SignedInContext(RequestContext):
    """Answers a login or redeem: `logged_in` with the new token."""

    method: str
    device: str

    def answer(self, hub: Hub, result: SignedIn | Refusal, out: Out) -> None:
        session = self.session
        session.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        out[session].append(event_frame(LoggedIn(
            re=self.request_id, token=result.token, token_id=result.token_id)))
        close_tokens(hub, result.uid, result.revoked, out)
        audit("signed_in", uid=result.uid, token_id=result.token_id, device=self.device,
              method=self.method, peer=session.peer, session=session.id)


# ----- after hello ----------------------------------------------------------


@routes.handles(Devices)
def devices(s: Credentials, session: Session, frame: Devices) -> None:
    user = session.authed_user
    listed = tuple(Device(token_id=t.token_id, device=t.device, created=t.created_ms,
                          current=t.token_id == session.token_id,
                          last_seen=t.last_seen_ms or None, address=t.address or None)
                   for t in s.seen.overlay(s.store.read(tokens.user_tokens, user.uid)))
    session.push(event_frame(DevicesReply(re=frame.id, devices=listed)))


@routes.handles(DeviceRevoke)
def device_revoke(s: Credentials, session: Session, frame: DeviceRevoke) -> None:
    uid, token_id = session.authed_user.uid, frame.token_id
    s.submit(session, lambda w: ops.revoke_device(w, uid, token_id),
             RevokedContext(session, frame.id, "device_revoked"))


@routes.handles(PasswordChange)
def password_change(s: Credentials, session: Session, frame: PasswordChange) -> None:
    user = session.authed_user
    _check_new_password(frame.new, user)
    _begin(s, session, frame.id, user.handle, lambda: _change(s, session, frame, user))


async def _change(s: Credentials, session: Session, frame: PasswordChange, user: User) -> None:
    stored = _password_of(s, user.uid)
    if stored is not None:
        if frame.old is None:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "old is required: the account has a "
                                "password")
        if not (await s.passwords.verify(stored, frame.old)).ok:
            audit("password_change_failed", logging.WARNING, uid=user.uid, user=user.handle,
                  peer=session.peer, session=session.id)
            _failed(s, session, user.handle)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong password")
    hashed = await s.passwords.hash(frame.new)
    keep = None if frame.keep_devices else session.token_id
    uid = user.uid
    s.submit(session, lambda w: ops.change_password(w, uid, stored, hashed, keep),
             RevokedContext(session, frame.id, "password_changed"))


@dataclass(slots=True)
class RevokedContext(RequestContext):
    """Answers `ok`, then closes every connection of the ended tokens (4001), in the
    commit's own batch; the requester's own connection after its `ok`."""

    event: str

    def answer(self, hub: Hub, result: Revoked | Refusal, out: Out) -> None:
        session = self.session
        session.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        out[session].append(event_frame(Ok(re=self.request_id)))
        closed = close_tokens(hub, result.uid, result.token_ids, out)
        audit(self.event, uid=result.uid, token_ids=list(result.token_ids),
              sessions_closed=closed, peer=session.peer, session=session.id)


def close_tokens(hub: Hub, uid: int, token_ids: tuple[str, ...], out: Out) -> int:
    """Close the sessions signed in with these tokens, with 4001, now. A session's
    frames of this batch so far go out first (the requester's `ok`)."""
    if not token_ids:
        return 0
    ended = set(token_ids)
    closed = 0
    for session in list(hub.sessions_of(uid)):
        if session.token_id in ended:
            session.push_many(out.pop(session, []))
            session.begin_close(CloseCode.AUTH_FAILED, "signed out")
            closed += 1
    return closed


# ----- helpers --------------------------------------------------------------


def _failed(s: Credentials, session: Session, handle: str | None) -> None:
    """Count a failure; audit the moment it locks the handle or the address."""
    if s.limits.fail(handle, peer_address(session.peer)):
        known = handle is not None and s.store.user_by_handle(handle) is not None
        audit("login_locked", logging.WARNING, user=handle if known else None,
              peer=session.peer, session=session.id)


def _password_of(s: Credentials, uid: int) -> str | None:
    return s.store.read(partial(credentials.password_of, uid=uid))


def _check_new_password(password: str, user: User) -> None:
    problem = password_problem(password, user.handle)
    if problem is not None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, problem)


def _refuse(session: Session, request_id: int, code: ErrorCode, message: str,
            retry_after_ms: int | None = None) -> None:
    session.push(refusal_frame(Refusal(code, message, retry_after_ms), request_id))
