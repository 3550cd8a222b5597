"""`corpchat loadtest SCENARIO …`: the command line of the harness."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import trio

from corpchat.adminclient import AdminError, AdminUnreachable, call

from .options import Options
from .runner import WorkerFailed
from .scenarios import SCENARIOS, get_scenario

# Failures of the environment, reported in one line each; anything else is a bug.
EXPECTED_FAILURES = (OSError, AdminError, WorkerFailed, trio.TooSlowError)

# Handshakes in flight from this one address: below the server's default
# max_unauthenticated_per_address (64), so a run against `make run` is not refused.
CONNECT_CONCURRENCY = 60
CONNECT_HELP = (f"connection attempts in flight at once (default {CONNECT_CONCURRENCY}: under a "
                "default server's cap of 64 unauthenticated connections per address; raise "
                "both together, as loadtest/bench.sh does with loadtest/loopback.toml)")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "loadtest", help="drive simulated clients against a server and report",
        description="Provision users through the admin socket, connect simulated clients, "
                    "warm up, measure a steady window, check every delivery, report.")
    p.add_argument("scenario", choices=SCENARIOS,
                   help="; ".join(f"{n}: {get_scenario(n).HELP}" for n in SCENARIOS))
    p.add_argument("--url", required=True, help="ws://HOST:PORT/ of the server")
    p.add_argument("--admin-socket", required=True, help="the server's admin socket path")
    p.add_argument("--clients", type=int, default=100, help="simulated devices (default 100)")
    p.add_argument("--rate", type=float, default=1000.0,
                   help="offered messages/s, all senders together (default 1000)")
    p.add_argument("--duration", type=float, default=10.0, help="steady window, s (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up, s (default 2)")
    p.add_argument("--seed", type=int, default=1, help="seed for every random choice")
    p.add_argument("--workers", type=int, default=1, help="generator processes (default 1)")
    p.add_argument("--size", type=int, default=100, help="message text size, chars (default 100)")
    p.add_argument("--connect-concurrency", type=int, default=CONNECT_CONCURRENCY,
                   help=CONNECT_HELP)
    p.add_argument("--drain", type=float, default=15.0,
                   help="max seconds to wait for the last acks and deliveries (default 15)")
    _add_scenario_arguments(p)
    p.add_argument("--run-id", default="", help="namespace for corp and users (default random)")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="write the JSON report here")
    p.add_argument("--compare", metavar="OLD.json", help="print deltas against an earlier report")
    p.add_argument("--progress", action="store_true",
                   help="show rates and p99 every second on stderr (default: if a terminal)")
    p.set_defaults(run=main)
    return p


def _add_scenario_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that only some scenarios read."""
    p.add_argument("--drop", type=int, default=0,
                   help="reconnect: devices that drop together (default 0: all)")
    p.add_argument("--groups", type=int, default=1,
                   help="group scenarios: number of groups (default 1)")
    p.add_argument("--members", type=int, default=0,
                   help="group scenarios: members per group (default: --clients / --groups)")
    p.add_argument("--two-device-fraction", type=float, default=0.0,
                   help="group: fraction of members on two devices (default 0)")
    p.add_argument("--slow", type=int, default=0,
                   help="slow: members that stop reading (default 1)")
    p.add_argument("--employees", type=int, default=5,
                   help="external: employees per external group (default 5)")
    p.add_argument("--consumers", type=int, default=100,
                   help="external: consumers per external group (default 100); "
                        "broadcast: the employee's customers, half online")
    p.add_argument("--resting-fraction", type=float, default=0.0,
                   help="group: fraction of each group's members on a break (silent "
                        "deliveries); resting: the same, default 0.5")
    p.add_argument("--rounds", type=int, default=3,
                   help="resting: awake/resting phase pairs; appmessage: messages sent "
                        "(default 3)")
    p.add_argument("--read-every", type=float, default=0.0, metavar="MS",
                   help="receipts: each member sends its read cursor at most once per MS "
                        "ms, covering every message up to it (default 0: one read per "
                        "message)")
    p.add_argument("--mention-fraction", type=float, default=0.0,
                   help="group: fraction of messages that mention another member (default 0)")
    p.add_argument("--reply-fraction", type=float, default=0.0,
                   help="group: fraction of messages that reply to the last one seen "
                        "(default 0)")
    p.add_argument("--reactions", type=int, default=0,
                   help="group: reactions per message (0 or 1; one member reacts to each)")
    p.add_argument("--robots", type=int, default=100,
                   help="robots: group robots, 10 a group (default 100); --rate is their "
                        "posts/s in all, --clients the groups' members online")
    p.add_argument("--robot-posts-per-min", type=int, default=20,
                   help="robots: the server's platform.robot_posts_per_min (default 20)")
    p.add_argument("--robot-throttle", type=int, default=600, metavar="S",
                   help="robots: the server's platform.robot_throttle_s (default 600)")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def options_from(args: argparse.Namespace) -> Options:
    return Options(scenario=args.scenario, url=args.url, admin_socket=args.admin_socket,
                   clients=args.clients, rate=args.rate, duration_s=args.duration,
                   warmup_s=args.warmup, seed=args.seed, workers=args.workers, size=args.size,
                   connect_concurrency=args.connect_concurrency, drain_s=args.drain,
                   drop=args.drop, progress=args.progress or sys.stderr.isatty(),
                   run_id=args.run_id,
                   groups=args.groups, members=args.members,
                   two_device_fraction=args.two_device_fraction, slow=args.slow,
                   employees=args.employees, consumers=args.consumers,
                   resting_fraction=args.resting_fraction, rounds=args.rounds,
                   read_every_ms=args.read_every, mention_fraction=args.mention_fraction,
                   reply_fraction=args.reply_fraction, reactions=args.reactions,
                   robots=args.robots, robot_posts_per_min=args.robot_posts_per_min,
                   robot_throttle_s=args.robot_throttle)


