"""A token bucket on the injected clock."""

from __future__ import annotations

from .clock import Clock


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp", "clock")

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock.monotonic()

    def take(self, cost: float = 1.0) -> bool:
        now = self.clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after_ms(self) -> int:
        return max(1, int((1.0 - self.tokens) / self.rate * 1000) + 1)
