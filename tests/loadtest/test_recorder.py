"""Latency histograms (loadtest/recorder.py) and the displays (loadtest/display.py).

The figures must agree with a brute-force computation over the raw
samples within HDR precision (3 significant digits: 0.1 %), however the
samples are split over workers, and `record`'s own bucket arithmetic must
put every value exactly where the library's `record_value` does.
"""

from __future__ import annotations

import io

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from corpchat.loadtest import display, report
from corpchat.loadtest.recorder import (
    HIGHEST_US,
    PERCENTILES,
    LatencyHistogram,
    counts_index,
    merge,
    new_histogram,
    percentiles,
)

# Latencies as they come: mostly around a millisecond, a tail of seconds, a few extremes.
LATENCIES = st.one_of(st.integers(0, 5_000), st.integers(0, 200_000),
                      st.integers(0, HIGHEST_US), st.sampled_from([0, 1, 2047, 2048, 2049,
                                                                   HIGHEST_US]))
SAMPLES = st.lists(LATENCIES, min_size=1, max_size=400)
BOUNDARIES = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 4097, 1 << 20,
              (1 << 20) + 1, HIGHEST_US - 1, HIGHEST_US]


def recorded(samples: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for us in samples:
        hist.record(us)
    return hist


def brute_force(samples: list[int]) -> dict[str, float]:
    """Exact figures in µs; the rank rule is HdrHistogram's: max(1, round(q * n))."""
    values, n = sorted(samples), len(samples)
    out = {name: values[max(1, int(q * n / 100 + 0.5)) - 1] for name, q in PERCENTILES}
    return {**out, "max": values[-1], "mean": sum(values) / n}


def assert_within_precision(reported_ms: float, exact_us: float) -> None:
    """HDR reports the highest value equivalent to the exact one: never below it, and
    above by less than 0.1 % (plus the report's rounding to 1 µs)."""
    got_us = reported_ms * 1000
    assert exact_us - 0.5 <= got_us <= exact_us * 1.001 + 0.5, (reported_ms, exact_us)


@given(st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, HIGHEST_US)))
def test_record_counts_each_value_where_the_library_does(us):
    layout = new_histogram()
    assert counts_index(us) == layout.get_counts_array_index(us)
    hist = LatencyHistogram()
    hist.record(us)
    assert hist.counts[layout.get_counts_array_index(us)] == 1


@settings(deadline=None)
@given(SAMPLES)
def test_the_histogram_is_the_one_record_value_builds(samples):
    ours, theirs = recorded(samples).histogram(), new_histogram()
    for us in samples:
        theirs.record_value(us)
    assert list(ours.counts) == list(theirs.counts)
    assert ours.get_total_count() == theirs.get_total_count() == len(samples)
    assert ours.get_max_value() == theirs.get_max_value()
    assert ours.get_min_value() == theirs.get_min_value()
    assert HdrHistogram.decode(ours.encode()).get_total_count() == len(samples)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(SAMPLES)
def test_percentiles_match_a_brute_force_computation_within_hdr_precision(samples):
    got, exact = percentiles(recorded(samples)), brute_force(samples)
    assert got["count"] == len(samples)
    for name in ("p50", "p90", "p99", "p999", "max"):
        assert_within_precision(got[name], exact[name])
    # the mean uses each bucket's middle: within the samples' mean half bucket width of
    # the exact mean, plus the report's rounding to 1 µs
    hist = recorded(samples).histogram()
    half_widths = [(hist.get_highest_equivalent_value(us)
                    - hist.get_lowest_equivalent_value(us) + 1) / 2 for us in samples]
    slack = sum(half_widths) / len(samples) + 0.5
    assert abs(got["mean"] * 1000 - exact["mean"]) <= slack, (got["mean"], exact["mean"], slack)
    assert percentiles(samples) == got  # a plain list of µs goes through a histogram too


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(st.lists(SAMPLES, min_size=1, max_size=4))
def test_workers_histograms_merge_into_the_whole_runs(per_worker):
    merged = merge(recorded(samples).encode() for samples in per_worker)
    everything = [us for samples in per_worker for us in samples]
    assert percentiles(merged) == percentiles(recorded(everything))


@given(SAMPLES, st.sampled_from([0.1, 50.0, 90.0, 99.0, 99.9, 100.0]))
def test_the_live_views_percentile_walk_is_the_librarys(samples, percentile):
    hist = recorded(samples).histogram()
    assert display.value_at(hist, percentile) == hist.get_value_at_percentile(percentile)


