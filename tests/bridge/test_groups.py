"""bridge/groups.py: who creates and owns groups, and the cap on consumer members."""

from __future__ import annotations

import pytest

from corpchat.bridge import admit_consumers, may_create_group, may_own_group

from .cast import ann, carol, eve, outcome


@pytest.mark.parametrize(("current", "adding", "cap", "expected"), [
    (0, 0, 100, "ok"),
    (0, 100, 100, "ok"),
    (99, 1, 100, "ok"),
    (100, 0, 100, "ok"),  # adding employees to a full group
    (100, 1, 100, "group_full"),
    (50, 51, 100, "group_full"),  # the whole request fails, not just the 101st
    (0, 3, 2, "group_full"),
])
def test_admit_consumers(current, adding, cap, expected):
    assert outcome(admit_consumers(current, adding, cap)) == expected


@pytest.mark.parametrize(("user", "expected"), [(ann, "ok"), (eve, "ok"), (carol, "forbidden")])
def test_may_own_group(user, expected):
    assert outcome(may_own_group(user)) == expected


@pytest.mark.parametrize(("user", "expected"), [(ann, "ok"), (eve, "ok"), (carol, "forbidden")])
def test_may_create_group(user, expected):
    verdict = may_create_group(user)
    assert outcome(verdict) == expected
    assert verdict.allowed or verdict.reason == "employees create groups"
