"""bridge/directory.py: the directory is for employees; who `user.info` answers about."""

from __future__ import annotations

import pytest

from corpchat.bridge import may_look_up, may_use_directory

from .cast import ann, bob, carol, dan, eve, gone, left, outcome


@pytest.mark.parametrize(("user", "expected"), [(ann, "ok"), (eve, "ok"), (carol, "forbidden")])
def test_may_use_directory(user, expected):
    assert outcome(may_use_directory(user)) == expected


@pytest.mark.parametrize(("viewer", "person", "peers", "expected"), [
    (ann, ann, False, "ok"),  # oneself
    (carol, carol, False, "ok"),
    (ann, bob, False, "ok"),  # colleagues
    (ann, eve, False, "no_such_user"),  # another corp, no shared conversation
    (ann, eve, True, "ok"),  # ... unless they are peers
    (ann, carol, True, "ok"),
    (ann, carol, False, "no_such_user"),  # a contact with no conversation yet
    (carol, dan, False, "no_such_user"),  # consumers are nobody's colleagues
    (carol, dan, True, "ok"),
    (ann, gone, True, "no_such_user"),  # disabled: not there, colleague or peer
    (carol, left, True, "no_such_user"),
])
def test_may_look_up(viewer, person, peers, expected):
    verdict = may_look_up(viewer, person, peers=lambda: peers)
    assert outcome(verdict) == expected
    assert verdict.allowed or verdict.reason == f"no user {person.handle!r}"


@pytest.mark.parametrize(("viewer", "person"), [(ann, ann), (ann, bob), (bob, ann)])
def test_oneself_and_colleagues_need_no_conversation_scan(viewer, person):
    def never() -> bool:
        raise AssertionError("peers scanned")

    assert may_look_up(viewer, person, peers=never).allowed
