"""Messages/s and deliveries/s over the last second and the last minute."""

from __future__ import annotations

from collections import deque

import trio

from corpchat.protocol.clock import Clock

from .hub import HubStats


class Rates:
    """Samples the hub's counters once a second and keeps a minute of them."""

    def __init__(self, clock: Clock, stats: HubStats) -> None:
        self.clock = clock
        self.stats = stats
        self.samples: deque[tuple[float, int, int]] = deque(maxlen=61)

    def sample(self) -> None:
        self.samples.append((self.clock.monotonic(), self.stats.messages, self.stats.deliveries))

    async def run(self) -> None:
        while True:
            self.sample()
            await trio.sleep(1)

    def snapshot(self) -> dict[str, float]:
        return {
            "messages_per_s_1s": self._rate(1, 1), "deliveries_per_s_1s": self._rate(2, 1),
            "messages_per_s_1m": self._rate(1, 60), "deliveries_per_s_1m": self._rate(2, 60),
        }

    def _rate(self, field: int, window: int) -> float:
        if len(self.samples) < 2:
            return 0.0
        last = self.samples[-1]
        first = self.samples[max(0, len(self.samples) - 1 - window)]
        elapsed = last[0] - first[0]
        return round((last[field] - first[field]) / elapsed, 1) if elapsed > 0 else 0.0
