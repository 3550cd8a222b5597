"""`appmessage`: an app's message to a whole department, every employee online (issue 23).

`--clients N` employees `<run_id>-u<i>`, one device each. The coordinator puts
them in one department and adds an app whose scope is that department (over
the admin socket, as an operator would) before any device connects; then
every device connects and syncs. After `--warmup` seconds, `--rounds`
messages are sent one after another, spread over `--duration` (the next is
not sent before the previous one reached every device, or `--drain` passed):
each is one `POST /api/v1/messages` {to: {departments: [the department]}}
with the app's access token, on a kept-alive HTTP connection (loadtest/
httpclient.py). The server stores it in each employee's `app` conversation in
one transaction and fans it out after the commit.

Measured per round, from the instant the request is written: the answer
(`delivered`, `skipped`, its latency), and each device's arrival time: the
first, p50, p99 and the last (time to all: the issue's "delivered to all
online devices within 5 s"). Checked: every device shows every round's
message exactly once; a missing or repeated one is a violation in `check`.
(Each employee's app conversation has only them in it, so these messages are
checked here, not by the ack checker: nobody acks them.)
"""

from __future__ import annotations

import json
import time
from typing import Any

import trio

from ..httpclient import KeptConnection
from ..recorder import Recorder, percentiles
from ..simclient import ClientSpec, SimClient
from ..worker import Worker, now_ns, sleep_until_ns
from ..wsclient import ReadHub

# one device per employee: the accounts are planned and split as idle's are
from .idle import plan as plan
from .idle import split as split
from .idle import users as users
from .robots import http_address

NAME = "appmessage"
HELP = ("one app message (POST /api/v1/messages) to a department of N employees, all "
        "online, --rounds times: time until every device has it")
SETUP_CONCURRENCY = 32
TEXT_PREFIX = "appmessage:"




class Employee(SimClient):
    """A device that notes when each app message first arrives, and repeats."""

    def __init__(self, spec: ClientSpec, url: str, recorder: Recorder, size: int,
                 hub: ReadHub) -> None:
        super().__init__(spec, url, recorder, size, hub)
        self.arrivals: dict[str, int] = {}  # the round's text -> monotonic ns
        self.repeats = 0
        self.counts: dict[str, int] = {}  # shared by the worker's devices: text -> devices

    def _on_msg(self, conv: int, seq: int, pos: int, text: str) -> bool:
        now = time.monotonic_ns()
        shown = super()._on_msg(conv, seq, pos, text)
        if shown and text.startswith(TEXT_PREFIX):
            if text in self.arrivals:
                self.repeats += 1
            else:
                self.arrivals[text] = now
                self.counts[text] = self.counts.get(text, 0) + 1
        return shown


def round_text(run_id: str, k: int) -> str:
    return f"{TEXT_PREFIX}{run_id}:{k}"


async def drive(worker: Worker) -> None:
    options = worker.options
    clients = [Employee(s, options.url, worker.recorder, options.size, worker.hub)
               for s in worker.plan.clients]
    worker.clients = list(clients)
    counts: dict[str, int] = {}
    for c in clients:
        c.counts = counts
    await worker.barrier("set-up")  # the department and the app exist now
    await worker.connect_all(clients)
    await worker.barrier("ready")
    worker.recorder.window_opened()  # the generator's CPU from here to the last round
    for k in range(options.rounds):
        text = round_text(options.run_id, k)
        await worker.barrier(f"round{k}:go")
        with trio.move_on_after(options.drain_s):
            while counts.get(text, 0) < sum(c.live for c in clients):
                await trio.sleep(0.005)
        await worker.barrier(f"round{k}:done",
                             {"arrivals": [c.arrivals[text] for c in clients
                                           if text in c.arrivals],
                              "missing": sum(text not in c.arrivals for c in clients)})
    worker.recorder.window_closed()
    worker.recorder.extra["repeats"] = sum(c.repeats for c in clients)
    for c in clients:  # checked above (nobody acks an app message)
        c.delivered = {}
    await worker.barrier("done", {"repeats": worker.recorder.extra["repeats"]})


# ----- the coordinator side -----


