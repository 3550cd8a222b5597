"""Benchmarks of the open platform (issue 23), over the HTTP API only.

    python -m corpchat.loadtest.platform outbox   --data DIR --url http://127.0.0.1:PORT
    python -m corpchat.loadtest.platform messages --data DIR --url ... --recipients 10000
    python -m corpchat.loadtest.platform robots-setup --data DIR --url ... --keys FILE
    python -m corpchat.loadtest.platform robots   --url ... --keys FILE --rate 1000 \
        [--connections 100]  (kept-alive connections; 0: one per post)

Set-up (corps, people, apps, scopes) goes through the admin socket of the
server's data directory, as an operator's would; the load itself is HTTP:
`POST /api/v1/messages`, `POST /hooks/robot/<key>`, and the server's callbacks
into a local receiver (a stdlib HTTP server in this process that counts the
events it acknowledges). Figures are printed as one JSON object.

`corpchat loadtest robots` and `corpchat loadtest appmessage` (loadtest/scenarios/)
are the checked versions of `robots` and `messages`: the robots' 200s on every
member's device and their 429s against the rule, the app's message on every online
device; loadtest/robots-ab.sh and loadtest/appmessage-ab.sh use them. `robots` here
counts statuses only (robots-ab.sh's POSTS_ONLY mode).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import trio

from corpchat.adminclient import call, socket_path

from .httpclient import KeptConnection, post_once


class CountingReceiver:
    """Acknowledges every callback; counts events and notes when each count was reached."""

    def __init__(self) -> None:
        self.events = 0
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with counter.lock:
                    counter.events += len(json.loads(body)["events"])
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout_s: float) -> float:
        """Seconds until `n` events were acknowledged (or the timeout)."""
        start = time.perf_counter()
        while self.events < n and time.perf_counter() - start < timeout_s:
            time.sleep(0.001)
        return time.perf_counter() - start


def _admin(data: str, cmd: str, **args: Any) -> Any:
    return call(socket_path(data), cmd, args)


def _corp(data: str, name: str) -> None:
    try:
        _admin(data, "corp.add", name=name)
    except Exception:  # noqa: BLE001 - it exists from an earlier run
        pass


def outbox(args: argparse.Namespace) -> dict[str, Any]:
    """Events written by department changes, then drained; then replayed `--rounds`
    times: events/s as the receiver acknowledged them."""
    receiver = CountingReceiver()
    _corp(args.data, "benchco")
    app = _admin(args.data, "app.add", corp="benchco", name="bench", callback_url=receiver.url)
    depts = [_admin(args.data, "dept.add", corp="benchco", name=f"d{i}")["dept"]
             for i in range(2)]
    _admin(args.data, "user.add", handle=f"outbox-{app['app_id']}", corp="benchco")
    handle = f"outbox-{app['app_id']}"
    for i in range(args.changes):  # each change after the first: left + joined
        _admin(args.data, "user.set", handle=handle, dept=depts[i % 2])
    written = 2 * args.changes - 1
    receiver.wait_for(written, 60)
    rates = []
    for _ in range(args.rounds):
        before = receiver.events
        _admin(args.data, "app.replay", app=app["app_id"], since=0)
        seconds = receiver.wait_for(before + written, 120)
        rates.append(round(written / seconds))
    return {"benchmark": "outbox", "events": written, "replays": args.rounds,
            "events_per_s": rates, "median_events_per_s": sorted(rates)[len(rates) // 2]}


def messages(args: argparse.Namespace) -> dict[str, Any]:
    """One app message to `--recipients` employees (a department): the answer's latency."""
    _corp(args.data, "benchco")
    dept = _admin(args.data, "dept.add", corp="benchco", name="everyone")["dept"]
    stamp = int(time.time())
    for i in range(args.recipients):
        _admin(args.data, "user.add", handle=f"e{stamp}-{i}", corp="benchco")
        _admin(args.data, "user.set", handle=f"e{stamp}-{i}", dept=dept)
    app = _admin(args.data, "app.add", corp="benchco", name="notices")
    _admin(args.data, "app.scope", app=app["app_id"], departments=[dept])
    timings, delivered = [], 0
    with httpx.Client(base_url=args.url, timeout=120) as http:
        token = http.post("/api/v1/token", json={"app_id": app["app_id"],
                                                 "secret": app["secret"]}).json()
        auth = {"authorization": f"Bearer {token['access_token']}"}
        for i in range(args.rounds):
            start = time.perf_counter()
            answer = http.post("/api/v1/messages", headers=auth, json={
                "to": {"departments": [dept]}, "text": f"notice {i}"}).json()
            timings.append(round(time.perf_counter() - start, 3))
            delivered = answer["delivered"]
    return {"benchmark": "messages", "recipients": args.recipients, "delivered": delivered,
            "seconds": timings}


