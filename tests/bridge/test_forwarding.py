"""bridge/forwarding.py: internal messages reach customers by a forward only if the
forwarder's corp allows it (forward_to_customers)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corpchat.bridge import may_forward

from .cast import ACME, ann, carol, outcome

OPEN = replace(ACME, forward_to_customers=True)


@pytest.mark.parametrize(("forwarder", "internal", "to_customers", "corp", "expected"), [
    (ann, True, False, ACME, "ok"),  # among colleagues
    (ann, False, True, ACME, "ok"),  # what customers already saw, to customers
    (ann, False, False, ACME, "ok"),  # what a customer wrote, to colleagues
    (ann, True, True, ACME, "forbidden"),  # internal to customers: the policy's default
    (ann, True, True, OPEN, "ok"),  # ... unless the corp allows it
    (ann, True, True, None, "forbidden"),
    (carol, True, True, None, "ok"),  # a consumer forwards what they see
    (carol, False, True, None, "ok"),
])
def test_may_forward(forwarder, internal, to_customers, corp, expected):
    assert outcome(may_forward(forwarder, internal, to_customers, corp)) == expected
