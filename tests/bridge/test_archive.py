"""bridge/archive.py: which corp archives a message."""

from __future__ import annotations

import pytest

from corpchat.bridge import archive_corp, group_archive_corp
from corpchat.store import GROUP
from corpchat.store.records import Conversation

from .cast import ACME, GLOBEX, ann, bob, carol, dan, eve


@pytest.mark.parametrize(("sender", "recipient", "corp"), [
    (ann, bob, None),  # inside a realm nothing is archived
    (ann, eve, None),
    (carol, dan, None),
    (ann, ann, None),
    (ann, carol, ACME.corp_id),  # across realms, the employee's corp, either way round
    (carol, ann, ACME.corp_id),
    (carol, eve, GLOBEX.corp_id),
])
def test_archive_corp(sender, recipient, corp):
    assert archive_corp(sender, recipient) == corp


@pytest.mark.parametrize(("consumers", "owner_corp", "corp"), [
    (0, ACME.corp_id, None),  # employees only: not an external group
    (1, ACME.corp_id, ACME.corp_id),
    (100, GLOBEX.corp_id, GLOBEX.corp_id),
    (3, 0, None),  # no owning corp (a 1.1 consumer's group): nobody to archive for
    (0, 0, None),
])
def test_group_archive_corp(consumers, owner_corp, corp):
    group = Conversation(7, GROUP, 0, members=consumers + 1, consumers=consumers,
                         corp_id=owner_corp)
    assert group_archive_corp(group) == corp
