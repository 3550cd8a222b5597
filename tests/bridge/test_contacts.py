"""bridge/contacts.py: external contacts, consumer friends and their caps."""

from __future__ import annotations

import pytest

from corpchat.bridge import (
    BridgeCaps,
    day_number,
    may_accept_contact,
    may_befriend,
    may_request_contact,
    until_next_day_ms,
)

from .cast import ann, bob, carol, dan, outcome

CAPS = BridgeCaps(contacts_per_employee=3, contacts_per_corp=5, contact_requests_per_day=2,
                  friends_per_user=2)
DAY = 86_400_000


@pytest.mark.parametrize(("employee", "consumer", "already", "contacts", "today", "expected"), [
    (ann, carol, False, 0, 0, "ok"),
    (ann, carol, False, 2, 1, "ok"),
    # only an employee asks a consumer
    (carol, ann, False, 0, 0, "forbidden"),
    (ann, bob, False, 0, 0, "forbidden"),
    (carol, dan, False, 0, 0, "forbidden"),
    # the realms first, then an existing contact, then the caps in order
    (carol, ann, True, 3, 2, "forbidden"),
    (ann, carol, True, 3, 2, "bad_request"),
    (ann, carol, False, 3, 2, "contact_limit"),
    (ann, carol, False, 2, 2, "quota_exceeded"),
])
def test_may_request_contact(employee, consumer, already, contacts, today, expected):
    verdict = may_request_contact(employee, consumer, already=already,
                                  employee_contacts=contacts, requests_today=today, caps=CAPS)
    assert outcome(verdict) == expected


@pytest.mark.parametrize(("employee_contacts", "corp_contacts", "expected", "reason"), [
    (0, 0, "ok", ""),
    (2, 4, "ok", ""),
    (3, 0, "contact_limit", "the employee has 3 contacts"),
    (0, 5, "contact_limit", "the corp has 5 contacts"),
    (3, 5, "contact_limit", "the employee has 3 contacts"),
])
def test_may_accept_contact(employee_contacts, corp_contacts, expected, reason):
    verdict = may_accept_contact(employee_contacts, corp_contacts, CAPS)
    assert (outcome(verdict), verdict.reason) == (expected, reason)


@pytest.mark.parametrize(("sender", "other", "friends", "expected"), [
    (carol, dan, 0, "ok"),
    (dan, carol, 1, "ok"),
    (carol, dan, 2, "contact_limit"),
    (carol, carol, 0, "forbidden"),  # not oneself
    (carol, ann, 0, "forbidden"),  # employees are contacts, not friends
    (ann, carol, 0, "forbidden"),
    (ann, bob, 0, "forbidden"),
])
def test_may_befriend(sender, other, friends, expected):
    assert outcome(may_befriend(sender, other, friends=friends, caps=CAPS)) == expected


@pytest.mark.parametrize(("now", "until_reset", "day"), [
    (0, DAY, 0),
    (1, DAY - 1, 0),
    (DAY - 1, 1, 0),
    (DAY, DAY, 1),  # the quotas reset at UTC midnight
    (3 * DAY + 5, DAY - 5, 3),
])
def test_the_quota_day(now, until_reset, day):
    assert (until_next_day_ms(now), day_number(now)) == (until_reset, day)


@pytest.mark.parametrize("field", ["contacts_per_employee", "contacts_per_corp",
                                   "contact_requests_per_day", "friends_per_user", "note_chars"])
@pytest.mark.parametrize("value", [0, -1])
def test_bridge_caps_are_positive(field, value):
    with pytest.raises(ValueError, match=field):
        BridgeCaps(**{field: value})
