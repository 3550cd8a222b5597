"""bridge/media.py: who may fetch and who may attach a file."""

from __future__ import annotations

import pytest

from corpchat.bridge.media import may_attach, may_fetch
from corpchat.store import CONSUMER, ENTERPRISE, User
from corpchat.store.media import MessageSighting, MomentSighting
from corpchat.store.records import Membership

ANN = User(1, "ann", ENTERPRISE, 1, 0)  # the uploader
BOSS = User(2, "boss", ENTERPRISE, 1, 0, corp_admin=True)
ZOE = User(3, "zoe", ENTERPRISE, 2, 0, corp_admin=True)  # another corp's admin
CARL = User(4, "carl", CONSUMER, 0, 0)
BEN = User(5, "ben", ENTERPRISE, 1, 0)

MEMBER = Membership(0)
LEFT = Membership(0, left_pos=10)  # removed at position 10
LATE = Membership(20)  # joined at position 20


@pytest.mark.parametrize(("viewer", "sightings", "allowed"), [
    (ANN, [], True),  # the uploader, before any message
    (BEN, [], False),  # anyone else: it does not exist
    (BEN, [MessageSighting(MEMBER, 5, False)], True),
    (BEN, [MessageSighting(None, 5, False)], False),  # never a member
    (BEN, [MessageSighting(LEFT, 11, False)], False),  # sent after the removal
    (BEN, [MessageSighting(LEFT, 9, False)], True),  # sent before it
    (BEN, [MessageSighting(LATE, 9, False)], False),  # before joining
    (BEN, [MessageSighting(MEMBER, 5, True)], False),  # recalled
    (ANN, [MessageSighting(MEMBER, 5, True)], False),  # recalled: the uploader too
    (ANN, [MessageSighting(MEMBER, 5, True), MessageSighting(None, 6, False)], True),
    (BEN, [MessageSighting(None, 1, False), MessageSighting(MEMBER, 7, False)], True),
    (CARL, [MomentSighting(ANN, True)], True),  # a customer of the author
    (CARL, [MomentSighting(ANN, False)], False),
    (BOSS, [MomentSighting(ANN, False)], True),  # the author's corp admin
    (ZOE, [MomentSighting(ANN, False)], False),
    (BEN, [MomentSighting(ANN, False)], False),  # a colleague, not an admin
    (ANN, [MomentSighting(ANN, False)], True),
    (BEN, [MomentSighting(None, False)], False),
])
def test_may_fetch(viewer, sightings, allowed):
    verdict = may_fetch(viewer, uploader=ANN.uid, sightings=sightings)
    assert verdict.allowed == allowed
    if not allowed:
        assert verdict.code == "not_found"  # never forbidden: existence is not revealed


@pytest.mark.parametrize(("viewer", "committed", "sightings", "allowed"), [
    (ANN, False, [], True),
    (BEN, False, [], False),  # another's pending upload
    (BEN, True, [MessageSighting(MEMBER, 5, False)], True),  # forwarding what one sees
    (BEN, True, [MessageSighting(None, 5, False)], False),
])
def test_may_attach(viewer, committed, sightings, allowed):
    verdict = may_attach(viewer, uploader=ANN.uid, committed=committed, sightings=sightings)
    assert verdict.allowed == allowed
    if not allowed:
        assert verdict.code == "no_such_media"
