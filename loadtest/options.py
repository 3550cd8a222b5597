"""The settings of one load-test run: a frozen dataclass, units in the names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Options:
    scenario: str
    url: str
    admin_socket: str
    clients: int = 100
    rate: float = 1000.0  # offered messages per second, all senders together
    duration_s: float = 10.0  # the steady window
    warmup_s: float = 2.0
    seed: int = 1
    workers: int = 1
    size: int = 100  # characters of each message's text
    connect_concurrency: int = 200  # connection attempts in flight at once
    drain_s: float = 15.0  # how long to wait for the last acks and deliveries
    drop: int = 0  # reconnect: clients that drop together (0: all)
    progress: bool = False  # a rates line per second on stderr
    run_id: str = ""  # namespaces corp and users; random when empty

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ValueError("--clients must be at least 1")
        if self.rate < 0 or self.duration_s <= 0 or self.warmup_s < 0 or self.drain_s <= 0:
            raise ValueError("rate, warmup must be >= 0; duration, drain must be > 0")
        if self.workers < 1 or self.connect_concurrency < 1:
            raise ValueError("--workers and --connect-concurrency must be at least 1")
        if not 40 <= self.size <= 4000:
            raise ValueError("--size must be 40 to 4000 characters")
        if self.drop < 0:
            raise ValueError("--drop must be >= 0")

    def replace(self, **changes: object) -> Options:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out.pop("admin_socket")
        return out
