"""Open platform follow-ups (revision 1.10): an app message's card, and markdown.

A card is a message kind clients render as a card (a title, a description, a
link and its button); its `text` is the same content as plain lines, so a client
that does not know cards shows a readable message (docs/protocol.md §36).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, nested_frame

__all__ = ["Card"]


@nested_frame
@dataclass(frozen=True, slots=True)
class Card(Frame):
    """The `card` map of a `msg` whose kind is "card"."""

    TYPE: ClassVar[str] = "card"
    title: str
    url: str  # http(s)
    description: str | None = None
    button: str | None = None  # the button's label (clients default to "Details")
