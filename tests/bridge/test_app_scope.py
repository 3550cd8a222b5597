"""bridge/app_scope.py: whom an app reaches (its corp's employees within its scope)."""

from __future__ import annotations

import pytest

from corpchat.bridge.app_scope import dept_in_app_scope, in_app_scope

from .cast import ACME, ann, bob, carol, eve, gone, outcome


@pytest.mark.parametrize(("user", "users", "depts", "ancestry", "expected"), [
    (ann, (), (3,), (3,), "ok"),  # her department is in the scope
    (ann, (), (1,), (3, 1), "ok"),  # a department above hers is
    (ann, (), (4,), (3, 1), "out_of_scope"),
    (bob, (bob.uid,), (), (), "ok"),  # named
    (bob, (), (), (), "out_of_scope"),  # an empty scope reaches no one
    (gone, (gone.uid,), (), (), "disabled"),
    (eve, (eve.uid,), (), (), "not_found"),  # another corp's employee, even if named
    (carol, (carol.uid,), (), (), "not_found"),  # consumers never
])
def test_in_app_scope(user, users, depts, ancestry, expected):
    assert outcome(in_app_scope(user, ACME.corp_id, users, depts, ancestry)) == expected


@pytest.mark.parametrize(("user", "scope_tags", "user_tags", "expected"), [
    (ann, (7,), (7, 8), "ok"),  # she carries a tag the scope names
    (ann, (7,), (8,), "out_of_scope"),
    (ann, (), (7,), "out_of_scope"),  # no tag in the scope
    (gone, (7,), (7,), "disabled"),
    (eve, (7,), (7,), "not_found"),  # another corp's employee, whatever she carries
    (carol, (7,), (7,), "not_found"),
])
def test_in_app_scope_by_tags(user, scope_tags, user_tags, expected):
    assert outcome(in_app_scope(user, ACME.corp_id, (), (), (), scope_tags, user_tags)) \
        == expected


@pytest.mark.parametrize(("ancestry", "depts", "expected"), [
    ((5, 3), (3,), "ok"), ((3,), (3,), "ok"),
    ((3,), (5,), "out_of_scope"), ((), (3,), "out_of_scope"),
])
def test_dept_in_app_scope(ancestry, depts, expected):
    assert outcome(dept_in_app_scope(ancestry, depts)) == expected
