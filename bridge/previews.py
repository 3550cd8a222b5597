"""Whether a push notification shows the message's text.

Rule (docs/operations.md, corp policy `push_previews`, default yes): "the
message text goes in the push notifications of the corp's employees; with
no, the notification names only the sender". The receiver's corp decides;
a consumer's notifications always carry the text.
"""

from __future__ import annotations

from corpchat.store import Corp

from .verdict import ALLOW, Verdict, refuse


def may_preview(receiver_corp: Corp | None) -> Verdict:
    """`receiver_corp`: the corp of the notification's receiver (None: a consumer)."""
    if receiver_corp is None or receiver_corp.push_previews:
        return ALLOW
    return refuse("forbidden", f"{receiver_corp.name} hides message text in notifications")
