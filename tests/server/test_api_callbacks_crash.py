"""Callbacks survive a kill -9 between the commit and the delivery: the server
runs as `corpchat serve` in a subprocess; after the restart exactly the events
not yet acknowledged arrive, and one that had arrived unacknowledged arrives
again with the same event id."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from corpchat.adminclient import call, socket_path

from .callback_receiver import Receiver

LAUNCH = "import sys; from corpchat.server.cli import main; sys.exit(main(sys.argv[1:]))"


def _start(data: str, log_path: str) -> subprocess.Popen:
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    log = open(log_path, "ab")  # noqa: SIM115 - the child's, closed with it
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "serve", "--data", data,
                             "--listen", "127.0.0.1:0"], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            f.seek(offset)
            if re.search(rb"serving on 127\.0\.0\.1:(\d+)", f.read()):
                return proc
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not start in 20 s")


def _wait(predicate, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.slow
def test_kill_9_between_commit_and_delivery(tmp_path):
    data, log_path = str(tmp_path / "data"), str(tmp_path / "server.log")
    receiver = Receiver()
    proc = _start(data, log_path)
    try:
        admin = socket_path(data)
        call(admin, "corp.add", {"name": "acme"})
        call(admin, "user.add", {"handle": "ann", "corp": "acme"})
        app = call(admin, "app.add", {"corp": "acme", "name": "HR", "callback_url": receiver.url})
        receiver.secret = app["secret"]
        depts = [call(admin, "dept.add", {"corp": "acme", "name": f"d{i}"})["dept"]
                 for i in range(6)]
        for dept in depts[:3]:  # three events delivered and acknowledged
            call(admin, "user.set", {"handle": "ann", "dept": dept})
        _wait(lambda: len(receiver.events) == 5, "the first events")  # joined, (left, joined) x2
        receiver.down = True
        for dept in depts[3:]:  # committed; the receiver refuses them
            call(admin, "user.set", {"handle": "ann", "dept": dept})
        _wait(lambda: len(receiver.seen) > 5, "an unacknowledged delivery")
        _wait(lambda: call(admin, "app.status", {"app": app["app_id"]})["delivered"] == 5,
              "the first five acknowledged")
        assert call(admin, "app.status", {"app": app["app_id"]})["backlog"] == 6
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = list(receiver.events)
        refused = list(receiver.seen[5:])
        receiver.down = False
        proc = _start(data, log_path)
        _wait(lambda: len(receiver.events) == 11, "the missing events after the restart")
        after = receiver.events[len(before):]
        assert [e["seq"] for e in after] == list(range(6, 12))  # exactly the missing ones
        assert all(e["id"] in refused for e in after[:1])  # seen before: the same id
        assert len({e["id"] for e in receiver.events}) == 11
        assert receiver.bad_signatures == 0
        _wait(lambda: call(admin, "app.status", {"app": app["app_id"]})["backlog"] == 0,
              "the cursor to pass the last event")
    finally:
        proc.kill()
        proc.wait()
        receiver.close()
