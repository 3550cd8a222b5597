"""`robots`: group robots posting over HTTP at an offered rate (issue 23).

`--robots R` robots, 10 to a group (the server's `platform.robots_per_group`),
so ceil(R / 10) groups of `--members` employees (default `--clients` / the
groups), every member online. Set-up is a client's: each group's owner
creates it (`group.create`) and adds its robots (`robot.add`, over the
WebSocket), and keeps the webhook keys. Then, from an agreed t0 for the
warm-up and the window, the workers post `--rate` times a second in all,
round the robots, to `POST /hooks/robot/<key>` on the server's port, over
a pool of kept-alive HTTP/1.1 connections, as many as robots (loadtest/
httpclient.py): the next free one takes the next post, so posts keep their
schedule while one waits for its answer.

Each post is counted by its answer: 200 (the message is stored; its conv and
seq are in the answer), 429 (with `Retry-After`) or anything else (a failure,
in `counts.refused` as `http:<status>`). The 200s are acks like any other:
every device of every member must show each of them once, in order (the
checker, loadtest/checker.py; the robot is the sender). The 429s are checked
against the rule (loadtest/robotrule.py: 20 a minute per robot, then 10
minutes throttled with a counting-down `Retry-After`); each break is a
violation in `check`. A post's text is tagged like the devices' sends, so a
200's end-to-end latency (post → a member's device) is in `latency_ms.e2e`,
and its answer's in `latency_ms.ack`; `figures.robots` has the answers, the
achieved rate, the throttles and the answer latencies by status.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

from corpchat.protocol import GroupCreate, RobotAdd

from ..httpclient import NO_ANSWER, Answer, KeptConnection
from ..recorder import percentiles
from ..robotrule import Post, check_rule
from ..simclient import TEXT_TAG, ClientSpec
from ..worker import Worker, WorkerPlan, now_ns, sleep_until_ns
from .groupkit import SETUP_CONCURRENCY, Group, GroupClient, devices, plain_groups, split_groups

NAME = "robots"
HELP = ("R group robots (--robots, 10 a group) posting over HTTP at rate R: 200s seen by "
        "every member, 429s and Retry-After checked against the 10-minute throttle")
ROBOTS_PER_GROUP = 10  # the server's platform.robots_per_group
MAX_TEXT_BYTES = 2048  # the server's platform.robot_text_bytes
START_AHEAD_NS = 300_000_000
HOOK_PATH = "/hooks/robot/"


def layout(options: Any) -> list[Group]:
    count = math.ceil(options.robots / ROBOTS_PER_GROUP)
    size = max(2, options.members or options.clients // count)
    return plain_groups(options, count=count, size=size)


def robots_of(group: Group, options: Any) -> range:
    """The run's robot numbers in this group."""
    first = group.key * ROBOTS_PER_GROUP
    return range(first, min(options.robots, first + ROBOTS_PER_GROUP))


def users(options: Any) -> int:
    return sum(len(g.members) for g in layout(options))


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return devices(layout(options), dict(accounts))


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return split_groups(options, specs, workers, layout(options), [])


def http_address(url: str) -> tuple[str, int]:
    """The server's host and port from its ws:// URL (the API is on the same port)."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"robots: posts plain HTTP, so --url must be ws://, not {url}")
    return parts.hostname or "127.0.0.1", parts.port or 80


# ----- the worker side -----


@dataclass(frozen=True, slots=True)
class Robot:
    number: int  # 0 … --robots - 1 across the run
    conv: int
    key: str


async def set_up(worker: Worker, groups: list[Group],
                 clients: dict[str, GroupClient]) -> list[Robot]:
    """Each group created by its owner, then its robots added by the owner."""
    limiter = trio.CapacityLimiter(SETUP_CONCURRENCY)
    robots: list[Robot] = []

    async def one(group: Group) -> None:
        owner = clients[group.owner]
        others = tuple(h for h in group.members if h != group.owner)
        async with limiter:
            reply = await owner.request(
                lambda rid: GroupCreate(id=rid, name=group.name, members=others))
        conv = reply["conv"]
        worker.members[conv] = set(group.members)
        for number in robots_of(group, worker.options):
            async with limiter:
                added = await owner.request(partial(_robot_add, conv, f"robot{number}"))
            robots.append(Robot(number, conv, added["url"].rsplit("/", 1)[1]))

    async with trio.open_nursery() as nursery:
        for group in groups:
            nursery.start_soon(one, group)
    return sorted(robots, key=lambda r: r.number)


def _robot_add(conv: int, name: str, rid: int) -> RobotAdd:
    return RobotAdd(id=rid, conv=conv, name=name)


def _group(g: dict[str, Any]) -> Group:
    """A group as the coordinator sent it (JSON turned its tuples into lists)."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in g.items()}
    return Group(**fields)


