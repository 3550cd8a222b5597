"""Quiet hours ("take a break"), presence, and the devices offline
notifications go to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame

__all__ = [
    "DeviceRegister",
    "DeviceUnregister",
    "Digest",
    "Presence",
    "QuietBreak",
    "QuietEvent",
    "QuietResume",
    "QuietSet",
    "QuietState",
    "QuietWindow",
]


# ----- requests: client to server -------------------------------------------


@nested_frame
@dataclass(frozen=True, slots=True)
class QuietWindow(Frame):
    """A quiet window: from `start` on weekday `day` (0 = Monday) to `end`, local time
    ("HH:MM"; an end at or before the start is on the next day)."""

    TYPE: ClassVar[str] = "window"
    day: int
    start: str
    end: str


@client_frame
@dataclass(frozen=True, slots=True)
class QuietSet(Frame):
    """Set your quiet hours (synced to all your devices); `inherit` drops your own
    schedule so the corp's default applies."""

    TYPE: ClassVar[str] = "quiet.set"
    id: int
    timezone: str | None = None
    windows: tuple[QuietWindow, ...] | None = None
    enabled: bool | None = None
    inherit: bool | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class QuietBreak(Frame):
    """Take a break: rest for `minutes`, or until `until` (ms); at most 7 days."""

    TYPE: ClassVar[str] = "quiet.break"
    id: int
    minutes: int | None = None
    until: int | None = None


@client_frame
@dataclass(frozen=True, slots=True)
class QuietResume(Frame):
    """End a break early."""

    TYPE: ClassVar[str] = "quiet.resume"
    id: int


@client_frame
@dataclass(frozen=True, slots=True)
class DeviceRegister(Frame):
    """Register this device for offline (push) notifications."""

    TYPE: ClassVar[str] = "device.register"
    id: int
    platform: str
    push_token: str


@client_frame
@dataclass(frozen=True, slots=True)
class DeviceUnregister(Frame):
    """Stop offline notifications to this device (sign-out)."""

    TYPE: ClassVar[str] = "device.unregister"
    id: int
    push_token: str


# ----- replies and events: server to client ---------------------------------




@nested_frame
@dataclass(frozen=True, slots=True)
class QuietState(Frame):
    """Your quiet hours: the schedule in force (`source`: user, corp or none) and,
    while you rest, until when."""

    TYPE: ClassVar[str] = "quiet"
    source: str
    timezone: str | None = None
    windows: tuple[QuietWindow, ...] | None = None
    enabled: bool | None = None
    resting_until: int | None = None
    break_until: int | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class QuietEvent(Frame):
    """Your quiet-hours settings or resting state changed (on any device)."""

    TYPE: ClassVar[str] = "quiet"
    quiet: QuietState


@server_frame
@dataclass(frozen=True, slots=True)
class Presence(Frame):
    """Someone you share a conversation with started or stopped resting."""

    TYPE: ClassVar[str] = "presence"
    user: str
    status: str  # "available" or "resting"
    until: int | None = None


@server_frame
@dataclass(frozen=True, slots=True)
class Digest(Frame):
    """What arrived while you rested, once the rest ends."""

    TYPE: ClassVar[str] = "digest"
    messages: int
    conversations: int

