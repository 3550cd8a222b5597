"""bridge/customers.py: tags, mass messages, transfers, hand-overs and moments."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corpchat.bridge import (
    CustomerCaps,
    handover_replaces_owner,
    may_act_for,
    may_add_tag,
    may_administer_corp,
    may_hand_over,
    may_inherit_history,
    may_mass_message,
    may_post_moment,
    may_serve_customers,
    may_transfer,
)

from .cast import ACME, ann, bob, carol, dan, eve, gone, outcome

CAPS = CustomerCaps(tags_per_corp=3, tag_name_chars=5, moment_chars=10, moment_attachments=2)


@pytest.mark.parametrize(("user", "expected"), [(ann, "ok"), (bob, "ok"), (carol, "forbidden")])
def test_may_serve_customers(user, expected):
    verdict = may_serve_customers(user)
    assert outcome(verdict) == expected
    assert verdict.allowed or verdict.reason == "for employees"


@pytest.mark.parametrize(("user", "expected"), [
    (ann, "ok"),  # a corp admin
    (bob, "forbidden"),  # an employee only
    (carol, "forbidden"),
    (replace(carol, corp_admin=True), "forbidden"),  # the flag means nothing outside a corp
])
def test_may_administer_corp(user, expected):
    assert outcome(may_administer_corp(user)) == expected


@pytest.mark.parametrize(("admin", "employee", "expected"), [
    (ann, bob, "ok"),
    (ann, ann, "ok"),
    (ann, eve, "forbidden"),
    (eve, ann, "forbidden"),
])
def test_may_act_for(admin, employee, expected):
    verdict = may_act_for(admin, employee)
    assert outcome(verdict) == expected
    assert verdict.allowed or verdict.reason == "only your corp's employees"


@pytest.mark.parametrize(("tags", "name", "expected"), [
    (0, "vip", "ok"),
    (2, "12345", "ok"),
    (0, "", "bad_request"),
    (0, "123456", "bad_request"),
    (3, "vip", "contact_limit"),
    (3, "", "bad_request"),  # the name is checked first
])
def test_may_add_tag(tags, name, expected):
    assert outcome(may_add_tag(tags, name, CAPS)) == expected


@pytest.mark.parametrize(("sent_today", "per_day", "expected"), [
    (0, 1, "ok"),
    (1, 1, "quota_exceeded"),
    (1, 2, "ok"),
    (2, 2, "quota_exceeded"),
])
def test_may_mass_message(sent_today, per_day, expected):
    caps = CustomerCaps(mass_messages_per_day=per_day)
    assert outcome(may_mass_message(sent_today, caps)) == expected


@pytest.mark.parametrize(("recent", "pending", "expected"), [
    (0, False, "ok"),
    (1, False, "ok"),
    (2, False, "quota_exceeded"),  # at most twice in 90 days
    (0, True, "exists"),  # one waiting transfer at a time
    (2, True, "exists"),
])
def test_may_transfer(recent, pending, expected):
    assert outcome(may_transfer(recent, pending, CustomerCaps())) == expected


@pytest.mark.parametrize(("source", "target", "expected"), [
    (ann, bob, "ok"),  # a colleague of the same corp
    (bob, ann, "ok"),
    (gone, bob, "ok"),  # the one leaving is usually disabled by then
    (ann, ann, "bad_request"),  # to oneself
    (ann, eve, "bad_request"),  # another corp
    (carol, dan, "bad_request"),  # consumers have no customers
    (carol, ann, "bad_request"),
    (ann, carol, "bad_request"),
])
def test_may_hand_over(source, target, expected):
    verdict = may_hand_over(source, target)
    assert outcome(verdict) == expected
    assert verdict.allowed or verdict.reason == "both must be employees of one corp, and differ"


@pytest.mark.parametrize(("corp", "expected"), [
    (None, "ok"),  # a corp since removed: its defaults
    (ACME, "ok"),  # the default: the colleague sees the earlier conversation
    (replace(ACME, transfer_history=True), "ok"),
    (replace(ACME, transfer_history=False), "forbidden"),  # only what is said from then on
])
def test_may_inherit_history(corp, expected):
    assert outcome(may_inherit_history(corp)) == expected


@pytest.mark.parametrize(("members", "colleague_is_member", "cap", "replaces"), [
    (10, False, 10, True),  # full, colleague outside: takes the old owner's seat
    (11, False, 10, True),
    (9, False, 10, False),  # room for one more: the old owner stays
    (10, True, 10, False),  # already in: no seat needed
    (3, True, 10, False),
])
def test_handover_replaces_owner(members, colleague_is_member, cap, replaces):
    assert handover_replaces_owner(members, colleague_is_member, cap) is replaces


@pytest.mark.parametrize(("posted_today", "text", "attachments", "expected"), [
    (0, "hello", 0, "ok"),
    (0, "0123456789", 2, "ok"),
    (0, "", 0, "bad_request"),
    (0, "01234567890", 0, "bad_request"),
    (0, "hello", 3, "bad_request"),
    (1, "hello", 0, "quota_exceeded"),  # one a day
    (1, "", 0, "bad_request"),  # the content is checked before the quota
])
def test_may_post_moment(posted_today, text, attachments, expected):
    assert outcome(may_post_moment(posted_today, text, attachments, CAPS)) == expected


@pytest.mark.parametrize("field", ["tags_per_corp", "broadcast_max", "transfer_window_ms",
                                   "moment_attachments"])
def test_customer_caps_are_positive(field):
    with pytest.raises(ValueError, match=field):
        CustomerCaps(**{field: 0})