class Poster:
    """The worker's robots' posts: paced open-loop, each answer recorded."""

    def __init__(self, worker: Worker, robots: list[Robot], rate: float) -> None:
        self.worker, self.robots, self.rate = worker, robots, rate
        host, port = http_address(worker.options.url)
        self.connections = [KeptConnection(host, port) for _ in robots]
        self.posts: list[tuple[int, float, float, int, str | None]] = []
        self.text_chars = min(worker.options.size, MAX_TEXT_BYTES)
        self.first_ns = self.last_ns = 0
        self.scheduled = 0  # posts due between t0 and the end

    async def run(self, t0_ns: int, end_ns: int) -> None:
        """Post from t0 until end (what is not sent by then never is: a run is bounded),
        then wait for the answers in flight. Cancel-safe."""
        if not self.robots or self.rate <= 0:
            await sleep_until_ns(end_ns)
            return
        send, receive = trio.open_memory_channel[tuple[Robot, int]](0)
        interval_ns = 1e9 / self.rate
        self.scheduled = math.ceil((end_ns - t0_ns) / interval_ns)
        async with trio.open_nursery() as nursery:
            for conn in self.connections:
                nursery.start_soon(self._post_from, conn, receive.clone())
            receive.close()
            async with send:
                k = 0
                while k < self.scheduled and now_ns() < end_ns:
                    await sleep_until_ns(t0_ns + int(k * interval_ns))
                    with trio.move_on_at(trio.current_time() + (end_ns - now_ns()) / 1e9):
                        await send.send((self.robots[k % len(self.robots)], k))
                        k += 1
        self.worker.recorder.extra["pacer_sends"] = k

    async def _post_from(self, conn: KeptConnection,
                         jobs: trio.MemoryReceiveChannel[tuple[Robot, int]]) -> None:
        async with jobs:
            async for robot, k in jobs:
                sent = now_ns()
                self.first_ns = self.first_ns or sent
                text = f"{TEXT_TAG}{robot.number}:{k}:{sent}:"
                body = json.dumps({"text": text.ljust(self.text_chars, "x")}).encode()
                try:
                    answer = await conn.post(HOOK_PATH + robot.key, body)
                except (OSError, trio.BrokenResourceError, h11.ProtocolError):
                    await conn.aclose()  # the next post opens a new connection
                    answer = NO_ANSWER
                self._record(robot, sent, now_ns(), answer)
        await conn.aclose()

    def _record(self, robot: Robot, sent: int, answered: int, answer: Answer) -> None:
        rec = self.worker.recorder
        self.last_ns = answered
        self.posts.append((robot.number, sent / 1e9, answered / 1e9, answer.status,
                           answer.retry_after))
        rec.sent += 1
        in_window = rec.win_start_ns <= sent < rec.win_end_ns
        rec.win_sent += in_window
        if answer.status == 200:
            stored = json.loads(answer.body)
            self.worker.acked_elsewhere.setdefault(stored["conv"], []).append(
                (stored["seq"], f"robot:{robot.number}"))
            rec.acked += 1
            if rec.win_start_ns <= answered < rec.win_end_ns:
                rec.win_acked += 1
                rec.ack_us.record((answered - sent) // 1000)
        elif answer.status != 429:
            rec.refused[f"http:{answer.status}"] += 1

    def payload(self) -> dict[str, Any]:
        return {"posts": self.posts, "scheduled": self.scheduled,
                "first_ns": self.first_ns, "last_ns": self.last_ns,
                "connections": sum(c.opened for c in self.connections)}


def _settled(worker: Worker, clients: list[GroupClient]) -> bool:
    """Every member's device shows every message a robot was told was stored."""
    for conv, stored in worker.acked_elsewhere.items():
        members = worker.members.get(conv, set())
        for c in clients:
            if c.spec.handle in members and len(c.delivered.get(conv, ())) < len(stored):
                return False
    return True


async def drive(worker: Worker) -> None:
    options = worker.options
    groups = [_group(g) for g in worker.plan.extra["groups"]]
    clients = [GroupClient(s, options.url, worker.recorder, options.size, worker.hub)
               for s in worker.plan.clients]
    worker.clients = list(clients)
    await worker.connect_all(clients)
    robots = await set_up(worker, groups, {c.spec.handle: c for c in clients})
    reply = await worker.barrier("ready", {"robots": len(robots)})
    t0: int = reply["t0"]
    start = t0 + int(options.warmup_s * 1e9)
    end = start + int(options.duration_s * 1e9)
    poster = Poster(worker, robots, options.rate * len(robots) / options.robots)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker.window, start, end)
        nursery.start_soon(worker.progress, end)
        await poster.run(t0, end)
    worker.recorder.extra["drained"] = await worker.drain(
        [], lambda: _settled(worker, clients), options.drain_s)
    await worker.barrier("done", poster.payload())


