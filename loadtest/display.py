"""What people watch: the live progress display and the final tables, drawn with rich.

Each worker sends the coordinator, once a second, its last second: rates,
its ack and end-to-end latencies as encoded HDR histograms, and its own CPU
(`Worker.progress`). `LiveView` adds the workers' histograms and shows the
p99 of that second. On a terminal it is a rich progress bar over the
scenario's warm-up and window, with the figures under it and the warning
when a generator worker saturates its core; anywhere else (a CI log, a
pipe) the same figures as one plain line a second on stderr. The final
report is a rich table on a terminal and `report.table`'s plain text
otherwise, so logs stay readable. With --workers 1 the display shares the
generator's event loop: it draws at most once a second (≈ 3–6 ms here).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate
from typing import Any

from hdrh.histogram import HdrHistogram
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from . import report
from .recorder import merge

STALE_NS = 2_500_000_000  # a worker silent this long is left out of the sums
DRAW_EVERY_NS = 900_000_000  # at most one drawing (or plain line) per second


def value_at(hist: HdrHistogram, percentile: float) -> int:
    """`hist.get_value_at_percentile(percentile)` (percentile > 0), with the walk over
    the counts done by `accumulate` and `bisect` instead of a Python loop (≈ 4 ms →
    ≈ 1 ms: with --workers 1 the display shares the generator's loop)."""
    target = hist.get_target_count_at_percentile(percentile)
    index = bisect_left(list(accumulate(hist.counts[:])), target)  # [:]: a list, at C speed
    return hist.get_highest_equivalent_value(hist.get_value_from_index(index))


def summarize(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' last seconds as one: rates summed, histograms added."""
    first = min(snapshots, key=lambda s: s["index"])
    out: dict[str, Any] = {
        "phase": first["phase"],
        "elapsed_s": (first["now_ns"] - first["started_ns"]) / 1e9,
        "total_s": (first["until_ns"] - first["started_ns"]) / 1e9,
        "cpu": {s["index"]: s["cpu_fraction"] for s in snapshots},
    }
    for key in ("sent_per_s", "acked_per_s", "delivered_per_s"):
        out[key] = sum(s[key] for s in snapshots)
    for kind in ("ack", "e2e"):
        hist = merge(s[kind] for s in snapshots)
        out[f"{kind}_p99_ms"] = value_at(hist, 99.0) / 1000 \
            if hist.get_total_count() else None
    return out


def figures_line(f: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} ms"

    return (f"sent {f['sent_per_s']:,.0f}/s · acked {f['acked_per_s']:,.0f}/s · "
            f"delivered {f['delivered_per_s']:,.0f}/s · ack p99 {ms(f['ack_p99_ms'])} · "
            f"e2e p99 {ms(f['e2e_p99_ms'])} · generator CPU {max(f['cpu'].values()):.0%}")


def saturation(f: dict[str, Any]) -> list[str]:
    return [f"WARNING: load generator worker {i} used {cpu:.0%} of a core in the last "
            "second: it, not the server, may be the bottleneck (try --workers)"
            for i, cpu in sorted(f["cpu"].items()) if cpu > report.SATURATED_FRACTION]


class LiveView:
    """The coordinator's display; a context manager around the run."""

    def __init__(self, workers: int, console: Console | None = None) -> None:
        self.workers = workers
        self.console = console or Console(stderr=True)
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.drawn_ns = 0
        self.bar = Progress(TextColumn("{task.description:<8}"), BarColumn(),
                            TextColumn("{task.fields[clock]}"), console=self.console,
                            auto_refresh=False)
        self.task = self.bar.add_task("starting", total=1.0, clock="")
        self.live: Live | None = None
        if self.console.is_terminal:
            self.live = Live(self.bar, console=self.console, auto_refresh=False)

    def __enter__(self) -> LiveView:
        return self  # the display starts with the first snapshot (idle sends none)

    def __exit__(self, *exc: object) -> None:
        if self.live is not None and self.live.is_started:
            self.live.stop()

    def update(self, snapshot: dict[str, Any]) -> None:
        """Take one worker's last second and show the sum of the fresh ones."""
        self.snapshots[snapshot["index"]] = snapshot
        now = snapshot["now_ns"]
        if now - self.drawn_ns < DRAW_EVERY_NS:
            return  # the other workers' seconds are shown with the next one
        self.drawn_ns = now
        f = summarize([s for s in self.snapshots.values() if now - s["now_ns"] < STALE_NS])
        if self.live is not None:
            self.bar.update(self.task, description=f["phase"], total=max(f["total_s"], 1e-9),
                            completed=f["elapsed_s"],
                            clock=f"{f['elapsed_s']:5.1f} / {f['total_s']:.1f} s")
            lines = [Text(figures_line(f))] + [Text(w, style="bold red") for w in saturation(f)]
            if not self.live.is_started:
                self.live.start()
            self.live.update(Group(self.bar, *lines), refresh=True)
        else:
            for line in [f"[{f['phase']} {f['elapsed_s']:5.1f}/{f['total_s']:.1f} s] "
                         + figures_line(f)] + saturation(f):
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def print_table(doc: dict[str, Any], console: Console | None = None) -> None:
    """The final report: a rich table on a terminal, plain text elsewhere."""
    console = console or Console()
    if not console.is_terminal:
        print(report.table(doc))
        return
    console.print(report.title(doc), style="bold", markup=False, highlight=False)
    table = Table(show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in report.rows(doc):
        style = ("green" if value == "OK" else "bold red") if label == "check" else None
        table.add_row(label, value, style=style)
    console.print(table)
    for line in doc["warnings"]:
        console.print(line, style="bold red", markup=False, highlight=False)


def print_compare(old: dict[str, Any], new: dict[str, Any],
                  console: Console | None = None) -> None:
    """`--compare`: a rich table of old, new and deltas on a terminal, plain text elsewhere."""
    console = console or Console()
    if not console.is_terminal:
        print(report.compare(old, new))
        return
    for line in report.compare_title(old, new):
        console.print(line, style="bold", markup=False, highlight=False)
    table = Table()
    for name in ("figure", "old", "new", "delta", "%"):
        table.add_column(name, justify="left" if name == "figure" else "right")
    for label, a, b, delta, pct in report.compare_rows(old, new):
        table.add_row(label, f"{a:,.2f}", f"{b:,.2f}", f"{delta:+,.2f}", pct)
    console.print(table)
