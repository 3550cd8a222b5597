"""bridge/receipts.py: whose read state crosses realms, and which corp decides."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corpchat.bridge import deciding_corp_id, read_state_visible

from .cast import ACME, GLOBEX, ann, bob, carol, dan, eve, outcome

OPEN = replace(ACME, show_consumer_reads=True, show_employee_reads=True)
CLOSED = replace(ACME, show_consumer_reads=False, show_employee_reads=False)


@pytest.mark.parametrize(("reader", "viewer", "corp"), [
    (ann, bob, 0),  # one realm: no corp decides
    (ann, eve, 0),
    (carol, dan, 0),
    (carol, ann, ACME.corp_id),  # a consumer read: the viewing employee's corp
    (carol, eve, GLOBEX.corp_id),
    (ann, carol, ACME.corp_id),  # an employee read: the reading employee's corp
])
def test_deciding_corp_id(reader, viewer, corp):
    assert deciding_corp_id(reader, viewer) == corp


@pytest.mark.parametrize(("reader", "viewer", "corp", "expected"), [
    # one realm: always shown, whatever any corp says
    (ann, bob, CLOSED, "ok"),
    (carol, dan, None, "ok"),
    (ann, eve, None, "ok"),
    # a consumer's read state: shown to employees unless their corp hides it
    (carol, ann, None, "ok"),  # a corp that never changed its policy
    (carol, ann, ACME, "ok"),
    (carol, ann, OPEN, "ok"),
    (carol, ann, CLOSED, "forbidden"),
    # an employee's read state: hidden from consumers unless their corp shows it
    (ann, carol, None, "forbidden"),
    (ann, carol, ACME, "forbidden"),
    (ann, carol, CLOSED, "forbidden"),
    (ann, carol, OPEN, "ok"),
])
def test_read_state_visible(reader, viewer, corp, expected):
    assert outcome(read_state_visible(reader, viewer, corp)) == expected
