"""bridge/urgent.py: only employees send urgent messages, within a daily quota."""

from __future__ import annotations

import pytest

from corpchat.bridge import may_mark_urgent, may_send_urgent

from .cast import ann, carol, eve, outcome


@pytest.mark.parametrize(("sender", "expected"), [(ann, "ok"), (eve, "ok"), (carol, "forbidden")])
def test_may_mark_urgent(sender, expected):
    assert outcome(may_mark_urgent(sender)) == expected


@pytest.mark.parametrize(("sender", "used", "per_day", "expected", "reason"), [
    (ann, 0, 5, "ok", ""),
    (ann, 4, 5, "ok", ""),
    (ann, 5, 5, "quota_exceeded", "at most 5 urgent messages a day"),
    (ann, 9, 5, "quota_exceeded", "at most 5 urgent messages a day"),
    (eve, 0, 1, "ok", ""),
    # the realm comes first: a consumer is refused as such, quota or not
    (carol, 0, 5, "forbidden", "consumers cannot send urgent messages"),
    (carol, 5, 5, "forbidden", "consumers cannot send urgent messages"),
])
def test_may_send_urgent(sender, used, per_day, expected, reason):
    verdict = may_send_urgent(sender, used, per_day)
    assert (outcome(verdict), verdict.reason) == (expected, reason)
