"""A small router for the JSON routes: (method, path pattern) → handler.

Patterns are literal segments and `<name>` segments (one path segment each,
percent-decoded). A path no route knows is 404; a known path with another
method is 405 with `Allow`; a handler's ApiError is its status and a JSON
`{"error": code, "message": ..., "field"?: ...}`; anything else a handler
raises is logged and answered 500 without details (never a stack trace).
It takes whole bodies: JSON bodies are small and bounded (PlatformCaps).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("corpchat.api")

Headers = tuple[tuple[bytes, bytes], ...]


class BodyGone(Exception):
    """The client closed, stalled or broke the framing mid-body: no answer is possible
    (raised by a streamed body, passed through the router untouched)."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: Headers = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    headers: Headers
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # the pattern's <name> segments
    query: str = ""
    stream: AsyncIterator[bytes] | None = None  # a streamed route's body (then `body` is b"")

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    body: bytes
    headers: Headers = ()
    content_type: bytes = b"application/json"


def json_response(status: int, payload: Any, headers: Headers = ()) -> ApiResponse:
    return ApiResponse(status, json.dumps(payload, ensure_ascii=False).encode() + b"\n", headers)


def error_response(error: ApiError) -> ApiResponse:
    payload: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.field is not None:
        payload["field"] = error.field
    return json_response(error.status, payload, error.headers)


Handler = Callable[[ApiRequest], Awaitable[ApiResponse]]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[tuple[str, ...], dict[str, Handler]]] = []
        self._streamed: set[Handler] = set()  # bound methods compare (and hash) equal

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        parts = tuple(pattern.strip("/").split("/"))
        for known, methods in self._routes:
            if known == parts:
                if method in methods:
                    raise ValueError(f"{method} {pattern} is routed twice")
                methods[method] = handler
                return
        self._routes.append((parts, {method: handler}))

    def routes(self) -> list[tuple[str, str]]:
        """(method, pattern) of every route, for the authorisation matrix's check."""
        return sorted((method, "/" + "/".join(parts)) for parts, methods in self._routes
                      for method in methods)

    def knows(self, path: str) -> bool:
        return self._match(path) is not None

    def add_streamed(self, method: str, pattern: str, handler: Handler) -> None:
        """A route whose body the handler reads as it comes (`request.stream`), with
        limits of its own: an upload, not a JSON body."""
        self.add(method, pattern, handler)
        self._streamed.add(handler)

    def streams(self, method: str, target: str) -> bool:
        found = self._match(target.partition("?")[0])
        return found is not None and found[0].get(method) in self._streamed

    def _match(self, path: str) -> tuple[dict[str, Handler], dict[str, str]] | None:
        segments = path.strip("/").split("/")
        for parts, methods in self._routes:
            params = _bind(parts, segments)
            if params is not None:
                return methods, params
        return None

    async def dispatch(self, method: str, target: str, headers: Headers,
                       body: bytes, stream: AsyncIterator[bytes] | None = None) -> ApiResponse:
        path, _, query = target.partition("?")
        found = self._match(path)
        if found is None:
            return error_response(ApiError(404, "not_found", f"no route {path}"))
        methods, params = found
        handler = methods.get(method)
        if handler is None:
            allow = ", ".join(sorted(methods)).encode()
            return error_response(ApiError(405, "method_not_allowed",
                                           f"{method} is not allowed here",
                                           headers=((b"allow", allow),)))
        try:
            return await handler(ApiRequest(method, path, headers, body, params, query, stream))
        except ApiError as error:
            return error_response(error)
        except BodyGone:
            raise
        except Exception:  # the pattern, not the path: a path may hold a robot's key
            log.exception("API route %s %s failed", method, _pattern(handler, methods))
            return error_response(ApiError(500, "internal_error", "internal error"))


def _bind(parts: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(parts) != len(segments):
        return None
    params = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("<") and part.endswith(">"):
            if not segment:
                return None
            params[part[1:-1]] = unquote(segment)
        elif part != segment:
            return None
    return params


def _pattern(handler: Handler, methods: dict[str, Handler]) -> str:
    return getattr(handler, "__name__", "?") + f" ({', '.join(sorted(methods))})"
