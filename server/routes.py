"""Handlers registered per frame type, one table per feature module.

A feature module (features/*.py) declares `routes = Routes()` and marks
each handler with the frame types it serves — `@routes.handles(Send,
Announce)` — the way a Prosody module hooks an event by name. Every
handler is `(services, session, frame) -> None`: it answers with frames
pushed to the session, or submits a write whose context answers it after
the commit; a refusal is raised as `ProtocolError`. The dispatcher
(server/handlers.py) looks the frame's type up in the tables it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from corpchat.protocol import Frame

Handler = Callable[[Any, Any, Any], None]  # (the feature's services, session, frame)
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    services: Any
    before_login: bool  # served only before `hello` (hello, register), else only after


class Routes:
    """The frame types one feature module serves, and its handler for each."""

    def __init__(self) -> None:
        self.table: dict[type[Frame], tuple[Handler, bool]] = {}

    def handles(self, *types: type[Frame], before_login: bool = False) -> Callable[[H], H]:
        def register(handler: H) -> H:
            for kind in types:
                assert kind not in self.table, f"{kind.__name__} is served twice"
                self.table[kind] = (handler, before_login)
            return handler

        return register

    def bind(self, services: Any) -> dict[type[Frame], Route]:
        """This module's routes, each handler given the module's services."""
        return {kind: Route(handler, services, before_login)
                for kind, (handler, before_login) in self.table.items()}
