"""The operator's sign-in commands: `user invite` and `user password` (and the invite
that `user add` prints, server/invites.py). An operator never handles anyone's token:
a person redeems the invite and chooses a password; for scripted set-ups `user
password` sets one from standard input. Their audit lines (server/admin.py,
AUDITED) name the user, never the password or the invite.
"""

from __future__ import annotations

from typing import Any

from corpchat.protocol import Refusal
from corpchat.protocol.admin import AdminError

from .admin_commands import command
from .invites import new_invite
from .ops import credentials as ops
from .passwords import password_problem
from .services import Running


def _handle(app: Running, args: dict[str, Any]) -> Any:
    handle = args.get("handle")
    if not isinstance(handle, str):
        raise AdminError("bad_request", "argument 'handle' must be a str")
    user = app.store.user_by_handle(handle)
    if user is None:
        raise AdminError("not_found", f"no user {handle!r}")
    return user


@command("user.invite")
async def user_invite(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """A new invite for a user (the old one ends): its code and the link to give them."""
    user = _handle(app, args)
    made = await new_invite(app, user.uid)
    if isinstance(made, Refusal):
        raise AdminError(made.code, made.reason)
    return {"handle": user.handle, **made}


@command("user.password")
async def user_password(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Set a user's password (the CLI reads it from standard input); devices stay."""
    user = _handle(app, args)
    password = args.get("password")
    if not isinstance(password, str):
        raise AdminError("bad_request", "argument 'password' must be a str")
    problem = password_problem(password, user.handle)
    if problem is not None:
        raise AdminError("bad_request", problem)
    hashed = await app.passwords.hash(password)
    done = await app.write(lambda w: ops.set_password(w, user.uid, hashed))
    if isinstance(done, Refusal):
        raise AdminError(done.code, done.reason)
    return {"handle": user.handle, "password_set": True}
