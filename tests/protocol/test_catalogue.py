"""The frame catalogue: frames are declared by area, once, and offered from one place."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

import corpchat.protocol as protocol
from corpchat.protocol import CLIENT_FRAMES, SERVER_FRAMES, Frame, Ping
from corpchat.protocol.frames import client_frame, server_frame


def _every_frame_class() -> list[type[Frame]]:
    """Every class declared on Frame (not the unslotted drafts @dataclass(slots=True) replaces)."""
    found, todo = [], list(Frame.__subclasses__())
    while todo:
        cls = todo.pop()
        if getattr(sys.modules[cls.__module__], cls.__name__, None) is cls:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_frame_class_is_exported_from_the_package() -> None:
    """Each area module's __all__ names every frame it declares."""
    classes = _every_frame_class()
    assert len(classes) > len(CLIENT_FRAMES)
    missing = sorted(c.__name__ for c in classes if getattr(protocol, c.__name__, None) is not c)
    assert not missing, f"add to its area module's __all__: {missing}"


def test_the_decode_tables_hold_what_the_decorators_registered() -> None:
    for table in (CLIENT_FRAMES, SERVER_FRAMES):
        for kind, cls in table.items():
            assert cls.TYPE == kind and cls._spec, kind


def test_a_second_frame_of_one_type_is_refused() -> None:
    with pytest.raises(TypeError, match="two frames of type 'ping'"):
        @client_frame
        @dataclass(frozen=True, slots=True)
        class OtherPing(Frame):
            TYPE: ClassVar[str] = "ping"
            id: int
    assert CLIENT_FRAMES["ping"] is Ping


def test_the_decorator_goes_above_dataclass() -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        @dataclass(frozen=True, slots=True)
        @server_frame
        class Upside(Frame):
            TYPE: ClassVar[str] = "upside"
            re: int
    assert "upside" not in SERVER_FRAMES
