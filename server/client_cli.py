"""`corpchat client`: placeholder until the terminal client lands."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("client", help="a line-based terminal client")
    p.add_argument("--url", default="ws://127.0.0.1:8765/")
    p.add_argument("--token", required=True)
    p.set_defaults(run=lambda a: 1)
