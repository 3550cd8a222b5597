"""How long a failed login takes, by why it failed (docs/reliability.md, "Sign-in timing").

    python -m corpchat.loadtest.signintiming --url ws://127.0.0.1:18851/ \\
        --admin-socket DATA/admin.sock [--rounds 300]

Against a fresh server whose failure windows are out of the way
(loadtest/signin-timing.toml), it makes a user with a password, one disabled
with a password, and one with no password, then asks in turns — a wrong
password, an unknown handle, the disabled user's right password, the user
without a password; each kind first in a quarter of the turns — and prints
each kind's round-trip median, p10, p90 and mean in milliseconds, and the
largest difference of medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import trio
from trio_websocket import open_websocket_url

from corpchat.adminclient import call
from corpchat.protocol import SUBPROTOCOL, Login, decode_server_frame, encode

PASSWORD = "tulip bicycle 42"
KINDS = {
    "wrong_password": ("timing-alice", "wrong password 99"),
    "unknown_handle": ("timing-nobody", PASSWORD),
    "disabled_user": ("timing-carol", PASSWORD),
    "no_password": ("timing-dave", PASSWORD),
}


def set_up(admin: str) -> None:
    try:
        call(admin, "corp.add", {"name": "timing"})
    except Exception:  # noqa: BLE001 - exists from an earlier run
        pass
    for handle in ("timing-alice", "timing-carol", "timing-dave"):
        try:
            call(admin, "user.add", {"handle": handle, "corp": "timing"})
        except Exception:  # noqa: BLE001
            pass
    for handle in ("timing-alice", "timing-carol"):
        call(admin, "user.password", {"handle": handle, "password": PASSWORD})
    call(admin, "user.disable", {"handle": "timing-carol"})


async def measure(url: str, rounds: int) -> dict[str, list[float]]:
    """`rounds` turns of every kind, a connection per turn (one that never says hello
    is closed after the 10-s handshake limit)."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    n = 0
    kinds = list(KINDS)
    for turn in range(rounds):
        order = kinds[turn % len(kinds):] + kinds[:turn % len(kinds)]  # each kind goes first
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
            for kind in order:
                handle, password = KINDS[kind]
                n += 1
                start = time.perf_counter()
                await ws.send_message(encode(Login(id=n, handle=handle, password=password,
                                                   device="timing")))
                message = await ws.get_message()
                times[kind].append((time.perf_counter() - start) * 1000)
                assert isinstance(message, bytes), "the protocol has no text messages"
                reply = decode_server_frame(message)
                assert getattr(reply, "code", None) == "auth_failed", reply
    return times


def summary(times: dict[str, list[float]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for kind, ms in times.items():
        deciles = statistics.quantiles(ms, n=10)
        out[kind] = {"median": round(statistics.median(ms), 3), "p10": round(deciles[0], 3),
                     "p90": round(deciles[-1], 3), "mean": round(statistics.fmean(ms), 3)}
    medians = [statistics.median(ms) for ms in times.values()]
    out["largest_median_difference_ms"] = round(max(medians) - min(medians), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m corpchat.loadtest.signintiming",
                                description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--admin-socket", required=True)
    p.add_argument("--rounds", type=int, default=300)
    args = p.parse_args(argv)
    set_up(args.admin_socket)
    print(json.dumps(summary(trio.run(measure, args.url, args.rounds)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
