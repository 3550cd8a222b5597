"""Operator commands through the real admin socket against a live server."""

from __future__ import annotations

import dataclasses
import os

import pytest
import trio

from corpchat.adminclient import AdminError, call, call_stream, socket_path
from corpchat.protocol import Ack, Msg
from corpchat.store import restore_backup

from ..client import TestClient
from ..conftest import running_server
from .test_groups import people


async def test_unknown_command_is_refused_explicitly(server):
    with pytest.raises(AdminError) as refused:
        await server.admin("no.such.thing")
    assert refused.value.code == "unknown_command"


async def test_a_streamed_command_through_call_says_so(server):
    """`call` expects one result; a streamed answer is refused, not returned as None."""
    await server.admin("corp.add", name="acme")
    path = socket_path(server.app.config.data_dir)
    with pytest.raises(AdminError) as refused:
        await trio.to_thread.run_sync(call, path, "archive.export", {"corp": "acme"})
    assert refused.value.code == "bad_answer"
    assert await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.export", {"corp": "acme"}))) == []


async def test_socket_is_private(server):
    path = os.path.join(server.app.config.data_dir, "admin.sock")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(server.app.config.data_dir).st_mode & 0o777 == 0o700


async def test_an_existing_data_directory_is_made_private_and_so_are_the_database_files(
        nursery, server_config, clock):
    """As docs/operations.md says: a directory the operator made (0755 here) becomes
    0700 at start, and LMDB's files are 0600 whatever the umask."""
    os.makedirs(server_config.data_dir, mode=0o755)
    os.chmod(server_config.data_dir, 0o755)
    async with running_server(nursery, server_config, clock):
        def mode(name: str) -> int:
            return os.stat(os.path.join(server_config.data_dir, name)).st_mode & 0o777

        assert mode("") == 0o700
        assert (mode("data.mdb"), mode("lock.mdb")) == (0o600, 0o600)


