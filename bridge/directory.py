"""Who may look whom up.

Rules (docs/protocol.md): the directory is for employees only — "a
consumer gets `forbidden`" for `directory.search` and
`directory.department` (§20.4). `user.info` may ask about "the caller
themselves, the caller's colleagues (employees of the same corp) and the
caller's peers"; anyone else, and a disabled account, is answered as
`no_such_user`, so the answer does not tell that they exist (§21.6).
"""

from __future__ import annotations

from collections.abc import Callable

from corpchat.store import ENTERPRISE, User

from .verdict import ALLOW, Verdict, refuse


def may_use_directory(user: User) -> Verdict:
    if user.realm != ENTERPRISE:
        return refuse("forbidden", "the directory is for employees")
    return ALLOW


def may_look_up(viewer: User, person: User, *, peers: Callable[[], bool]) -> Verdict:
    """`peers`: whether the two share a conversation now — called only when neither
    being oneself nor being colleagues decides (it scans the viewer's conversations)."""
    if person.disabled:
        return refuse("no_such_user", f"no user {person.handle!r}")
    if viewer.uid == person.uid or (viewer.corp_id and viewer.corp_id == person.corp_id):
        return ALLOW
    if peers():
        return ALLOW
    return refuse("no_such_user", f"no user {person.handle!r}")
