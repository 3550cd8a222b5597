"""Per recipient per app quotas of app messages, in fixed windows on the injected clock.

WeCom's rule is at most 30 messages a minute and 1,000 an hour to one member
from one app. Counts live in memory: a restart forgets at most an hour of
them, which only ever lets an app send again sooner, never loses a message.
"""

from __future__ import annotations

from corpchat.protocol.clock import Clock

_PRUNE_AT = 100_000  # entries before stale windows are dropped


class RecipientQuota:
    def __init__(self, clock: Clock, per_min: int, per_hour: int) -> None:
        self.clock, self.per_min, self.per_hour = clock, per_min, per_hour
        # (app, uid) -> [minute window, count in it, hour window, count in it]
        self._counts: dict[tuple[int, int], list[int]] = {}

    def take(self, app_id: int, uid: int) -> bool:
        """Count one message to `uid`; False (and nothing counted) when over a quota."""
        now = self.clock.now_ms()
        minute, hour = now // 60_000, now // 3_600_000
        entry = self._counts.get((app_id, uid))
        if entry is None:
            if len(self._counts) >= _PRUNE_AT:
                self._prune(hour)
            entry = self._counts[(app_id, uid)] = [minute, 0, hour, 0]
        if entry[0] != minute:
            entry[0], entry[1] = minute, 0
        if entry[2] != hour:
            entry[2], entry[3] = hour, 0
        if entry[1] >= self.per_min or entry[3] >= self.per_hour:
            return False
        entry[1] += 1
        entry[3] += 1
        return True

    def _prune(self, hour: int) -> None:
        self._counts = {k: v for k, v in self._counts.items() if v[2] == hour}
