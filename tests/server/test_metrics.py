"""/metrics against `admin stats`: every figure has a family, named by Prometheus
conventions, and the two agree after some traffic."""

from __future__ import annotations

import json
import re

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from corpchat.protocol import Ack, Msg
from corpchat.server.cli import main
from corpchat.server.metrics import FIGURES, FIGURES_BY_REALM

from .test_admin import _http_get
from .test_groups import people

# Figures that move by themselves between a scrape and a `stats` call.
MOVING = {"uptime_s", "cpu_seconds", "rss_bytes", "rss_anon_bytes", "connections",
          # the search indexer (its own process) moves these by itself
          "search_indexed_pos", "search_lag_messages", "search_lag_s", "search_documents",
          "search_index_bytes", "search_commits"}


async def _scrape(server) -> dict:
    status, body = await _http_get(server.app.port, "/metrics")
    assert status == 200
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


async def _cli_stats(server, capsys) -> dict:
    """What `corpchat admin --json stats` prints, through the real CLI."""
    data = server.app.config.data_dir
    code = await trio.to_thread.run_sync(main, ["admin", "--data", data, "--json", "stats"])
    assert code == 0
    return json.loads(capsys.readouterr().out)


async def _traffic(server, nursery) -> None:
    c = await people(server, nursery, "ann", "ben")
    c.update(await people(server, nursery, "cleo", corp=None))
    for i in range(3):
        await c["ann"].send(f"m{i}", to="ben")
        await c["ann"].expect(Ack)
        await c["ben"].expect(Msg)


async def test_every_stats_figure_has_a_metric_family(server, nursery, capsys):
    await _traffic(server, nursery)
    stats = await _cli_stats(server, capsys)
    families = await _scrape(server)
    missing = set(stats) - set(FIGURES) - set(FIGURES_BY_REALM)
    assert not missing, f"stats figures without a metric in server/metrics.py: {missing}"
    for key in stats:
        name = (FIGURES.get(key) or FIGURES_BY_REALM[key]).name
        assert name in families, f"{key}: no family {name} on /metrics"


async def test_metric_names_follow_prometheus_conventions(server, nursery):
    await _traffic(server, nursery)
    for name, family in (await _scrape(server)).items():
        assert re.fullmatch(r"corpchat_[a-z0-9_]+", name), name
        assert not re.search(r"_(ms|s|1s|1m|mb|kb|per_s)(_|$)", name), f"{name}: unit spelling"
        if family.type == "counter":
            assert all(s.name == f"{name}_total" for s in family.samples), name
        else:
            assert not name.endswith("_total"), f"{name}: _total on a {family.type}"
        for unit in ("bytes", "seconds", "ratio"):
            if unit in name:
                assert name.endswith(f"_{unit}"), f"{name}: the unit comes last"


async def test_metric_values_agree_with_stats_after_traffic(server, nursery, capsys):
    await _traffic(server, nursery)
    families = await _scrape(server)
    stats = await _cli_stats(server, capsys)
    assert (stats["messages"], stats["users_online"]) == (3, 3)
    for key, value in stats.items():
        if key in MOVING:
            continue
        if key in FIGURES_BY_REALM:
            family = families[FIGURES_BY_REALM[key].name]
            assert {s.labels["realm"]: s.value for s in family.samples} == value
            continue
        figure = FIGURES[key]
        samples = [s for s in families[figure.name].samples
                   if s.labels == dict(figure.labels) and not s.name.endswith("_created")]
        assert len(samples) == 1, (key, samples)
        assert samples[0].value == pytest.approx(value * figure.scale), key
    assert families["corpchat_connections"].samples[0].value == 4  # three clients, the scrape
