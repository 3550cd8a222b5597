"""The one time source every layer takes injected.

Wall time (`now_ms`) is what users see and what schedules use; monotonic
time (`monotonic`) measures intervals such as rate-limit refills. Tests
inject a `ManualClock` and move it, instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...

    def subscribe(self, callback: Callable[[], None]) -> None: ...


class SystemClock:
    def subscribe(self, callback: Callable[[], None]) -> None:
        """Real time needs no nudging: timers sleep on it."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now_ms: int = 1_800_000_000_000) -> None:
        self._now_ms = now_ms
        self._mono = 0.0
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the clock moves (timers re-check what is due)."""
        self._listeners.append(callback)

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now_ms += int(seconds * 1000)
        self._mono += seconds
        for callback in self._listeners:
            callback()
