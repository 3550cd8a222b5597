"""bridge/direct.py: who may message whom directly, and which tie that needs."""

from __future__ import annotations

import pytest

from corpchat.bridge import CONTACT, FRIEND, may_message_directly, tie_needed

from .cast import ann, bob, carol, dan, eve, gone, left, outcome


@pytest.mark.parametrize(("sender", "recipient", "tied", "expected"), [
    # colleagues talk directly: no tie is asked for, a tie changes nothing
    (ann, bob, False, "ok"),
    (ann, bob, True, "ok"),
    (ann, ann, False, "ok"),  # notes to self
    (carol, carol, False, "ok"),
    # employees of different corps share nothing, whatever the tie
    (ann, eve, False, "forbidden"),
    (eve, ann, True, "forbidden"),
    # consumers talk with their friends only
    (carol, dan, True, "ok"),
    (carol, dan, False, "not_contact"),
    # an employee and a consumer, either way round, only while external contacts
    (ann, carol, True, "ok"),
    (carol, ann, True, "ok"),
    (ann, carol, False, "not_contact"),
    (carol, eve, False, "not_contact"),
    # a disabled recipient refuses everyone, colleagues and ties included
    (ann, gone, False, "no_such_user"),
    (bob, gone, True, "no_such_user"),
    (carol, left, True, "no_such_user"),
])
def test_may_message_directly(sender, recipient, tied, expected):
    assert outcome(may_message_directly(sender, recipient, tied=tied)) == expected


@pytest.mark.parametrize(("sender", "recipient", "reason"), [
    (ann, eve, "'eve' belongs to another corp"),
    (carol, dan, "'dan' is not a friend"),
    (ann, carol, "'carol' is not an external contact"),
    (ann, gone, "user 'gone' is disabled"),
])
def test_refusal_reasons(sender, recipient, reason):
    assert may_message_directly(sender, recipient).reason == reason


@pytest.mark.parametrize(("a", "b", "tie"), [
    (ann, bob, None),  # colleagues: the hot path looks nothing up
    (ann, eve, None),  # other corps: the realms alone refuse
    (ann, ann, None),
    (carol, carol, None),
    (carol, dan, FRIEND),
    (ann, carol, CONTACT),
    (carol, ann, CONTACT),
])
def test_tie_needed(a, b, tie):
    assert tie_needed(a, b) == tie