def test_out_of_range_latencies_are_clamped_not_lost():
    hist = recorded([-5, 0, HIGHEST_US + 1, 10**15])
    figures = percentiles(hist)
    assert figures["count"] == 4
    assert_within_precision(figures["max"], HIGHEST_US)
    assert hist.histogram().get_min_value() == 0


def test_an_empty_histogram_reports_nothing():
    assert percentiles(LatencyHistogram()) == {
        "count": 0, "p50": None, "p90": None, "p99": None, "p999": None, "max": None,
        "mean": None}
    assert percentiles(merge([LatencyHistogram().encode()]))["count"] == 0


def test_since_mark_gives_each_interval_and_reset_starts_over():
    hist = recorded([100, 200])
    assert hist.since_mark().get_total_count() == 2
    hist.record(300)
    interval = hist.since_mark()
    assert interval.get_total_count() == 1 and interval.get_max_value() == 300
    assert hist.since_mark().get_total_count() == 0
    assert len(hist) == 3
    hist.reset()
    assert len(hist) == 0 and hist.since_mark().get_total_count() == 0


# ----- the displays -----


def doc_with(ack_p99: float) -> dict:
    latency = percentiles(recorded([1000, 2000, int(ack_p99 * 1000)]))
    return {"scenario": "direct", "run_id": "lt-test", "window_s": 1.0,
            "started_at": "2026-01-01T00:00:00", "schema_version": 1,
            "counts": {"sent": 3, "acked": 3, "delivered": 3},
            "rates": {"offered_per_s": 3, "sent_per_s": 3.0, "acked_per_s": 3.0,
                      "delivered_per_s": 3.0},
            "latency_ms": {"ack": latency, "e2e": latency, "resume": percentiles([])},
            "generator": {"cpu_fraction_max": 0.95}, "check": {"ok": True},
            "warnings": ["WARNING: test"]}


def test_final_table_is_plain_text_off_a_terminal_and_rich_on_one(capsys):
    doc = doc_with(5.0)
    display.print_table(doc, Console(file=io.StringIO()))  # not a terminal: plain text
    assert capsys.readouterr().out == report.table(doc) + "\n"
    out = io.StringIO()
    display.print_table(doc, Console(file=out, force_terminal=True, width=100))
    text = out.getvalue()
    assert "ack p99 ms" in text and "OK" in text and "WARNING: test" in text


def test_compare_prints_deltas_plain_and_rich(capsys):
    old, new = doc_with(5.0), doc_with(10.0)
    display.print_compare(old, new, Console(file=io.StringIO()))
    plain = capsys.readouterr().out
    assert plain == report.compare(old, new) + "\n"
    assert "ack p99 ms" in plain and "+5.00" in plain and "+100.0%" in plain
    out = io.StringIO()
    display.print_compare(old, new, Console(file=out, force_terminal=True, width=100))
    assert "+100.0%" in out.getvalue()


def snapshot(index: int, now_ns: int, cpu: float, acks: list[int]) -> dict:
    return {"index": index, "phase": "window", "now_ns": now_ns, "started_ns": 0,
            "until_ns": 10_000_000_000, "cpu_fraction": cpu, "sent_per_s": 100.0,
            "acked_per_s": 100.0, "delivered_per_s": 90.0,
            "ack": recorded(acks).encode(), "e2e": LatencyHistogram().encode()}


def test_live_view_adds_the_workers_seconds_and_warns_when_one_saturates():
    out = io.StringIO()
    view = display.LiveView(2, Console(file=out))  # not a terminal: a line a second
    with view:
        view.update(snapshot(0, 3_000_000_000, 0.5, [1000] * 99 + [50_000]))
        view.update(snapshot(1, 3_100_000_000, 0.95, [2000] * 100))  # within a second
        view.update(snapshot(0, 4_000_000_000, 0.5, [1000]))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[window   3.0/10.0 s] sent 100/s")
    assert "ack p99 1.00 ms" in lines[0] and "e2e p99 -" in lines[0]
    summed = [line for line in lines if "sent 200/s" in line]
    assert summed and "delivered 180/s" in summed[0] and "generator CPU 95%" in summed[0]
    assert any("worker 1 used 95%" in line for line in lines)


def test_live_view_on_a_terminal_draws_a_bar():
    out = io.StringIO()
    view = display.LiveView(1, Console(file=out, force_terminal=True, width=120))
    with view:
        view.update(snapshot(0, 5_000_000_000, 0.97, [1500] * 10))
    text = out.getvalue()
    assert "5.0 / 10.0 s" in text and "ack p99 1.50 ms" in text and "worker 0 used 97%" in text
