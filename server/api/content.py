"""What an app message says (POST /api/v1/messages): a text, a markdown text or a
card (docs/api.md; revision 1.10 of the protocol carries the card and the
markdown mark to clients).

A card's `text` is its fallback for clients before 1.10 (and for search, previews
and push): its title, its description and "button: url" on lines of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import schema

KINDS = ("text", "markdown", "card")
DEFAULT_BUTTON = "Details"


@dataclass(frozen=True, slots=True)
class Content:
    text: str = ""  # "" for attachments alone
    card: tuple[str, str, str, str] | None = None  # (title, url, description, button)
    markdown: bool = False


def parse_content(body: dict[str, Any], max_text_bytes: int) -> Content:
    given = [kind for kind in KINDS if kind in body]
    if len(given) > 1 or (not given and "attachments" not in body):
        raise schema.bad("text", "give exactly one of text, markdown and card")
    if not given:
        return Content()
    if given[0] != "card":
        return Content(schema.string(body, given[0], max_bytes=max_text_bytes),
                       markdown=given[0] == "markdown")
    card = schema.obj_field(body, "card")
    assert card is not None  # given
    schema.only(card, {"title", "description", "url", "button"}, "card.")
    title = schema.string(card, "title", where="card.", max_bytes=128)
    description = schema.string(card, "description", where="card.", required=False,
                                 max_bytes=512) or ""
    url = schema.string(card, "url", where="card.", max_bytes=2048)
    button = schema.string(card, "button", where="card.", required=False, max_bytes=32) or ""
    if not url.startswith(("https://", "http://")) or len(url.split("//", 1)[1]) == 0:
        raise schema.bad("card.url", "must be an http(s) URL")
    return Content(card_text(title, url, description, button), (title, url, description, button))


def card_text(title: str, url: str, description: str, button: str) -> str:
    """The card as plain lines: what a client that cannot render it shows."""
    return "\n".join(p for p in (title, description, f"{button or DEFAULT_BUTTON}: {url}") if p)