# ----- the coordinator side -----


async def coordinate(coordinator: Any) -> dict[str, Any]:
    options = coordinator.options
    ready = await coordinator.gather("ready")
    t0 = now_ns() + START_AHEAD_NS
    start = t0 + int(options.warmup_s * 1e9)
    end = start + int(options.duration_s * 1e9)
    await coordinator.release({"t0": t0})
    await sleep_until_ns(start)
    s0 = await coordinator.stats()
    await sleep_until_ns(end)
    s1 = await coordinator.stats()
    done = await coordinator.gather("done")
    await coordinator.release(None)
    posts = [Post(*p) for d in done for p in d["posts"]]
    rule = check_rule(posts, options.robot_posts_per_min, options.robot_throttle_s)
    groups = layout(options)
    figures = {"robots": {
        "robots": sum(r["robots"] for r in ready), "groups": len(groups),
        "members_per_group": len(groups[0].members), **robot_figures(options, posts, done),
        "rule": {k: v for k, v in rule.to_json().items() if k != "examples"}}}
    return {"stats_start": s0, "stats_end": s1, "window_s": options.duration_s,
            "figures": figures, "rule": rule.to_json()}


def robot_figures(options: Any, posts: list[Post], done: list[dict[str, Any]]
                  ) -> dict[str, Any]:
    """What the posts show: answers by status, the rate achieved, answer latencies."""
    first = min((d["first_ns"] for d in done if d["first_ns"]), default=0)
    last = max((d["last_ns"] for d in done), default=0)
    span_s = (last - first) / 1e9 if last > first else 0.0
    by_status: dict[int, list[int]] = {}
    for p in posts:
        by_status.setdefault(p.status, []).append(round((p.answered_s - p.sent_s) * 1e6))
    accepted: dict[int, int] = {}
    for p in posts:
        accepted[p.robot] = accepted.get(p.robot, 0) + (p.status == 200)
    return {
        "offered_per_s": options.rate,
        "scheduled": sum(d["scheduled"] for d in done),  # due from t0 to the window's end
        "posts": len(posts),  # sent by then (the rest never are)
        "posting_s": round(span_s, 3),
        "achieved_per_s": round(len(posts) / span_s, 1) if span_s else None,
        "answers": {str(s): len(v) for s, v in sorted(by_status.items())},
        "answered_200_per_robot": [min(accepted.values(), default=0),
                                   max(accepted.values(), default=0)],
        "answer_ms": {str(s): percentiles(v) for s, v in sorted(by_status.items())},
        "connections": sum(d["connections"] for d in done),
    }
