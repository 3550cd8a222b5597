"""bridge/previews.py: whether a push notification carries the message's text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corpchat.bridge import may_preview

from .cast import ACME, GLOBEX, outcome


@pytest.mark.parametrize(("receiver_corp", "expected"), [
    (None, "ok"),  # a consumer: always the text
    (ACME, "ok"),  # a corp's default shows it
    (GLOBEX, "ok"),
    (replace(ACME, push_previews=True), "ok"),
    (replace(ACME, push_previews=False), "forbidden"),  # only the sender is named
])
def test_may_preview(receiver_corp, expected):
    assert outcome(may_preview(receiver_corp)) == expected
