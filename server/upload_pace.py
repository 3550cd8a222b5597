"""The server-wide pace of upload bytes (`[media] upload_bytes_per_s`).

On a server whose event loop and media threads share one core, uploads at full
speed take what the core has: 100 uploads of 10 MiB at once ran at 180-280 MiB/s
and, at about 3.3 ms of CPU per MiB (reading and parsing on the loop, hashing and
writing in the media threads), took two thirds of the core for five seconds; a
100-member group chatting beside them saw its e2e p99 go from 12 to 34-54 ms.
Lower thread priority (server/media_threads.py) and turns (server/upload_budget.py)
do not help once the sum of the work is more than the core. So the bytes are
paced: a token bucket shared by every upload, `upload_bytes_per_s` filling it and
`upload_burst_bytes` its size, so that a single photo or a short burst goes at
full speed and only a sustained flood is held to the pace.

Each upload takes its chunk's bytes before the chunk is written; when the bucket
runs dry, the bytes are owed and the upload waits until the bucket has refilled
what is owed so far (the uploads after it wait for theirs after that), so the
rate over all uploads holds however many there are. Waiting means not reading
the socket: the client's TCP window holds it back.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from corpchat.protocol.clock import Clock


@dataclass(slots=True)
class UploadPace:
    bytes_per_s: int  # 0: no pace
    burst_bytes: int
    clock: Clock
    level: float = 0.0  # bytes in the bucket; below zero: owed
    at: float | None = None  # when `level` was last brought up to date
    waits: int = 0  # chunks held back so far

    def delay(self, n: int) -> float:
        """Take `n` bytes; how long (s) their upload must wait before going on."""
        if self.bytes_per_s <= 0:
            return 0.0
        now = self.clock.monotonic()
        if self.at is None:
            self.level = float(self.burst_bytes)
        else:
            self.level = min(float(self.burst_bytes),
                             self.level + (now - self.at) * self.bytes_per_s)
        self.at = now
        self.level -= n
        return -self.level / self.bytes_per_s if self.level < 0 else 0.0

    async def take(self, n: int) -> None:
        wait_s = self.delay(n)
        if wait_s > 0:
            self.waits += 1
            await trio.sleep(wait_s)
