"""bridge/badge.py: how people appear across the realm boundary."""

from __future__ import annotations

import pytest

from corpchat.bridge import Badge, may_see_directory, seen_by_consumers, seen_by_employees

from .cast import ACME, GLOBEX, ann, bob, carol, dan, eve, outcome


@pytest.mark.parametrize(("person", "corp", "badge"), [
    # an employee: "Name @CorpShortName", the title and the corp's full name
    (ann, ACME, Badge("Ann @Acme", "Sales", "Acme Corporation", False)),
    (eve, GLOBEX, Badge("eve @Globex", None, "Globex", False)),  # no full name: the short one
    (bob, None, Badge("bob", None, None, False)),  # a corp since removed: the plain name
    # a consumer, as another consumer sees them
    (carol, None, Badge("Carol", None, None, False)),
    (dan, ACME, Badge("dan", None, None, False)),
])
def test_seen_by_consumers(person, corp, badge):
    assert seen_by_consumers(person, corp) == badge


@pytest.mark.parametrize(("person", "badge"), [
    (ann, Badge("Ann", "Sales", None, False)),
    (eve, Badge("eve", None, None, False)),
    (carol, Badge("Carol", None, None, True)),  # consumers are marked external
])
def test_seen_by_employees(person, badge):
    assert seen_by_employees(person) == badge


@pytest.mark.parametrize(("viewer", "person", "expected"), [
    (ann, bob, "ok"),  # colleagues
    (bob, ann, "ok"),
    (ann, ann, "ok"),
    (ann, eve, "forbidden"),  # another corp
    (carol, ann, "forbidden"),  # consumers never see directory fields
    (ann, carol, "forbidden"),  # consumers have none to show
    (carol, dan, "forbidden"),
    (carol, carol, "forbidden"),
])
def test_may_see_directory(viewer, person, expected):
    assert outcome(may_see_directory(viewer, person)) == expected
