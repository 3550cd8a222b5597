"""A flood of failed logins from one address, next to a benchmark (docs/benchmarks.md, sign-in).

    python -m corpchat.loadtest.loginflood --url ws://127.0.0.1:18850/ --rate 1000 \\
        --duration 20 [--connections 10] [--handles 50]

Each connection sends `login` with a wrong password, waits for the answer,
and keeps its share of `--rate`; a connection the server closes (the 10-s
handshake limit: these never say `hello`) is opened again. At the end it
prints how many answers of each code arrived per second. Unknown handles
(`--handles` of them, `nobody0` …) and a wrong password: every answer is
`auth_failed` until the address is locked, then `rate_limited`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from corpchat.protocol import SUBPROTOCOL, Login, decode_server_frame, encode


async def _connection(url: str, rate: float, handles: int, offset: int, deadline: float,
                      codes: Counter[str]) -> None:
    """One connection's share of the flood, reconnecting whenever the server closes it."""
    gap, n = 1.0 / rate, offset
    next_at = trio.current_time()
    while trio.current_time() < deadline:
        try:
            async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
                while trio.current_time() < deadline:
                    await trio.sleep_until(min(next_at, deadline))
                    if trio.current_time() >= deadline:
                        break
                    next_at = max(next_at + gap, trio.current_time() - 1.0)
                    n += 1
                    await ws.send_message(encode(Login(
                        id=n, handle=f"nobody{n % handles}", password="not the password 1",
                        device="flood")))
                    message = await ws.get_message()
                    assert isinstance(message, bytes), "the protocol has no text messages"
                    reply = decode_server_frame(message)
                    codes[getattr(reply, "code", type(reply).__name__)] += 1
        except (ConnectionClosed, HandshakeError, OSError):
            codes["reconnect"] += 1
            await trio.sleep(0.05)


async def flood(url: str, rate: float, seconds: float, connections: int,
                handles: int) -> dict[str, float]:
    codes: Counter[str] = Counter()
    deadline = trio.current_time() + seconds
    async with trio.open_nursery() as nursery:
        for c in range(connections):
            nursery.start_soon(_connection, url, rate / connections, handles, c * 1_000_000,
                               deadline, codes)
    return {code: count / seconds for code, count in sorted(codes.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m corpchat.loadtest.loginflood",
                                description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=1000.0, help="logins per second, in all")
    p.add_argument("--duration", type=float, default=20.0, help="seconds")
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--handles", type=int, default=50)
    args = p.parse_args(argv)
    per_s = trio.run(flood, args.url, args.rate, args.duration, args.connections, args.handles)
    print(json.dumps({"answers_per_s": per_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
