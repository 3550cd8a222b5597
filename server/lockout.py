"""Failed sign-ins per handle and per remote address, in memory, on the injected clock.

Why memory and not LMDB: a failure count is a rate limit, not a record. Writing
each failure would turn a login flood into a flood of fsynced commits — the
very thing that must not slow messaging — and a count lost with a restart
costs an attacker nothing they could not get by waiting out the window (they
cannot restart the server). One process serves every connection, so there is
nothing to share. Memory stays bounded: each key keeps at most `limit`
failure times, and at most `max_keys` keys are tracked (past that, the key
whose last failure is oldest is forgotten).

A key is locked while `limit` failures fall within the last `window_ms`;
`retry_after_ms` is when the oldest of them leaves the window. Unknown handles
are counted like known ones, so a lock-out tells nothing about which exist.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from corpchat.protocol.clock import Clock

MAX_KEYS = 100_000
HANDLE_KEY_CHARS = 64  # a handle's length limit: a longer "handle" is counted by its start


@dataclass(slots=True)
class FailureWindow:
    """At most `limit` failures per key within `window_ms`."""

    clock: Clock
    limit: int
    window_ms: int
    max_keys: int = MAX_KEYS
    _failures: dict[str, deque[int]] = field(default_factory=dict)

    def retry_after_ms(self, key: str) -> int:
        """0 if `key` may try now, else how long until it may."""
        times = self._failures.get(key) if self.limit else None  # limit 0: off
        if times is None:
            return 0
        now = self.clock.now_ms()
        while times and times[0] <= now - self.window_ms:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        if len(times) < self.limit:
            return 0
        return times[0] + self.window_ms - now

    def fail(self, key: str) -> None:
        if not self.limit:
            return
        times = self._failures.pop(key, None)  # re-inserted last: dict order is age
        if times is None:
            if len(self._failures) >= self.max_keys:
                self._evict()
            times = deque(maxlen=self.limit)
        times.append(self.clock.now_ms())
        self._failures[key] = times

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)

    def _evict(self) -> None:
        """Drop the least recently failed key: dict order is the order of last
        failure, so it is the likeliest to have expired (O(1) under a flood)."""
        del self._failures[next(iter(self._failures))]


@dataclass(slots=True)
class SignInLimits:
    """The two windows of the sign-in requests (login, redeem, password.change)."""

    per_handle: FailureWindow
    per_address: FailureWindow

    def retry_after_ms(self, handle: str | None, address: str) -> int:
        by_handle = 0 if handle is None else self.per_handle.retry_after_ms(_key(handle))
        return max(by_handle, self.per_address.retry_after_ms(address))

    def fail(self, handle: str | None, address: str) -> bool:
        """Count a failure; True if it locked the handle or the address (just now)."""
        locked = self.retry_after_ms(handle, address) == 0
        if handle is not None:
            self.per_handle.fail(_key(handle))
        self.per_address.fail(address)
        return locked and self.retry_after_ms(handle, address) > 0

    def succeed(self, handle: str) -> None:
        """A right password ends its handle's count (not its address's: one address
        with one real account must not reset its guesses at others)."""
        self.per_handle.clear(_key(handle))


def _key(handle: str) -> str:
    """Bounded, whatever a client sends as a handle (memory: 100 000 keys at most)."""
    return handle[:HANDLE_KEY_CHARS].casefold()
