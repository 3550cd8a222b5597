"""Requests after decoding: the dispatcher of every client frame.

Each feature module (server/features/) registers its handlers per frame
type (server/routes.py); the composition root binds each module to its
services and hands the tables here. A handler answers with frames pushed to
the session, or submits a write whose context answers it after the commit.
Every refusal is an `error` frame with a code from the table in
docs/protocol.md.
"""

from __future__ import annotations

import logging

from corpchat.protocol import (
    CloseCode,
    ErrorCode,
    Frame,
    Limits,
    ProtocolError,
    decode_client_frame,
)
from corpchat.store import StorageError

from .hub import error_frame
from .routes import Route
from .session import Session

log = logging.getLogger("corpchat.server")


class RequestHandler:
    def __init__(self, routes: dict[type[Frame], Route], limits: Limits) -> None:
        self.routes = routes
        self.limits = limits

    def handle(self, session: Session, payload: bytes) -> None:
        """Decode one client payload and act on it."""
        try:
            frame = decode_client_frame(payload, self.limits)
        except ProtocolError as exc:
            self._refuse(session, exc)
            return
        try:
            self._dispatch(session, frame)
        except ProtocolError as exc:
            exc.request_id = getattr(frame, "id", None)
            self._refuse(session, exc)
        except StorageError as exc:
            log.error("storage error for %s: %s", session.id, exc)
            session.push(error_frame(ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable",
                                     getattr(frame, "id", None)))

    def _refuse(self, session: Session, exc: ProtocolError) -> None:
        session.push(error_frame(exc.code, exc.message, exc.request_id))
        if exc.close is not None:
            session.begin_close(exc.close, exc.message)

    def _dispatch(self, session: Session, frame: Frame) -> None:
        route = self.routes.get(type(frame))
        if session.user is None:
            if route is None or not route.before_login:
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "send hello first",
                                    close=CloseCode.AUTH_FAILED)
        elif route is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{frame.TYPE} is not served")
        elif route.before_login:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "already authenticated")
        route.handler(route.services, session, frame)


def bind_all(*tables: dict[type[Frame], Route]) -> dict[type[Frame], Route]:
    """One dispatch table from each feature module's; a frame type served twice is a bug."""
    routes: dict[type[Frame], Route] = {}
    for table in tables:
        twice = routes.keys() & table.keys()
        assert not twice, f"served twice: {sorted(t.__name__ for t in twice)}"
        routes.update(table)
    return routes