async def test_stats_reflect_a_scripted_workload(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    ben_desk = await TestClient(nursery, server.url, c["ben"].session.token).connect()
    for i in range(4):
        await c["ann"].send(f"m{i}", to="ben")
        await c["ann"].expect(Ack)
    for device in (c["ben"], ben_desk):
        for _ in range(4):
            await device.expect(Msg)
    stats = await server.admin("stats")
    assert (stats["connections"], stats["users_online"]) == (3, 2)
    assert (stats["messages"], stats["deliveries"], stats["messages_stored"]) == (4, 8, 4)
    assert stats["writer_ops"] >= 4 and stats["lmdb_map_use"] > 0


async def test_kick_and_disable_close_sessions_with_their_codes(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    phone = await TestClient(nursery, server.url, c["ann"].session.token, device="phone").connect()
    sessions = await server.admin("sessions", user="ann")
    assert sorted(s["device"] or "" for s in sessions) == ["", "phone"]
    assert (await server.admin("kick", user="ann", device="phone"))["sessions_closed"] == 1
    with trio.fail_after(5):
        while phone.closed_code is None:
            await trio.sleep(0.01)
    assert phone.closed_code == 4003
    assert (await server.admin("user.disable", handle="ben"))["sessions_closed"] == 1
    with trio.fail_after(5):
        while c["ben"].closed_code is None:
            await trio.sleep(0.01)
    assert c["ben"].closed_code == 4001
    again = TestClient(nursery, server.url, c["ben"].session.token)
    await again.connect(wait_sync=False)
    with trio.fail_after(5):
        while again.closed_code is None:
            await trio.sleep(0.01)
    assert again.closed_code == 4001


async def test_backup_while_sending_then_restore_keeps_every_earlier_ack(
        nursery, server_config, clock, tmp_path):
    async with running_server(nursery, server_config, clock) as srv:
        c = await people(srv, nursery, "ann", "ben")
        acked_before: list[int] = []
        for i in range(30):
            await c["ann"].send(f"before {i}", to="ben")
            acked_before.append((await c["ann"].expect(Ack)).seq)

        async def keep_sending() -> None:
            for i in range(200):
                await c["ben"].send(f"during {i}", to="ann")
                await trio.sleep(0)

        async with trio.open_nursery() as senders:
            senders.start_soon(keep_sending)
            result = await srv.admin("backup", path=os.fspath(tmp_path / "backup"))
            senders.cancel_scope.cancel()
        assert result["bytes"] > 0
    fresh = dataclasses.replace(server_config, data_dir=os.fspath(tmp_path / "restored"))
    restore_backup(os.fspath(tmp_path / "backup"), fresh.data_dir, create=True)
    async with running_server(nursery, fresh, clock) as srv:
        ben = await TestClient(nursery, srv.url, c["ben"].session.token, sync_token="0").connect()
        texts = [m.text for m in ben.taken(Msg) if m.sender == "ann"]
        assert texts == [f"before {i}" for i in range(30)]


async def test_drain_loses_no_acked_message_and_clients_resume(nursery, server_config, clock):
    async with running_server(nursery, server_config, clock) as srv:
        c = await people(srv, nursery, "ann", "ben")
        for i in range(20):
            await c["ann"].send(f"m{i}", to="ben")
        await srv.admin("drain", timeout_s=2)
        with trio.fail_after(10):
            while c["ben"].closed_code is None or c["ann"].closed_code is None:
                await trio.sleep(0.01)
        assert c["ann"].closed_code == 1001
        acked = {a.client_msg_id for a in c["ann"].taken(Ack)}
        ben_token, ben_sync = c["ben"].session.token, c["ben"].session.sync_token
        ann_session = c["ann"].session
        seen = [m.text for m in c["ben"].taken(Msg)]
    async with running_server(nursery, server_config, clock) as srv:
        ann = TestClient(nursery, srv.url, ann_session.token)
        ann.session = ann_session  # the same device: its unacked sends go again
        await ann.connect()
        with trio.fail_after(5):
            while ann.session.unacked:
                await ann.expect(Ack)
        ben = await TestClient(nursery, srv.url, ben_token, sync_token=ben_sync).connect()
        seen += [m.text for m in ben.taken(Msg)]
        assert sorted(seen, key=lambda t: int(t[1:])) == [f"m{i}" for i in range(20)]
        assert len(acked) <= 20


async def _http_get(port: int, path: str) -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        data = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_metrics_parse_with_prometheus_own_parser_and_match_stats(server, nursery):
    from prometheus_client.parser import text_string_to_metric_families

    c = await people(server, nursery, "ann", "ben")
    await c["ann"].send("hello", to="ben")
    await c["ann"].expect(Ack)
    await c["ben"].expect(Msg)
    status, body = await _http_get(server.app.port, "/metrics")
    assert status == 200
    samples = {s.name: s.value for family in text_string_to_metric_families(body.decode())
               for s in family.samples}
    stats = await server.admin("stats")
    assert samples["corpchat_messages_total"] == stats["messages"] == 1
    assert samples["corpchat_deliveries_total"] == stats["deliveries"] == 1
    assert samples["corpchat_connections"] == 3  # two clients and this request
    assert samples["corpchat_commit_seconds_count"] == stats["writer_batches"]


async def test_healthz_is_200_while_serving(server):
    assert await _http_get(server.app.port, "/healthz") == (200, b"ok\n")
    status, _ = await _http_get(server.app.port, "/nowhere")
    assert status == 404


async def test_users_online_per_realm_follow_devices_coming_and_going(server, nursery):
    """Counted as sessions come and go (not by walking them per `stats`): a user with two
    devices counts once, and until their last device leaves."""
    c = await people(server, nursery, "ann", "ben")
    c.update(await people(server, nursery, "cleo", corp=None))
    ben_desk = await TestClient(nursery, server.url, c["ben"].session.token).connect()

    async def online() -> tuple[int, dict[str, int]]:
        stats = await server.admin("stats")
        return stats["users_online"], stats["users_online_by_realm"]

    assert await online() == (3, {"enterprise": 2, "consumer": 1})
    for client, expected in ((ben_desk, (3, {"enterprise": 2, "consumer": 1})),
                             (c["ben"], (2, {"enterprise": 1, "consumer": 1})),
                             (c["cleo"], (1, {"enterprise": 1}))):
        await client.close()
        with trio.fail_after(5):
            while await online() != expected:
                await trio.sleep(0.01)
