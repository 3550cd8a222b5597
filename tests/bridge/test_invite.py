"""bridge/invite.py: who may bring whom into a group."""

from __future__ import annotations

import pytest

from corpchat.bridge import CONTACT, may_invite, tie_needed

from .cast import ann, bob, carol, dan, eve, outcome


@pytest.mark.parametrize(("actor", "invitee", "contact", "expected", "reason"), [
    (ann, bob, False, "ok", ""),  # a colleague
    (ann, ann, False, "ok", ""),
    (ann, eve, False, "forbidden", "'eve' is in another corp"),
    (ann, eve, True, "forbidden", "'eve' is in another corp"),
    (ann, carol, True, "ok", ""),  # the inviter's own external contact
    (ann, carol, False, "not_contact", "'carol' is not your external contact"),
    (carol, dan, True, "forbidden", "only employees invite consumers"),
    (carol, dan, False, "forbidden", "only employees invite consumers"),
    (carol, ann, False, "forbidden", "'ann' is in another corp"),  # a consumer invites nobody
])
def test_may_invite(actor, invitee, contact, expected, reason):
    verdict = may_invite(actor, invitee, contact=contact)
    assert (outcome(verdict), verdict.reason) == (expected, reason)


@pytest.mark.parametrize(("actor", "invitee"), [(ann, carol), (bob, dan)])
def test_the_contact_asked_about_is_the_tie_the_bridge_names(actor, invitee):
    assert tie_needed(actor, invitee) == CONTACT
