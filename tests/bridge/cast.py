"""The people and corps of the bridge's table tests: plain store records, no server.

Two corps (acme, globex), two employees of acme (one an admin), one of
globex, two consumers, and a disabled one of each realm.
"""

from __future__ import annotations

from corpchat.bridge import Verdict
from corpchat.store import CONSUMER, ENTERPRISE, Corp, User

ACME = Corp(1, "Acme", 0, full_name="Acme Corporation")
GLOBEX = Corp(2, "Globex", 0)

ann = User(11, "ann", ENTERPRISE, ACME.corp_id, 0, corp_admin=True, name="Ann", title="Sales",
           dept=3, phone="555", email="ann@acme")
bob = User(12, "bob", ENTERPRISE, ACME.corp_id, 0)
gone = User(13, "gone", ENTERPRISE, ACME.corp_id, 0, disabled=True)
eve = User(21, "eve", ENTERPRISE, GLOBEX.corp_id, 0)
carol = User(31, "carol", CONSUMER, 0, 0, name="Carol")
dan = User(32, "dan", CONSUMER, 0, 0)
left = User(33, "left", CONSUMER, 0, 0, disabled=True)


def outcome(verdict: Verdict) -> str:
    """A verdict as one table cell: "ok" or the refusal's error code."""
    assert verdict.allowed == (not verdict.code), verdict
    assert verdict.allowed or verdict.reason, "a refusal carries the reason sent as the error"
    return "ok" if verdict.allowed else verdict.code
