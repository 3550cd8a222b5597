"""Search (revision 1.6): find the messages you may see, by words and filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame, wire

__all__ = ["Search", "SearchHit", "SearchPage", "SearchSnippet"]


@client_frame
@dataclass(frozen=True, slots=True)
class Search(Frame):
    """Messages matching `query` that the caller may see now, newest first (or by
    `order`: "newest" or "relevance"), paged by `cursor`. `before`/`after` are
    server times in ms; `from` a sender's handle; `kind` text/file/image/voice/video."""

    TYPE: ClassVar[str] = "search"
    id: int
    query: str
    conv: int | None = None
    sender: str | None = wire("from", None)
    before: int | None = None
    after: int | None = None
    kind: str | None = None
    limit: int | None = None
    cursor: str | None = None
    order: str | None = None


@nested_frame
@dataclass(frozen=True, slots=True)
class SearchSnippet(Frame):
    """An excerpt of the message; `ranges` are [start, end) offsets in code points
    into `text` where the query matched (plain text: no markup)."""

    TYPE: ClassVar[str] = "snippet"
    text: str
    ranges: tuple[tuple[int, ...], ...]


@nested_frame
@dataclass(frozen=True, slots=True)
class SearchHit(Frame):
    TYPE: ClassVar[str] = "hit"
    conv: int
    seq: int
    pos: int
    sender: str = wire("from")
    time: int = 0
    snippet: SearchSnippet | None = None
    kind: str | None = None  # absent for text
    display: str | None = None  # how to show the sender, as in `msg` (badges across realms)
    corp: str | None = None
    external: bool | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class SearchPage(Frame):
    """One page of hits; `cursor` (absent on the last page) asks for the next."""

    TYPE: ClassVar[str] = "search.page"
    re: int
    hits: tuple[SearchHit, ...]
    cursor: str | None = None