async def set_up(coordinator: Any) -> dict[str, Any]:
    """The department of every employee, and the app that may reach it."""
    admin, options = coordinator.admin, coordinator.options
    corp = options.run_id
    dept = (await admin("dept.add", {"corp": corp, "name": "everyone"}))["dept"]
    limiter = trio.CapacityLimiter(SETUP_CONCURRENCY)

    async def join(i: int) -> None:
        async with limiter:
            await admin("user.set", {"handle": f"{corp}-u{i}", "dept": dept})

    async with trio.open_nursery() as nursery:
        for i in range(options.clients):
            nursery.start_soon(join, i)
    app = await admin("app.add", {"corp": corp, "name": "notices"})
    await admin("app.scope", {"app": app["app_id"], "departments": [dept]})
    return {"dept": dept, "app_id": app["app_id"], "secret": app["secret"]}


async def _post(conn: KeptConnection, path: str, doc: dict[str, Any],
                token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = (("authorization", f"Bearer {token}"),) if token else ()
    answer = await conn.post(path, json.dumps(doc).encode(), headers)
    try:
        return answer.status, json.loads(answer.body or b"{}")
    except ValueError:
        return answer.status, {}


async def coordinate(coordinator: Any) -> dict[str, Any]:
    options = coordinator.options
    await coordinator.gather("set-up")
    app = await set_up(coordinator)
    conn = KeptConnection(*http_address(options.url))
    status, token = await _post(conn, "/api/v1/token",
                                {"app_id": app["app_id"], "secret": app["secret"]})
    if status != 200:
        raise RuntimeError(f"appmessage: POST /api/v1/token answered {status}: {token}")
    await coordinator.release(None)
    await coordinator.gather("ready")
    await coordinator.release(None)
    start = now_ns() + int(options.warmup_s * 1e9)
    gap_ns = int(options.duration_s * 1e9 / options.rounds)
    s0 = await coordinator.stats()
    rounds = []
    for k in range(options.rounds):
        await sleep_until_ns(start + k * gap_ns)
        await coordinator.gather(f"round{k}:go")
        await coordinator.release(None)
        sent = now_ns()
        status, answer = await _post(conn, "/api/v1/messages", {
            "to": {"departments": [app["dept"]]}, "text": round_text(options.run_id, k),
            "idempotency_key": round_text(options.run_id, k)}, token.get("access_token"))
        answered = now_ns()
        done = await coordinator.gather(f"round{k}:done")
        await coordinator.release(None)
        rounds.append(_round(status, answer, sent, answered, done))
    s1 = await coordinator.stats()
    repeats = sum(r["repeats"] for r in await coordinator.gather("done"))
    await coordinator.release(None)
    await conn.aclose()
    return _outcome(options, rounds, repeats, s0, s1, (now_ns() - start) / 1e9)


def _round(status: int, answer: dict[str, Any], sent: int, answered: int,
           done: list[dict[str, Any]]) -> dict[str, Any]:
    arrivals = sorted(a - sent for d in done for a in d["arrivals"])
    at = percentiles([max(0, a) // 1000 for a in arrivals])
    return {"status": status, "answer_ms": round((answered - sent) / 1e6, 1),
            "delivered": answer.get("delivered"), "skipped": len(answer.get("skipped", ())),
            "devices": len(arrivals), "missing": sum(d["missing"] for d in done),
            "first_ms": round(arrivals[0] / 1e6, 1) if arrivals else None,
            "p50_ms": at["p50"], "p99_ms": at["p99"],
            "all_ms": round(arrivals[-1] / 1e6, 1) if arrivals else None}


def _outcome(options: Any, rounds: list[dict[str, Any]], repeats: int,
             s0: dict[str, Any], s1: dict[str, Any], window_s: float) -> dict[str, Any]:
    examples = [f"round {k}: {r['missing']} devices never got the message"
                for k, r in enumerate(rounds) if r["missing"]]
    examples += [f"round {k}: POST /api/v1/messages answered {r['status']}"
                 for k, r in enumerate(rounds) if r["status"] != 200]
    if repeats:
        examples.append(f"{repeats} app messages were shown twice")
    violations = sum(r["missing"] + (r["status"] != 200) for r in rounds) + repeats
    alls = [r["all_ms"] for r in rounds if r["all_ms"] is not None]
    figures = {"appmessage": {
        "recipients": options.clients, "rounds": rounds,
        "time_to_all_ms_max": max(alls, default=None),
        "answer_ms_max": max((r["answer_ms"] for r in rounds), default=None)}}
    return {"stats_start": s0, "stats_end": s1, "window_s": window_s, "figures": figures,
            "rule": {"violations": violations, "examples": examples}}
