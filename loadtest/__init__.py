"""The load harness: scenarios, simulated clients, a delivery checker, reports.

`corpchat loadtest SCENARIO --url ws://… --admin-socket PATH` (loadtest/cli.py)
provisions its own namespaced users, drives simulated devices built on
`corpchat.protocol`, measures a steady window and checks that every acked
message was delivered exactly once, in order. `run(options, admin)` is the
async entry point; `check` the pure checker; `report` the JSON schema.
"""

from .checker import Verdict, check
from .options import Options
from .runner import run

__all__ = ["Options", "Verdict", "check", "run"]
