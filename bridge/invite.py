"""Who may bring whom into a group.

Rule (docs/protocol.md, "Who may be in a group"): employees of the corp;
consumers, each only on the invitation of an employee whose own external
contact they are; nobody else: an employee of another corp gives
`forbidden`; a consumer who is not the inviter's external contact gives
`not_contact`; a consumer may not invite anyone (`forbidden`).
"""

from __future__ import annotations

from corpchat.store import CONSUMER, User

from .verdict import ALLOW, Verdict, refuse


def may_invite(actor: User, invitee: User, *, contact: bool = False) -> Verdict:
    """`contact`: whether `invitee` is `actor`'s external contact (asked only for a
    consumer invited by an employee: `tie_needed(actor, invitee) == CONTACT`)."""
    if invitee.realm == CONSUMER:
        if actor.realm == CONSUMER:
            return refuse("forbidden", "only employees invite consumers")
        if not contact:
            return refuse("not_contact", f"{invitee.handle!r} is not your external contact")
        return ALLOW
    if invitee.corp_id != actor.corp_id:
        return refuse("forbidden", f"{invitee.handle!r} is in another corp")
    return ALLOW
