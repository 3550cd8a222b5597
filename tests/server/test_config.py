"""Config file: every setting, flags over the file, bad keys refused by name."""

from __future__ import annotations

import pytest

from corpchat.server.cli import _serve_config, main
from corpchat.server.config import ConfigError, ServerConfig, config_from_mapping


def test_file_sets_top_level_and_limits():
    config = config_from_mapping({"listen": "127.0.0.1:9999", "outbound_buffer_bytes": 4096,
                                  "durable": False, "limits": {"max_text_chars": 100}})
    assert (config.host, config.port, config.outbound_buffer_bytes, config.durable) == (
        "127.0.0.1", 9999, 4096, False)
    assert config.limits.max_text_chars == 100
    assert config.limits.max_frame_bytes == ServerConfig().limits.max_frame_bytes


def test_file_sets_the_bridge_and_customer_caps():
    config = config_from_mapping({"bridge": {"contact_requests_per_day": 7},
                                  "customers": {"transfer_window_ms": 3_600_000}})
    assert config.bridge.contact_requests_per_day == 7
    assert config.bridge.contacts_per_corp == ServerConfig().bridge.contacts_per_corp
    assert config.customers.transfer_window_ms == 3_600_000


def test_operations_md_lists_every_setting():
    import dataclasses
    import os
    import re

    from corpchat.server.config import TABLES

    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")
    with open(path, encoding="utf-8") as f:
        documented = set(re.findall(r"^\| `([a-z_]+)` \|", f.read(), re.MULTILINE))
    names = {f.name for f in dataclasses.fields(ServerConfig)} - set(TABLES)
    for cls in TABLES.values():
        names |= {f.name for f in dataclasses.fields(cls)}
    assert names - documented == set()


@pytest.mark.parametrize("data,named", [
    ({"no_such_thing": 1}, "no_such_thing"),
    ({"limits": {"max_bogus": 1}}, "limits.max_bogus"),
    ({"outbound_buffer_bytes": "big"}, "outbound_buffer_bytes"),
    ({"durable": 1}, "durable"),
    ({"outbound_buffer_bytes": -5}, "outbound_buffer_bytes"),
    ({"limits": {"max_text_chars": 0}}, "max_text_chars"),
    ({"listen": "nowhere"}, "listen"),
    ({"bridge": {"friends": 1}}, "bridge.friends"),
    ({"bridge": {"contacts_per_employee": 0}}, "contacts_per_employee"),
    ({"customers": {"moments_per_day": True}}, "customers.moments_per_day"),
    ({"customers": []}, "[customers]"),
])
def test_bad_settings_are_refused_with_their_name(data, named):
    with pytest.raises(ConfigError) as refused:
        config_from_mapping(data)
    assert named in str(refused.value)


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "corpchat.toml"
    path.write_text('data_dir = "/from/file"\nlisten = "127.0.0.1:1111"\nmax_batch_ops = 7\n')
    import argparse

    args = argparse.Namespace(config=str(path), data="/from/flag", listen=None, no_fsync=False,
                              map_mb=None)
    config = _serve_config(args)
    assert (config.data_dir, config.port, config.max_batch_ops) == ("/from/flag", 1111, 7)


def test_serve_refuses_a_bad_file_at_start(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("typing_per_s = 'fast'\n")
    assert main(["serve", "--config", str(path)]) == 2
    assert "typing_per_s" in capsys.readouterr().err
