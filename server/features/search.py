"""Search (revision 1.6): `search` → `search.page`.

The frame is checked here (a bad query, filter, limit, order or cursor is a
`bad_request`); the search itself — the index's candidates, each checked
against the store (corpchat.search.searcher) — runs in a worker thread, at
most `[search] query_threads` at once, so a query's milliseconds of CPU never
stall the event loop. Each running search counts as one of the session's
unanswered requests, so a client flooding searches is throttled like one
flooding sends, and a session may have at most `[search] per_session` searches
running or waiting (more are refused with `rate_limited`), so one client cannot
keep the worker threads from everyone else.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import trio

from corpchat.protocol import (
    ErrorCode,
    ProtocolError,
    Search,
    SearchHit,
    SearchPage,
    SearchSnippet,
)
from corpchat.search import (
    KINDS,
    Hit,
    IndexerProcess,
    Page,
    QueryError,
    Request,
    parse,
    read_cursor,
    search,
)
from corpchat.store import StorageError, User

from ..hub import error_frame
from ..routes import Routes
from ..services import Services, Spawn
from ..session import Session
from ..wsframes import event_frame
from .common import shown

routes = Routes()
log = logging.getLogger("corpchat.search")
ORDERS = ("newest", "relevance")
BUSY_RETRY_MS = 200  # retry_after_ms of a search refused while the session's others run


@dataclass(slots=True)
class Searching(Services):
    indexer: IndexerProcess | None  # None: search is off ([search] enabled = false)
    spawn: Spawn
    limiter: trio.CapacityLimiter
    running: dict[Session, int] = field(default_factory=dict)  # searches per session


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def request_of(s: Searching, user: User, frame: Search) -> Request:
    """The search a frame asks for, or a bad_request saying what is wrong with it."""
    caps = s.config.search
    limit = caps.page_default if frame.limit is None else frame.limit
    if not 1 <= limit <= caps.page_max:
        raise _bad(f"limit must be 1-{caps.page_max}")
    if frame.order not in (None, *ORDERS):
        raise _bad("order is 'newest' or 'relevance'")
    if frame.kind is not None and frame.kind not in KINDS:
        raise _bad(f"kind is one of {', '.join(KINDS)}")
    if frame.before is not None and frame.after is not None and frame.after >= frame.before:
        raise _bad("after must be earlier than before")
    try:
        query = parse(frame.query)
    except QueryError as exc:
        raise _bad(str(exc)) from None
    if frame.cursor is not None and len(frame.cursor) > 40:
        raise _bad("not a cursor of this search")
    return Request(uid=user.uid, query=query, limit=limit, newest=frame.order != "relevance",
                   conv=frame.conv, sender=frame.sender, before_ms=frame.before,
                   after_ms=frame.after, kind=frame.kind, cursor=frame.cursor)


@routes.handles(Search)
def search_messages(s: Searching, session: Session, frame: Search) -> None:
    user = session.authed_user
    if s.indexer is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, "search is turned off on this server")
    request = request_of(s, user, frame)
    if frame.conv is not None and s.store.membership(uid=user.uid, conv=frame.conv) is None:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of conversation {frame.conv}")
    if s.running.get(session, 0) >= s.config.search.per_session:
        # One client's flood must not keep everyone else's searches waiting.
        session.push(error_frame(ErrorCode.RATE_LIMITED, "a search of yours is still running",
                                 frame.id, BUSY_RETRY_MS))
        return
    s.running[session] = s.running.get(session, 0) + 1
    session.inflight += 1  # answered by the search task
    s.spawn(_run, s, session, user, frame.id, request)


async def _run(s: Searching, session: Session, user: User, request_id: int,
               request: Request) -> None:
    """Search in a worker thread and answer; a background task, so nothing escapes."""
    indexer = s.indexer
    assert indexer is not None
    index = indexer.index
    try:
        if index is None:  # just after a start, before the indexer has opened it: it holds
            read_cursor(request)  # nothing yet, as for any message not indexed yet
            page = Page((), None)
        else:
            run = functools.partial(search, index, s.store, request,
                                    max_candidates=s.config.search.max_candidates)
            page = await trio.to_thread.run_sync(run, limiter=s.limiter)
        frame = event_frame(_page(s, user, request_id, page))
    except QueryError as exc:  # a cursor that is not one
        frame = error_frame(ErrorCode.BAD_REQUEST, str(exc), request_id)
    except StorageError:
        frame = error_frame(ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable", request_id)
    except Exception:
        log.exception("search failed for %s", user.handle)
        frame = error_frame(ErrorCode.INTERNAL_ERROR, "search failed", request_id)
    left = s.running.pop(session, 1) - 1
    if left:
        s.running[session] = left
    session.sent_one()
    session.push(frame)


def _page(s: Searching, user: User, request_id: int, page: Page) -> SearchPage:
    senders = shown(s.store, user, (hit.msg for hit in page.hits))  # badges across realms
    return SearchPage(re=request_id, hits=tuple(_hit(hit, msg.display, msg.corp, msg.external)
                                                for hit, msg in zip(page.hits, senders,
                                                                    strict=True)),
                      cursor=page.cursor)


def _hit(hit: Hit, display: str | None, corp: str | None, external: bool | None) -> SearchHit:
    msg = hit.msg
    return SearchHit(conv=msg.conv, seq=msg.seq, pos=msg.pos, sender=msg.sender, time=msg.time_ms,
                     snippet=SearchSnippet(text=hit.snippet.text, ranges=hit.snippet.ranges),
                     kind=None if msg.kind == "text" else msg.kind, display=display, corp=corp,
                     external=external)