def admin_over(path: str):  # noqa: ANN201 - an AdminFn
    """The blocking admin client, run in a thread so the event loop keeps going."""

    async def admin(cmd: str, args: dict[str, Any]) -> Any:
        return await trio.to_thread.run_sync(call, path, cmd, args)

    return admin


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _reason(exc: Exception) -> str:
    return (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


def _unwritable(path: str) -> str | None:
    """Why the report could not be written to `path`, or None."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"cannot write the report {path}: no directory {folder}"
    if os.path.isdir(path) or not os.access(folder, os.W_OK):
        return f"cannot write the report {path}: not a writable file"
    return None


def main(args: argparse.Namespace) -> int:
    from . import display, report
    from .runner import run

    try:
        options = options_from(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        old = report.read_json(args.compare) if args.compare else None
    except (OSError, ValueError) as exc:  # missing, unreadable, or not a report
        return _fail(f"cannot read the report {args.compare}: {_reason(exc)}")
    if args.json_path and (problem := _unwritable(args.json_path)):
        return _fail(problem)  # now, not after the whole run
    try:
        doc = trio.run(run, options, admin_over(options.admin_socket))
    except Exception as exc:
        leaves = _leaves(exc)
        if not all(isinstance(e, EXPECTED_FAILURES) for e in leaves):
            raise
        for leaf in leaves:
            _fail(str(leaf) if isinstance(leaf, AdminUnreachable)
                  else f"{type(leaf).__name__}: {leaf}")
        return 2
    display.print_table(doc)
    if args.json_path:
        try:
            report.write_json(doc, args.json_path)
        except OSError as exc:
            return _fail(f"cannot write the report {args.json_path}: {_reason(exc)}")
    if old is not None:
        display.print_compare(old, doc)
    return 0 if doc["check"]["ok"] else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="corpchat")
    add_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args()
    sys.exit(parsed.run(parsed))
