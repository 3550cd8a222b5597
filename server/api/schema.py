"""Checking a JSON body against the exact shape a route expects.

A route names each field's type; anything missing, of the wrong type or not
expected is a 400 that names the field (`to.users[2]`), never a stack trace.
"""

from __future__ import annotations

import json
from typing import Any, Literal, overload

from .router import ApiError


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (NaN and duplicate keys refused)."""
    try:
        value = json.loads(body, parse_constant=_no_constant,
                           object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def bad(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", f"{field}: {message}", field=field)


def only(obj: dict[str, Any], allowed: set[str], where: str = "") -> None:
    for key in obj:
        if key not in allowed:
            raise bad(where + key, "unexpected field")


@overload
def string(obj: dict[str, Any], name: str, *, where: str = "", required: Literal[True] = True,
           max_bytes: int = 1024) -> str: ...
@overload
def string(obj: dict[str, Any], name: str, *, where: str = "", required: bool,
           max_bytes: int = 1024) -> str | None: ...
def string(obj: dict[str, Any], name: str, *, where: str = "", required: bool = True,
           max_bytes: int = 1024) -> str | None:
    """A non-empty string field within `max_bytes` (None only when not required)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise bad(where + name, "required")
        return None
    if not isinstance(value, str) or not value:
        raise bad(where + name, "must be a non-empty string")
    if len(value.encode()) > max_bytes:
        raise bad(where + name, f"longer than {max_bytes} bytes")
    return value


def integer(obj: dict[str, Any], name: str, *, where: str = "") -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise bad(where + name, "must be a positive integer")
    return value


def list_of(obj: dict[str, Any], name: str, kind: type, *, where: str = "",
            max_items: int = 1000) -> list[Any]:
    value = obj.get(name, [])
    if not isinstance(value, list):
        raise bad(where + name, "must be a list")
    if len(value) > max_items:
        raise bad(where + name, f"more than {max_items} items")
    for i, item in enumerate(value):
        if not isinstance(item, kind) or isinstance(item, bool) or item in ("", 0):
            raise bad(f"{where}{name}[{i}]", f"must be a {kind.__name__}")
    return value


def obj_field(obj: dict[str, Any], name: str, *, where: str = "",
              required: bool = True) -> dict[str, Any] | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise bad(where + name, "required")
        return None
    if not isinstance(value, dict):
        raise bad(where + name, "must be an object")
    return value
