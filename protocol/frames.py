"""Typed frames: the base class, its wire checks, and the tables that decode them.

Every frame travels as one msgpack map with a string key `type`. A frame
class lists its fields as dataclass fields; a field's wire key is its name
unless `wire(...)` renames it (`sender` travels as `from`). A field without
a default is required. Unknown keys are ignored, so later minor versions can
add fields. Validation is by exact type: an int field takes no bool and no
float, a str field no bytes.

Requests (client to server) carry `id`, a client-chosen unsigned integer;
the reply to a request carries the same number as `re`. Events the server
sends on its own carry neither.

A frame class is declared once, in the area module it belongs to
(frames_core, frames_groups, ...), under one of three decorators:
`client_frame` and `server_frame` enter it in CLIENT_FRAMES or SERVER_FRAMES,
the tables the codec decodes with; `nested_frame` marks a map that only
travels inside other frames. Each decorator also turns the field hints into
the class's wire checks (`_spec`) once, so decoding only walks a tuple. The
package's `__init__` imports every area module, so the tables are complete
whenever `corpchat.protocol` is imported.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import field
from typing import Any, ClassVar, TypeVar, Union

from .errors import ErrorCode, ProtocolError

MAX_UINT = 2**63 - 1

# One wire check per field: (attribute, wire key, check, required).
FieldSpec = tuple[str, str, Callable[[Any], Any], bool]


def wire(name: str, default: Any = dataclasses.MISSING) -> Any:
    """A field whose wire key differs from its Python name."""
    if default is dataclasses.MISSING:
        return field(metadata={"wire": name})
    return field(default=default, metadata={"wire": name})


class Frame:
    """Base of every frame. Subclasses set TYPE and are frozen dataclasses."""

    __slots__ = ()
    TYPE: ClassVar[str] = ""
    _spec: ClassVar[tuple[FieldSpec, ...]] = ()

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        for attr, key, _check, _required in self._spec:
            value = getattr(self, attr)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = [v.to_wire() if isinstance(v, Frame)
                         else list(v) if isinstance(v, tuple) else v  # arrays of arrays
                         for v in value]
            elif isinstance(value, Frame):
                value = value.to_wire()
            out[key] = value
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Frame:
        kwargs = {}
        for attr, key, check, required in cls._spec:
            value = data.get(key)
            if value is None:
                if required:
                    raise _bad(f"{cls.TYPE}: field {key!r} is required")
                continue
            kwargs[attr] = check(value)
        return cls(**kwargs)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def _check_uint(v: Any) -> int:
    if type(v) is not int or v < 0 or v > MAX_UINT:
        raise _bad(f"expected an unsigned integer, got {type(v).__name__}")
    return v


def _check_str(v: Any) -> str:
    if type(v) is not str:
        raise _bad(f"expected a string, got {type(v).__name__}")
    return v


def _check_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _bad(f"expected a boolean, got {type(v).__name__}")
    return v


def _check_int_map(v: Any) -> dict[str, int]:
    if type(v) is not dict or not all(type(x) is int for x in v.values()):
        raise _bad("expected a map of integers")
    return v


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def check(v: Any) -> tuple[Any, ...]:
        if type(v) is not list:
            raise _bad(f"expected an array, got {type(v).__name__}")
        return tuple(item(x) for x in v)

    return check


def _frame_of(cls: type[Frame]) -> Callable[[Any], Frame]:
    def check(v: Any) -> Frame:
        if type(v) is not dict:
            raise _bad(f"expected a map for {cls.TYPE}")
        return cls.from_wire(v)

    return check


_SCALAR_CHECKS: dict[Any, Callable[[Any], Any]] = {
    int: _check_uint,
    str: _check_str,
    bool: _check_bool,
    dict[str, int]: _check_int_map,
}


def _checker(hint: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _checker(inner)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if isinstance(inner, type) and issubclass(inner, Frame):
            return _list_of(_frame_of(inner))
        return _list_of(_checker(inner))
    if isinstance(hint, type) and issubclass(hint, Frame):
        return _frame_of(hint)
    if hint in _SCALAR_CHECKS:
        return _SCALAR_CHECKS[hint]
    raise TypeError(f"no wire check for {hint!r}")


CLIENT_FRAMES: dict[str, type[Frame]] = {}
SERVER_FRAMES: dict[str, type[Frame]] = {}

F = TypeVar("F", bound=Frame)


def _register(table: dict[str, type[Frame]]) -> Callable[[type[F]], type[F]]:
    def register(cls: type[F]) -> type[F]:
        # The hints resolve in the class's own module: a field's frame type must
        # be imported there at run time, not only for type checking.
        hints = typing.get_type_hints(cls)
        cls._spec = tuple(
            (f.name, f.metadata.get("wire", f.name), _checker(hints[f.name]),
             f.default is dataclasses.MISSING)
            for f in _fields(cls)
        )
        if cls.TYPE in table:
            raise TypeError(f"two frames of type {cls.TYPE!r}: {table[cls.TYPE]} and {cls}")
        table[cls.TYPE] = cls
        return cls

    return register


def _fields(cls: type[Frame]) -> tuple[dataclasses.Field[Any], ...]:
    if not dataclasses.is_dataclass(cls):  # the decorator goes above @dataclass
        raise TypeError(f"{cls.__name__} is not a dataclass")
    return dataclasses.fields(cls)


client_frame = _register(CLIENT_FRAMES)
server_frame = _register(SERVER_FRAMES)
nested_frame = _register({})  # maps that only travel inside other frames
