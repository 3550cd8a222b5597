"""A hit's snippet: an excerpt of the message with the matched ranges marked.

Ranges are [start, end) offsets in Unicode code points into the snippet's
own text (not HTML, not bytes): a client marks them however it draws text.
They are found by analysing the text the store holds now with the same
analyzer as the index, so they agree with what the query matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .analyzer import Term, terms
from .query import Clause

__all__ = ["SNIPPET_CHARS", "Snippet", "snippet"]

SNIPPET_CHARS = 160  # the longest excerpt
_LEAD_CHARS = 30  # context kept before the first match


@dataclass(frozen=True, slots=True)
class Snippet:
    text: str
    ranges: tuple[tuple[int, int], ...]


def matches(text: str, clauses: Sequence[Clause]) -> list[tuple[int, int]]:
    """The ranges of `text` where a clause's terms occur in a row, sorted, merged."""
    found = terms(text)
    ranges: list[tuple[int, int]] = []
    for clause in clauses:
        ranges.extend(_clause_ranges(found, clause))
    return _merge(sorted(ranges))


def _clause_ranges(found: list[Term], clause: Clause) -> list[tuple[int, int]]:
    if clause.single_cjk():
        char = clause.terms[0]
        return [_char_range(term, char) for term in found if char in term.text]
    width = len(clause.terms)
    out = []
    for i in range(len(found) - width + 1):
        if all(found[i + j].text == clause.terms[j] for j in range(width)):
            out.append((found[i].start, found[i + width - 1].end))
    return out


def _char_range(term: Term, char: str) -> tuple[int, int]:
    if term.end - term.start == len(term.text):  # the term is the text's own characters
        start = term.start + term.text.index(char)
        return start, start + 1
    return term.start, term.end


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def snippet(text: str, clauses: Sequence[Clause]) -> Snippet:
    """An excerpt of `text` around its first match, with the matches in it marked."""
    ranges = matches(text, clauses)
    start = max(0, ranges[0][0] - _LEAD_CHARS) if ranges else 0
    if len(text) - start < SNIPPET_CHARS:
        start = max(0, len(text) - SNIPPET_CHARS)
    end = min(len(text), start + SNIPPET_CHARS)
    shown = tuple((max(a, start) - start, min(b, end) - start)
                  for a, b in ranges if a < end and b > start)
    return Snippet(text[start:end], shown)
