"""Matching the corp archive against a query, for compliance officers.

The archive (store/contacts.py, `archive` table) keeps every cross-realm
message as it was sent, recalled ones included, and every later version
written to it; it is read page by page and each entry is matched with the
same analyzer and clauses as the index uses, so a query finds in the
archive what it would find in the index. It is a scan — an operator's
query over one corp, not a user's interactive search.
"""

from __future__ import annotations

from .query import ParsedQuery
from .snippet import Snippet, matches, snippet

__all__ = ["archive_match"]


def archive_match(text: str, query: ParsedQuery) -> Snippet | None:
    """The snippet of an archived text that the query finds, or None."""
    for clause in query.clauses:
        if bool(matches(text, (clause,))) == clause.exclude:
            return None
    return snippet(text, query.wanted)
