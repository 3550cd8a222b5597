"""Who may open a direct conversation with whom.

Rule (docs/architecture.md, "Realms and the bridge"): inside a realm the core routes
directly — employees of one corp with each other; consumers with their
friends. Employees of different corps share nothing. A consumer and an
employee talk only while they are external contacts.
"""

from __future__ import annotations

from typing import Literal

from corpchat.store import CONSUMER, ENTERPRISE, User

from .verdict import ALLOW, Verdict, refuse

Tie = Literal["contact", "friend"]
CONTACT: Tie = "contact"  # an employee and a consumer who accepted their request
FRIEND: Tie = "friend"  # two consumers


def tie_needed(sender: User, other: User) -> Tie | None:
    """The relationship the rules ask about for this pair; None when the realms decide alone.

    Colleagues (and notes to self) need none, so the hot path of a message
    between employees looks nothing up.
    """
    if sender.uid == other.uid or sender.realm == other.realm == ENTERPRISE:
        return None
    if sender.realm == other.realm == CONSUMER:
        return FRIEND
    return CONTACT


def may_message_directly(sender: User, recipient: User, *, tied: bool = False) -> Verdict:
    """`tied`: whether the pair has the tie `tie_needed` names (ignored when it names none)."""
    if recipient.disabled:
        return refuse("no_such_user", f"user {recipient.handle!r} is disabled")
    tie = tie_needed(sender, recipient)
    if tie is None:
        if sender.corp_id != recipient.corp_id:
            return refuse("forbidden", f"{recipient.handle!r} belongs to another corp")
        return ALLOW  # colleagues, or notes to self
    if tied:
        return ALLOW
    if tie == FRIEND:
        return refuse("not_contact", f"{recipient.handle!r} is not a friend")
    return refuse("not_contact", f"{recipient.handle!r} is not an external contact")

