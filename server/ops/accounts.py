"""An operator's writes to the directory (admin commands): corps, users, departments.

Each runs on the writer thread and returns what it stored, re-read inside the
transaction, or a `Refusal`; the admin socket answers a refusal with its code
and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from corpchat.protocol import ErrorCode, Refusal
from corpchat.store import Corp, User, WriteTxn
from corpchat.store import contacts as tables
from corpchat.store.records import Department


@dataclass(frozen=True, slots=True)
class Enrolled:
    """A new user, and a first device token only when a provisioning program asked
    for one (people sign in with their invite instead)."""

    user: User
    token_id: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """A user let in or shut out: what it changed."""

    user: User
    was_disabled: bool = False
    tokens_revoked: int = 0


def _user(w: WriteTxn, uid: int) -> User | Refusal:
    current = w.user(uid)
    return Refusal(ErrorCode.NOT_FOUND, f"no user {uid}") if current is None else current


def set_corp(w: WriteTxn, corp_id: int, changes: dict[str, Any]) -> Corp | Refusal:
    """A corp's full name or policy flags."""
    current = w.corp(corp_id)
    if current is None:
        return Refusal(ErrorCode.NOT_FOUND, f"no corp {corp_id}")
    updated = replace(current, **changes)
    w.put_corp(updated)
    return updated


def add_user(w: WriteTxn, handle: str, corp_id: int | None, now_ms: int, *,
             first_token: bool = False) -> Enrolled | Refusal:
    """An employee (of `corp_id`) or a consumer (None); with a first token in the
    same commit when `first_token` (the load tester provisioning thousands)."""
    user = w.create_user(handle, corp_id, now_ms)
    if isinstance(user, Refusal):
        return user
    if not first_token:
        return Enrolled(user)
    issued = w.issue_token(user.uid, now_ms)
    if isinstance(issued, Refusal):
        return issued
    return Enrolled(user, *issued)


def set_profile(w: WriteTxn, uid: int, changes: dict[str, Any]) -> User | Refusal:
    """Profile fields or the corp_admin flag; the name index follows the name."""
    current = _user(w, uid)
    if isinstance(current, Refusal):
        return current
    updated = replace(current, **changes)
    w.put_user(updated)
    w.do(tables.index_name, updated, current)
    return updated


def add_department(w: WriteTxn, corp_id: int, name: str, parent: int) -> Department:
    dept = Department(w.new_id("dept"), corp_id, name, parent)
    w.do(tables.put_department, dept)
    return dept


def disable_user(w: WriteTxn, uid: int) -> Access | Refusal:
    """No new logins, and every token revoked (the caller closes the sessions)."""
    current = _user(w, uid)
    if isinstance(current, Refusal):
        return current
    w.put_user(replace(current, disabled=True))
    return Access(current, current.disabled, w.revoke_user_tokens(uid))


def enable_user(w: WriteTxn, uid: int) -> Access | Refusal:
    current = _user(w, uid)
    if isinstance(current, Refusal):
        return current
    w.put_user(replace(current, disabled=False))
    return Access(current, current.disabled)
