"""The settings of one load-test run: a frozen dataclass, units in the names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


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
    connect_concurrency: int = 60  # connection attempts in flight at once (see cli.py)
    drain_s: float = 15.0  # how long to wait for the last acks and deliveries
    drop: int = 0  # reconnect: clients that drop together (0: all)
    progress: bool = False  # a rates line per second on stderr
    run_id: str = ""  # namespaces corp and users; random when empty
    # group scenarios (group, slow, receipts, announce, external, resting, broadcast);
    # ignored by the others
    groups: int = 1  # G groups (external: E external groups)
    members: int = 0  # M members per group (0: --clients / --groups)
    two_device_fraction: float = 0.0  # of each group's members, on two devices
    slow: int = 0  # slow: members that stop reading (0: 1)
    employees: int = 5  # external: employees per external group
    consumers: int = 100  # external: consumers per external group; broadcast: customers
    resting_fraction: float = 0.0  # group, resting: of each group's members, on a break
    rounds: int = 3  # resting: awake/resting phase pairs
    # receipts: a member sends its read cursor at most once per this many ms, as a client
    # showing the conversation does on each refresh (0: one `read` per message)
    read_every_ms: float = 0.0
    # group (issue 20): of the messages, the fractions that mention another member and
    # that reply to the last one seen; reactions: each message gets this many (0 or 1)
    mention_fraction: float = 0.0
    reply_fraction: float = 0.0
    reactions: int = 0
    # robots (issue 23): this many group robots (10 to a group) post --rate times a second
    # over HTTP; the rule their answers are checked against is the server's settings
    # (platform.robot_posts_per_min, platform.robot_throttle_s)
    robots: int = 100
    robot_posts_per_min: int = 20
    robot_throttle_s: int = 600

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
        if self.groups < 1 or self.members < 0 or self.slow < 0:
            raise ValueError("--groups must be at least 1; --members, --slow >= 0")
        if not 0.0 <= self.two_device_fraction <= 1.0:
            raise ValueError("--two-device-fraction must be 0 to 1")
        if not 0.0 <= self.resting_fraction < 1.0 or self.rounds < 1:
            raise ValueError("--resting-fraction must be 0 to < 1; --rounds at least 1")
        if not 0.0 <= self.read_every_ms <= 60_000:
            raise ValueError("--read-every must be 0 to 60000 ms")
        if not (0.0 <= self.mention_fraction <= 1.0 and 0.0 <= self.reply_fraction <= 1.0
                and self.reactions in (0, 1)):
            raise ValueError("--mention-fraction, --reply-fraction must be 0 to 1; "
                             "--reactions 0 or 1")
        if self.scenario in ("robots", "appmessage") and not self.url.startswith("ws://"):
            raise ValueError(f"{self.scenario} posts plain HTTP to the server's port: "
                             "--url must be ws://HOST:PORT/")
        if self.robots < 1 or self.robot_posts_per_min < 1 or self.robot_throttle_s < 1:
            raise ValueError("--robots, --robot-posts-per-min, --robot-throttle must be >= 1")
        if self.employees < 1 or self.consumers < 0:
            raise ValueError("--employees must be at least 1; --consumers >= 0")

    def replace(self, **changes: Any) -> Options:  # command-line values
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out.pop("admin_socket")
        return out
