"""Scenarios: one small module each, registered by name.

A scenario module provides:

* `NAME`, `HELP` — its command-line name and a one-line description;
* `users(options) -> int` — how many users to provision;
* `plan(options, accounts) -> list[ClientSpec]` — the simulated devices,
  given the provisioned (handle, token) pairs in order;
* `split(options, specs, workers) -> list[WorkerPlan]` — how devices are
  shared out among worker processes (keep conversations within a worker
  where the drain needs it);
* `async drive(worker)` — the worker side (loadtest/worker.py);
* `async coordinate(coordinator) -> dict` — the coordinator side: meets the
  workers at the same named barriers and samples server stats; returns
  `stats_start`, `stats_end`, `window_s` and scenario `figures`.

The timed scenarios (direct, reconnect) share loadtest/scenarios/timed.py:
connect, agree on a start instant, warm up, a steady window, drain. The
group scenarios (group, slow, receipts, announce, external, resting,
broadcast) share
loadtest/scenarios/groupkit.py: the same shape, once per named phase, with
groups created by their owners and every member's devices checked. `robots`
uses the kit's layout and devices, and posts over HTTP as the groups' robots.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SCENARIOS = ("direct", "idle", "reconnect", "group", "slow", "receipts", "announce", "external",
             "resting", "schedules", "broadcast", "robots",
             "appmessage")


def get_scenario(name: str) -> ModuleType:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    return importlib.import_module(f"{__name__}.{name}")


__all__ = ["SCENARIOS", "get_scenario"]
