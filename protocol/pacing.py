"""What a client may write now, sans-IO (docs/protocol.md §8.3, "Pacing re-sends").

A client that writes a long backlog of unacked sends at once exceeds the
server's request rate: the excess is refused with `rate_limited`, and more
than 100 refusals in a row close the connection with 1008. `Pacer` holds
every frame a connection writes and lets out only what the rules allow:

* a **window**: at most `window` sends written and not yet answered (by
  their `ack`, or an `error` with their `re`); the next one goes out when
  one of them is answered;
* a **bucket** like the server's but with a margin (`burst` frames at once,
  `rate` a second), counting every frame, so acks coming back fast cannot
  pull the client over the sustained rate;
* a **pause**: after a `rate_limited` refusal nothing is written until its
  `retry_after_ms` has passed, and the bucket starts empty again, so the
  client goes on at the sustained rate, not with a burst.

Frames other than `send` (hello, sync, history, pings...) go out before the
sends waiting for the window, in the order queued, so a sync page request
never waits behind the backlog. Sends go out in the order queued; one
refused with `rate_limited` is put back at the front. Time is the injected
clock's `monotonic()`; the driver asks `next_send_at()` when to come back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container
from dataclasses import dataclass

from .clock import Clock

EPSILON = 1e-9  # float rounding: a token "due" at t is there at t


@dataclass(frozen=True, slots=True)
class Pacing:
    """The §8.3 rules, against the server's defaults (200 a second, bursts of 400)."""

    window: int = 64  # sends written and unanswered; well under 400 and 256 in flight
    rate_per_s: float = 150.0
    burst: int = 300

    def __post_init__(self) -> None:
        if self.window < 1 or self.burst < 1 or self.rate_per_s <= 0:
            raise ValueError("pacing needs a positive window, burst and rate")


class Bucket:
    """A token bucket on the injected clock that can say when its next token comes."""

    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        self.rate_per_s, self.burst, self.clock = rate_per_s, burst, clock
        self.tokens = float(burst)
        self.stamp = clock.monotonic()

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate_per_s)
        self.stamp = now

    def take(self) -> bool:
        self._refill()
        if self.tokens + EPSILON < 1.0:
            return False
        self.tokens = max(0.0, self.tokens - 1.0)
        return True

    def next_token_at(self) -> float:
        """When a token is there (now, if one is)."""
        self._refill()
        if self.tokens + EPSILON >= 1.0:  # what take() counts as there
            return self.stamp
        return self.stamp + (1.0 - self.tokens) / self.rate_per_s

    def drain(self) -> None:
        self._refill()
        self.tokens = 0.0


@dataclass(frozen=True, slots=True)
class PendingSend:
    """A `send` waiting for the window or written and unanswered: its request id,
    its client_msg_id and its encoding (a re-send is byte-identical)."""

    request_id: int
    client_msg_id: str
    payload: bytes


class Pacer:
    """The frames of one connection, let out as the window, bucket and pause allow."""

    def __init__(self, pacing: Pacing, clock: Clock) -> None:
        self.pacing, self.clock = pacing, clock
        self._frames: deque[tuple[int | None, bytes]] = deque()  # (request id, payload)
        self._sends: deque[PendingSend] = deque()
        self._in_flight: dict[int, PendingSend] = {}  # written sends not yet answered, by id
        self._written: dict[int, bytes] = {}  # other written requests not yet answered
        self._bucket = Bucket(pacing.rate_per_s, pacing.burst, clock)
        self._paused_until = 0.0

    def reset(self) -> None:
        """A new connection: nothing queued or in flight, a full bucket (like the server's)."""
        self._frames.clear()
        self._sends.clear()
        self._in_flight.clear()
        self._written.clear()
        self._bucket = Bucket(self.pacing.rate_per_s, self.pacing.burst, self.clock)
        self._paused_until = 0.0

    def queue(self, request_id: int | None, payload: bytes) -> None:
        self._frames.append((request_id, payload))

    def queue_send(self, send: PendingSend) -> None:
        self._sends.append(send)

    def answered(self, re: int) -> None:
        """The request `re` was answered: its window slot is free."""
        self._in_flight.pop(re, None)
        self._written.pop(re, None)

    def rate_limited(self, re: int | None, retry_after_ms: int | None) -> None:
        """Pause; the refused request (when `re` names one) goes out first after the pause."""
        send = self._in_flight.pop(re, None) if re is not None else None
        if send is not None:
            self._sends.appendleft(send)
        elif re is not None and re in self._written:
            self._frames.appendleft((re, self._written.pop(re)))
        now = self.clock.monotonic()
        self._paused_until = max(self._paused_until, now + (retry_after_ms or 0) / 1000)
        self._bucket.drain()

    def release(self, wanted: Container[str]) -> list[bytes]:
        """The payloads to write now, in order; sends whose client_msg_id is no
        longer `wanted` (acked meanwhile, or refused for good) are dropped."""
        out: list[bytes] = []
        if self.clock.monotonic() + EPSILON < self._paused_until:
            return out
        while self._frames and self._bucket.take():
            request_id, payload = self._frames.popleft()
            if request_id is not None:
                self._written[request_id] = payload
            out.append(payload)
        while self._sends and len(self._in_flight) < self.pacing.window:
            if self._sends[0].client_msg_id not in wanted:
                self._sends.popleft()
            elif self._bucket.take():
                send = self._sends.popleft()
                self._in_flight[send.request_id] = send
                out.append(send.payload)
            else:
                break
        return out

    def next_send_at(self) -> float | None:
        """When `release()` has more to give, in `clock.monotonic()` time; None if
        nothing waits, or what waits needs an answer first (the window is full)."""
        waiting = bool(self._frames) or (bool(self._sends)
                                         and len(self._in_flight) < self.pacing.window)
        if not waiting:
            return None
        return max(self._paused_until, self._bucket.next_token_at())
