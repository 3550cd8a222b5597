"""Descriptors (issue 16, items 3 and 4): accept loops that outlive EMFILE, the
caps on unauthenticated connections, and the descriptor limit at start.

The server runs in this process, so the client sockets of a test and the
server's count against one RLIMIT_NOFILE: a test that lowers it restores it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import resource
from collections.abc import Iterator

import pytest
import trio

from corpchat.adminclient import call, socket_path
from corpchat.server.admission import RESERVED_DESCRIPTORS

from ..conftest import running_server
from .test_abuse import authenticated, wait_until


@contextlib.contextmanager
def soft_nofile(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    except (ValueError, OSError) as exc:
        pytest.skip(reason=f"this host does not let the test set RLIMIT_NOFILE: {exc}")
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def highest_open_fd() -> int:
    return max(int(name) for name in os.listdir("/proc/self/fd"))


async def open_raw(server) -> trio.SocketStream:
    """A TCP connection that never says anything: unauthenticated until it times out."""
    return await trio.open_tcp_stream("127.0.0.1", server.app.port)


async def hold(server, count: int) -> list[trio.SocketStream]:
    """`count` unauthenticated connections the server has accepted and kept."""
    app, streams = server.app, []
    for _ in range(count):
        before = len(app.connections)
        streams.append(await open_raw(server))
        await wait_until(lambda: len(app.connections) == before + 1)  # noqa: B023
    return streams


async def refused_at_accept(server) -> bool:
    """Open one more: True when the server closed it at once."""
    app = server.app
    refused, connections = app.admission.refused, len(app.connections)
    stream = await open_raw(server)
    await wait_until(lambda: app.admission.refused > refused
                     or len(app.connections) > connections)
    closed = app.admission.refused > refused
    if closed:
        with trio.fail_after(5):
            try:
                assert await stream.receive_some() == b""
            except trio.BrokenResourceError:
                pass  # the close crossed our handshake: a reset is a close too
    await trio.aclose_forcefully(stream)
    return closed


async def fill_until_refused(server) -> list[trio.SocketStream]:
    """Open connections until the server closes one at accept; the others stay."""
    app, held = server.app, []
    while True:
        refused, accepted = app.admission.refused, len(app.connections)
        stream = await open_raw(server)
        await wait_until(lambda: app.admission.refused > refused  # noqa: B023
                         or len(app.connections) > accepted)  # noqa: B023
        if app.admission.refused > refused:
            await trio.aclose_forcefully(stream)
            return held
        held.append(stream)


async def close_all(streams: list[trio.SocketStream]) -> None:
    for stream in streams:
        await trio.aclose_forcefully(stream)


# ----- the caps on unauthenticated connections -----


async def test_unauthenticated_connections_are_capped_per_address(nursery, server_config):
    config = dataclasses.replace(server_config, max_unauthenticated_per_address=3)
    async with running_server(nursery, config) as server:
        held = await hold(server, 3)
        assert await refused_at_accept(server)  # the 4th from 127.0.0.1
        await close_all(held)
        await wait_until(lambda: server.app.admission.total == 0)
        signed_in = [await authenticated(server, f"u{i}") for i in range(5)]
        held = await hold(server, 3)  # authenticated ones do not count
        assert await refused_at_accept(server)
        assert server.app.admission.total == 3
        await close_all(held)
        for ws in signed_in:
            await ws.aclose()


async def test_a_per_address_cap_of_0_is_off(nursery, server_config):
    config = dataclasses.replace(server_config, max_unauthenticated_per_address=0)
    async with running_server(nursery, config) as server:
        held = await hold(server, 100)
        assert server.app.admission.refused == 0
        await close_all(held)


async def test_unauthenticated_connections_are_capped_in_total(nursery, server_config):
    config = dataclasses.replace(server_config, max_unauthenticated_per_address=0,
                                 max_unauthenticated=5)
    async with running_server(nursery, config) as server:
        held = await hold(server, 5)
        assert await refused_at_accept(server)
        await close_all(held[:1])
        await wait_until(lambda: len(server.app.connections) == 4)
        held = held[1:] + await hold(server, 1)  # one left: one may come in
        await close_all(held)


# ----- the descriptor limit -----


async def test_the_soft_descriptor_limit_is_raised_and_a_short_one_warned(
        nursery, server_config, caplog):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip(reason="no finite hard RLIMIT_NOFILE to raise to on this host")
    config = dataclasses.replace(server_config, max_connections=hard)
    caplog.set_level(logging.WARNING, logger="corpchat")
    with soft_nofile(min(soft, highest_open_fd() + 200)):
        async with running_server(nursery, config):
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    warnings = [r.getMessage() for r in caplog.records if "RLIMIT_NOFILE" in r.getMessage()]
    assert len(warnings) == 1
    assert f"is {hard}, below max_connections {hard} + {RESERVED_DESCRIPTORS}" in warnings[0]


async def test_enough_descriptors_start_without_a_warning(nursery, server_config, caplog):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    config = dataclasses.replace(server_config, max_connections=100)
    if hard < 100 + RESERVED_DESCRIPTORS:
        pytest.skip(reason=f"the hard RLIMIT_NOFILE here is {hard}")
    caplog.set_level(logging.WARNING, logger="corpchat")
    async with running_server(nursery, config):
        pass
    assert not [r for r in caplog.records if "RLIMIT_NOFILE" in r.getMessage()]


# ----- accept loops out of descriptors -----


def fill_descriptors() -> list[int]:
    """Open /dev/null until the process has no descriptor left."""
    taken = []
    while True:
        try:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
            return taken


async def test_out_of_descriptors_the_admin_socket_answers_and_the_server_goes_on(
        nursery, server_config, clock, caplog):
    """The WebSocket side fills up to the reserve and refuses at accept; the
    admin socket still answers. Then the process runs out for real: both
    accept loops wait (one log line each, the clock standing still), and once
    descriptors are free again the pending admin call answers and clients
    connect."""
    config = dataclasses.replace(server_config, max_unauthenticated_per_address=0)
    caplog.set_level(logging.ERROR, logger="corpchat")
    async with running_server(nursery, config, clock) as server:
        admin = socket_path(server.app.config.data_dir)
        with soft_nofile(highest_open_fd() + 1 + RESERVED_DESCRIPTORS + 40):
            held = await fill_until_refused(server)  # the WebSocket side is full
            stats = await trio.to_thread.run_sync(call, admin, "stats")
            assert stats is not None
            taken = fill_descriptors()
            os.close(taken.pop())  # one for the admin caller's own socket
            async with trio.open_nursery() as waiting:
                answer: list[object] = []

                async def ask() -> None:
                    answer.append(await trio.to_thread.run_sync(call, admin, "stats"))

                waiting.start_soon(ask)
                await wait_until(lambda: any("admin socket failed" in r.getMessage()
                                             for r in caplog.records))
                await trio.sleep(0.5)  # several retries: still one line (the clock stands)
                for fd in taken:
                    os.close(fd)
            assert answer and answer[0] is not None
        failures = [r.getMessage() for r in caplog.records if "accept on the" in r.getMessage()]
        assert len([m for m in failures if "admin socket" in m]) == 1
        await close_all(held)
        ws = await authenticated(server, "after")
        await ws.aclose()
