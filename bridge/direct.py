"""Who may open a direct conversation with whom.

Rule (DESIGN.md, "Realms and the bridge"): inside a realm the core routes
directly — employees of one corp with each other, consumers with each
other. Employees of different corps do not share a directory, and a
consumer becomes reachable by an employee only through an accepted
external-contact request (the external-contact rules extend this module).
"""

from __future__ import annotations

from corpchat.store import ENTERPRISE, User

from .verdict import ALLOW, Verdict, refuse


def may_message_directly(sender: User, recipient: User) -> Verdict:
    if recipient.disabled:
        return refuse("no_such_user", f"user {recipient.handle!r} is disabled")
    if sender.realm != recipient.realm:
        return refuse("not_contact", f"{recipient.handle!r} is not an external contact")
    if sender.realm == ENTERPRISE and sender.corp_id != recipient.corp_id:
        return refuse("forbidden", f"{recipient.handle!r} belongs to another corp")
    return ALLOW
