"""A user's search: the index proposes, the store decides.

The index is asked for candidates among the conversations the store says
the user belongs to (now, former memberships included), with the filters;
each candidate is then read from the store and shown only if the user may
see that message now (`store.messages.shown_messages`: membership spans,
recalls). The index is never trusted for visibility: a candidate the store
refuses is skipped, whatever the index says.

Edits. The index holds a message's latest text, but a former member sees the
version current when they left (`store.everyday.as_seen`, as their history
shows it): such a hit is shown with that version, and only if the query
matches that version (`archive_match`, the index's own clauses) — so a
later edit is neither shown to them nor found through its words. (The older
text they saw is not in the index, so a query for words only it held finds
nothing: a miss, never a leak.)

Over-fetching is bounded: at most `max_candidates` candidates are examined
per request, so a user with many hits they may not see (a re-added member
whose earlier span is gone, say) still gets an answer quickly — a page that
may be short, with a cursor to continue from where the examination stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

from corpchat.store import Message, Store
from corpchat.store.conversations import membership, user_memberships
from corpchat.store.everyday import as_seen
from corpchat.store.messages import shown_messages
from corpchat.store.scan import Dbs, Txn

from .archive import archive_match
from .index import SCHEMA, Candidate, SearchIndex
from .indexer import file_names, kind_of
from .query import ParsedQuery, QueryError
from .snippet import Snippet, snippet

__all__ = ["Hit", "Page", "Request", "read_cursor", "search"]

KINDS = ("text", "file", "image", "voice", "video")


@dataclass(frozen=True, slots=True)
class Request:
    uid: int
    query: ParsedQuery
    limit: int
    newest: bool = True
    conv: int | None = None
    sender: str | None = None  # handle
    before_ms: int | None = None
    after_ms: int | None = None
    kind: str | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    msg: Message
    score: float
    snippet: Snippet


@dataclass(frozen=True, slots=True)
class Page:
    hits: tuple[Hit, ...]
    cursor: str | None  # None: nothing more


def search(index: SearchIndex, store: Store, request: Request, *,
           max_candidates: int = 500) -> Page:
    """One page of hits `request.uid` may see (QueryError for a bad cursor)."""
    convs = store.read(_member_convs, uid=request.uid)
    if request.conv is not None:
        convs = [conv for conv in convs if conv == request.conv]
    if not convs:
        return Page((), None)
    offset, below = read_cursor(request)
    query = _query(request, convs, below)
    hits: list[Hit] = []
    examined = 0
    while examined < max_candidates:
        want = min(max(2 * request.limit, 20), max_candidates - examined)
        found = index.search(query, newest=request.newest, offset=offset, limit=want)
        examined += len(found)
        shown = store.read(_shown, uid=request.uid, query=request.query,
                           wanted=[(c.conv, c.seq) for c in found])
        for i, (candidate, msg) in enumerate(zip(found, shown, strict=True)):
            if msg is not None and _passes(request, msg):
                hits.append(Hit(msg, candidate.score, hit_snippet(msg, request.query)))
                if len(hits) == request.limit:
                    rest = i + 1 < len(found) or len(found) == want
                    return Page(tuple(hits), _cursor(request, candidate, offset + i + 1)
                                if rest else None)
        if len(found) < want:
            return Page(tuple(hits), None)
        offset += len(found)
        if request.newest:
            below, offset = found[-1].pos, 0
            query = _query(request, convs, below)
    return Page(tuple(hits), _cursor(request, found[-1], offset))


def hit_snippet(msg: Message, query: ParsedQuery) -> Snippet:
    """The text's snippet, or a file name's when only a name matched."""
    found = snippet(msg.text, query.wanted)
    if not found.ranges:
        for name in file_names(msg):
            named = snippet(name, query.wanted)
            if named.ranges:
                return named
    return found


def _shown(txn: Txn, db: Dbs, *, uid: int, query: ParsedQuery,
           wanted: list[tuple[int, int]]) -> list[Message | None]:
    """Each candidate as the reader sees it, or None: not theirs to see, or an edited
    message whose version they see (a former member's) does not match the query."""
    out: list[Message | None] = []
    for msg in shown_messages(txn, db, uid=uid, wanted=wanted):
        span = membership(txn, db, uid=uid, conv=msg.conv) if msg and msg.version else None
        if msg is not None and span is not None and span.left_pos:
            seen = as_seen(txn, db, msg, span)
            matched = seen.version == msg.version or archive_match(seen.text, query) is not None
            out.append(seen if matched else None)
        else:
            out.append(msg)
    return out


def _member_convs(txn: Txn, db: Dbs, *, uid: int) -> list[int]:
    """Every conversation the user is or was a member of (read inside the txn)."""
    return [conv for conv, _ in user_memberships(txn, db, uid=uid)]


def _passes(request: Request, msg: Message) -> bool:
    """The filters again, on the store's record (the index is only a proposal)."""
    return ((request.sender is None or msg.sender == request.sender)
            and (request.before_ms is None or msg.time_ms < request.before_ms)
            and (request.after_ms is None or msg.time_ms > request.after_ms)
            and (request.kind is None or kind_of(msg) == request.kind))


def _query(request: Request, convs: list[int], below: int | None) -> tantivy.Query:
    must = tantivy.Occur.Must
    parts = [(must, request.query.tantivy()),
             (must, tantivy.Query.term_set_query(SCHEMA, "conv", convs))]
    if request.sender is not None:
        parts.append((must, tantivy.Query.term_query(SCHEMA, "sender", request.sender)))
    if request.kind is not None:
        parts.append((must, tantivy.Query.term_query(SCHEMA, "kind", request.kind)))
    if request.before_ms is not None or request.after_ms is not None:
        parts.append((must, _range("time", request.after_ms, request.before_ms)))
    if below is not None:
        parts.append((must, _range("pos", None, below)))
    return tantivy.Query.boolean_query(parts)


def _range(field: str, above: int | None, below: int | None) -> tantivy.Query:
    """Values strictly between `above` and `below` (either may be open)."""
    return tantivy.Query.range_query(SCHEMA, field, tantivy.FieldType.Unsigned,
                                     above, below, include_lower=above is None,
                                     include_upper=below is None)


def _cursor(request: Request, last: Candidate, offset: int) -> str:
    """Newest first: below the last position examined; by relevance: an offset."""
    return f"p{last.pos}" if request.newest else f"o{offset}"


def read_cursor(request: Request) -> tuple[int, int | None]:
    """(offset, below position) where the previous page stopped."""
    cursor = request.cursor
    if cursor is None:
        return 0, None
    kind, number = cursor[:1], cursor[1:]
    if not (number.isascii() and number.isdigit() and len(number) <= 19) \
            or kind != ("p" if request.newest else "o"):
        raise QueryError(f"not a cursor of this search's order: {cursor!r}")
    return (0, int(number)) if request.newest else (int(number), None)
