"""Who may open a direct conversation with whom.

Rule (DESIGN.md, "Realms and the bridge"): inside a realm the core routes
directly — employees of one corp with each other; consumers with their
friends. Employees of different corps share nothing. A consumer and an
employee talk only while they are external contacts.
"""

from __future__ import annotations

from corpchat.store import CONSUMER, ENTERPRISE, User

from .verdict import ALLOW, Verdict, refuse


def may_message_directly(sender: User, recipient: User, *, contacts: bool = False,
                         friends: bool = False) -> Verdict:
    if recipient.disabled:
        return refuse("no_such_user", f"user {recipient.handle!r} is disabled")
    if sender.uid == recipient.uid:
        return ALLOW  # notes to self
    if sender.realm == recipient.realm == ENTERPRISE:
        if sender.corp_id != recipient.corp_id:
            return refuse("forbidden", f"{recipient.handle!r} belongs to another corp")
        return ALLOW
    if sender.realm == recipient.realm == CONSUMER:
        return ALLOW if friends else refuse("not_contact", f"{recipient.handle!r} is not a friend")
    if contacts:
        return ALLOW
    return refuse("not_contact", f"{recipient.handle!r} is not an external contact")


def archive_corp(sender: User, recipient: User) -> int | None:
    """The corp that archives a direct message: the employee's, when realms differ."""
    if sender.realm == recipient.realm:
        return None
    return sender.corp_id if sender.realm == ENTERPRISE else recipient.corp_id
