"""The indexer process as an operator's service manager treats it: it logs in the
server's format, and a SIGTERM to the whole process group (systemd's default
KillMode, `timeout`) is a clean stop, not an indexer crash and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from corpchat.adminclient import AdminUnreachable, call, socket_path


def _reindex_once_up(data: str, server: subprocess.Popen) -> dict:
    """search.reindex as soon as the admin socket answers (its file exists a moment
    before the server listens on it)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return call(socket_path(data), "search.reindex", {})
        except AdminUnreachable:
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)


def test_json_logs_from_the_indexer_and_a_group_sigterm_stops_cleanly(tmp_path):
    data = os.fspath(tmp_path / "data")
    server = subprocess.Popen(
        [sys.executable, "-m", "corpchat.server.cli", "serve", "--data", data, "--listen",
         "127.0.0.1:0", "--log-format", "json", "--log-level", "INFO"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # a rebuild: the indexer process logs it at INFO
        assert _reindex_once_up(data, server)["documents"] == 0
        os.killpg(server.pid, signal.SIGTERM)  # the server, the fork server, the indexer
        _, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert server.returncode == 0, err
    assert any(e["logger"].startswith("corpchat.search") and "rebuilt" in e["message"]
               for e in lines), err
    assert [e for e in lines if e["level"] in ("ERROR", "CRITICAL")] == [], err
    assert lines[-1]["message"] == "stopped"
