"""Shared fixtures: a real server on port 0 with a real LMDB in tmp_path."""

from __future__ import annotations

import logging
import os

import pytest
import trio
from hypothesis import settings

from corpchat.adminclient import call, socket_path
from corpchat.protocol.clock import ManualClock
from corpchat.server import App, ServerConfig

from .client import TestServer


@pytest.fixture(autouse=True)
def root_logging_restored():
    """A test that runs `corpchat serve` in process (server/logs.configure) replaces the
    root logger's handlers with one on that test's captured stderr; later tests would log
    into a closed stream ("I/O operation on closed file") and lose pytest's own capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

# No per-example deadline: these tests check what happens, not how fast, and on a
# busy 2-core machine one example can pass 200 ms (hypothesis then calls the test
# flaky). Time is measured by the benchmarks in loadtest/, never here.
settings.register_profile("corpchat", deadline=None)
settings.load_profile("corpchat")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server_config(tmp_path) -> ServerConfig:
    # close_timeout_s: at a test's end its clients stop reading before the server
    # drains, so each would hold the drain for the whole wait for its close frame.
    return ServerConfig(data_dir=os.fspath(tmp_path / "data"), port=0,
                        map_initial_bytes=4 * 1024 * 1024, close_timeout_s=0.5)


@pytest.fixture
async def server(nursery, server_config, clock):
    """A running server; stopped (gracefully) at the end of the test."""
    async with running_server(nursery, server_config, clock) as srv:
        yield srv


class running_server:
    """Start an App in `nursery`; on exit request shutdown and wait for it."""

    def __init__(self, nursery: trio.Nursery, config: ServerConfig, clock=None) -> None:
        self.nursery, self.config, self.clock = nursery, config, clock

    async def __aenter__(self) -> TestServer:
        self.app = App(self.config, clock=self.clock)
        self.done = trio.Event()

        async def run(task_status=trio.TASK_STATUS_IGNORED):
            try:
                await self.app.serve(task_status=task_status)
            finally:
                self.done.set()

        port = await self.nursery.start(run)
        admin = socket_path(self.config.data_dir)
        return TestServer(self.app, f"ws://127.0.0.1:{port}/",
                          lambda cmd, **args: trio.to_thread.run_sync(call, admin, cmd, args))

    async def __aexit__(self, *exc) -> None:
        self.app.request_shutdown()
        with trio.fail_after(15):
            await self.done.wait()