async def robot_load(url: str, keys: list[str], rate: float, seconds: float,
                      connections: int) -> dict[str, int]:
    """`rate` posts/s round the robots' keys for `seconds`: on `connections` kept-alive
    connections (each one post at a time), or with 0 a new connection per post."""
    counts = {"200": 0, "429": 0, "other": 0, "connections": 0}
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = b'{"text": "load"}'

    def count(status: int) -> None:
        counts[str(status) if status in (200, 429) else "other"] += 1

    async def fresh(key: str) -> None:
        try:
            count(await post_once(host, port, f"/hooks/robot/{key}", body))
        except (OSError, trio.BrokenResourceError):  # refused or reset: counted
            count(0)
        counts["connections"] += 1

    async def kept(jobs: trio.MemoryReceiveChannel[str]) -> None:
        conn = KeptConnection(host, port)
        async for key in jobs:
            try:
                count((await conn.post(f"/hooks/robot/{key}", body)).status)
            except (OSError, trio.BrokenResourceError, h11.ProtocolError):
                await conn.aclose()  # reopened by the next post
                count(0)
        counts["connections"] += conn.opened

    inflight = trio.Semaphore(256)  # new connections in flight (--connections 0)
    send, receive = trio.open_memory_channel[str](connections)
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(kept, receive.clone())
        receive.close()
        start, n = trio.current_time(), 0
        async with send:
            while trio.current_time() - start < seconds:
                key = keys[n % len(keys)]
                if connections:
                    await send.send(key)  # waits while every connection is busy
                else:
                    await inflight.acquire()
                    nursery.start_soon(_released, inflight, fresh, key)
                n += 1
                await trio.sleep_until(start + n / rate)
    return counts


async def _released(limiter: trio.Semaphore, fn: Any, key: str) -> None:
    try:
        await fn(key)
    finally:
        limiter.release()


async def _add_robots(ws_url: str, token: str, members: list[str], n: int) -> list[str]:
    """Groups of the owner with `n` robots in all (10 per group); their webhook keys."""
    from trio_websocket import open_websocket_url

    from corpchat.protocol import (
        SUBPROTOCOL,
        GroupCreate,
        Hello,
        Ok,
        RobotAdd,
        RobotAdded,
        decode_server_frame,
        encode,
    )

    keys: list[str] = []
    async with open_websocket_url(ws_url, subprotocols=[SUBPROTOCOL]) as ws:
        async def ask(frame: Any, kind: type) -> Any:
            await ws.send_message(encode(frame))
            while True:
                message = await ws.get_message()
                reply = decode_server_frame(message if isinstance(message, bytes)
                                            else message.encode())
                if getattr(reply, "re", None) == frame.id:
                    assert isinstance(reply, kind), reply
                    return reply

        await ws.send_message(encode(Hello(id=1, token=token)))
        await ws.get_message()  # welcome
        rid = 10
        while len(keys) < n:
            rid += 1
            conv = (await ask(GroupCreate(id=rid, name=f"g{rid}", members=tuple(members)),
                              Ok)).conv
            for _ in range(min(10, n - len(keys))):
                rid += 1
                added = await ask(RobotAdd(id=rid, conv=conv, name=f"r{rid}"), RobotAdded)
                keys.append(added.url.rsplit("/", 1)[1])
    return keys


def robots_setup(args: argparse.Namespace) -> dict[str, Any]:
    _corp(args.data, "benchco")
    stamp = int(time.time())
    owner = _admin(args.data, "user.add", handle=f"owner{stamp}", corp="benchco", token=True)
    member = f"member{stamp}"
    _admin(args.data, "user.add", handle=member, corp="benchco")
    ws_url = args.url.replace("http://", "ws://").rstrip("/") + "/"
    keys = trio.run(_add_robots, ws_url, owner["token"], [member], args.robots)
    with open(args.keys, "w", encoding="utf-8") as f:
        f.write("\n".join(keys) + "\n")
    return {"benchmark": "robots-setup", "robots": len(keys), "keys": args.keys}


def robots(args: argparse.Namespace) -> dict[str, Any]:
    """`--rate` posts/s spread over the robots whose keys `--keys` lists (one a line)."""
    with open(args.keys, encoding="utf-8") as f:
        keys = [line.strip() for line in f if line.strip()]
    start = time.perf_counter()
    counts = trio.run(robot_load, args.url, keys, args.rate, args.seconds, args.connections)
    elapsed = time.perf_counter() - start
    opened = counts.pop("connections")
    return {"benchmark": "robots", "robots": len(keys), "rate": args.rate,
            "seconds": round(elapsed, 2), "answers": counts, "connections": opened,
            "achieved_per_s": round(sum(counts.values()) / elapsed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="corpchat.loadtest.platform")
    sub = parser.add_subparsers(dest="benchmark", required=True)
    for name, fn in (("outbox", outbox), ("messages", messages), ("robots-setup", robots_setup),
                     ("robots", robots)):
        p = sub.add_parser(name)
        p.add_argument("--url", default="http://127.0.0.1:8765")
        p.add_argument("--data", default="./data", help="the server's data directory")
        p.set_defaults(run=fn)
        if name == "outbox":
            p.add_argument("--changes", type=int, default=2000)
            p.add_argument("--rounds", type=int, default=5)
        elif name == "messages":
            p.add_argument("--recipients", type=int, default=10_000)
            p.add_argument("--rounds", type=int, default=3)
        elif name == "robots-setup":
            p.add_argument("--robots", type=int, default=100)
            p.add_argument("--keys", required=True, help="where to write the webhook keys")
        else:
            p.add_argument("--keys", required=True)
            p.add_argument("--rate", type=float, default=1000)
            p.add_argument("--seconds", type=float, default=10)
            p.add_argument("--connections", type=int, default=100,
                           help="kept-alive connections, one post in flight on each; "
                                "0: a new connection per post")
    args = parser.parse_args(argv)
    print(json.dumps(args.run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
