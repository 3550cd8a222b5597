"""The audit log (`corpchat.audit`): one line per event, with its fields, from real
connections and real admin calls; and no token in any log line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import trio

from corpchat.adminclient import AdminError
from corpchat.server.cli import main
from corpchat.server.logs import JsonFormatter

from ..client import TestClient
from .test_groups import people

PLAIN = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


class _Lines(logging.Handler):
    """Every corpchat log line, formatted both ways (JSON and plain)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.json: list[str] = []
        self.plain: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.json.append(JsonFormatter().format(record))
        self.plain.append(PLAIN.format(record))

    def events(self, name: str | None = None) -> list[dict]:
        lines = [json.loads(line) for line in self.json]
        return [e for e in lines if e["logger"] == "corpchat.audit"
                and (name is None or e["event"] == name)]


@pytest.fixture
def lines():
    handler, logger, root = _Lines(), logging.getLogger("corpchat"), logging.getLogger()
    levels = logger.level, root.level  # `log-level` in a test changes the root's
    logger.setLevel(logging.DEBUG)  # what `log-level DEBUG` does to the root logger
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(levels[0])
    root.setLevel(levels[1])


async def _closed(client: TestClient) -> int:
    with trio.fail_after(5):
        while client.closed_code is None:
            await trio.sleep(0.01)
    return client.closed_code


async def _logged(lines: _Lines, name: str, count: int = 1) -> list[dict]:
    """The events `name`, once `count` of them are there (a close is logged after the
    socket closes, a moment after the client sees it)."""
    with trio.fail_after(5):
        while len(found := lines.events(name)) < count:
            await trio.sleep(0.01)
    return found


async def test_login_and_close_lines_name_user_device_address_and_code(server, nursery, lines):
    c = await people(server, nursery, "ann")
    phone = await TestClient(nursery, server.url, c["ann"].session.token,
                             device="phone").connect()
    login = [e for e in lines.events("login") if e["device"] == "phone"]
    assert len(login) == 1
    assert (login[0]["user"], login[0]["level"]) == ("ann", "INFO") and login[0]["uid"]
    assert login[0]["peer"].startswith("127.0.0.1:") and login[0]["token_id"]
    connects = [e for e in lines.events("connect") if e["session"] == login[0]["session"]]
    assert [e["level"] for e in connects] == ["DEBUG"]  # DEBUG adds the bare connect
    await server.admin("kick", user="ann", device="phone")
    assert await _closed(phone) == 4003
    (close,) = [e for e in await _logged(lines, "close") if e.get("device") == "phone"]
    assert (close["code"], close["user"], close["peer"]) == (4003, "ann", login[0]["peer"])
    (kick,) = lines.events("kick")
    assert kick == {**kick, "user": "ann", "device": "phone", "sessions_closed": 1,
                    "admin_uid": os.getuid()}


async def test_a_failed_login_is_a_warning_with_the_address(server, nursery, lines):
    client = TestClient(nursery, server.url, "not-a-token")
    await client.connect(wait_sync=False)
    assert await _closed(client) == 4001
    (failed,) = lines.events("login_failed")
    assert failed["level"] == "WARNING" and failed["peer"].startswith("127.0.0.1:")


async def test_admin_commands_are_audited_with_their_ids(server, nursery, lines, tmp_path):
    await people(server, nursery, "ann", "ben")
    issued = await server.admin("token.issue", user="ann")
    desk = await TestClient(nursery, server.url, issued["token"], device="desk").connect()
    await server.admin("token.revoke", token_id=issued["token_id"])
    assert await _closed(desk) == 4001
    await server.admin("user.disable", handle="ben")
    backup = os.fspath(tmp_path / "backup")
    await server.admin("backup", path=backup)
    await server.admin("log-level", level="debug")
    with pytest.raises(AdminError):
        await server.admin("kick", user="nobody")
    events = {e["event"]: e for e in lines.events()}
    assert events["token.issue"]["token_id"] == issued["token_id"]
    assert events["token.revoke"]["sessions_closed"] == 1
    assert (events["user.disable"]["handle"], events["user.disable"]["sessions_closed"]) \
        == ("ben", 1)
    assert events["backup"]["path"] == backup and events["backup"]["bytes"] > 0
    assert events["log-level"]["log_level"] == "DEBUG"
    assert (events["kick"]["error"], events["kick"]["level"]) == ("not_found", "WARNING")
    assert {e["admin_uid"] for e in lines.events() if e["event"] in events and "."
            in e["event"]} == {os.getuid()}
    revoked_close = [e for e in await _logged(lines, "close", 2) if e.get("device") == "desk"]
    assert revoked_close[0]["code"] == 4001


async def test_drain_is_audited(server, lines):
    await server.admin("drain", timeout_s=1)
    (drain,) = lines.events("drain")
    assert drain["timeout_s"] == 1 and drain["admin_uid"] == os.getuid()


async def test_no_token_appears_in_any_log_line(server, nursery, lines, capsys):
    """A run that issues tokens (user add, token issue, the CLI) and logs in with
    them, at DEBUG: no token in the JSON or the plain form of any line."""
    c = await people(server, nursery, "ann", "ben")
    tokens = [client.session.token for client in c.values()]
    tokens.append((await server.admin("token.issue", user="ann"))["token"])
    await TestClient(nursery, server.url, tokens[-1], device="tablet").connect()
    data = server.app.config.data_dir
    code = await trio.to_thread.run_sync(
        main, ["admin", "--data", data, "--json", "token", "issue", "ben"])
    assert code == 0
    tokens.append(json.loads(capsys.readouterr().out)["token"])
    await TestClient(nursery, server.url, tokens[-1]).connect()
    assert len(lines.events("login")) == 4 and len(lines.events("token.issue")) == 2
    for line in lines.json + lines.plain:
        for token in tokens:
            assert token not in line


def test_restore_prints_an_audit_line(tmp_path):
    """`corpchat restore` runs with no server and no logging set up: its audit line is
    one JSON object on stderr."""
    from corpchat.store import Store

    Store(os.fspath(tmp_path / "live")).close()
    backup = os.fspath(tmp_path / "backup")
    store = Store(os.fspath(tmp_path / "live"))
    store.backup(backup)
    store.close()
    exe = os.path.join(os.path.dirname(sys.executable), "corpchat")
    done = subprocess.run([exe, "restore", backup, "--data", os.fspath(tmp_path / "new"),
                           "--create"],
                          capture_output=True, text=True, check=True)
    (line,) = [json.loads(x) for x in done.stderr.splitlines()]
    assert (line["logger"], line["event"], line["path"]) == ("corpchat.audit", "restore", backup)
    assert line["bytes"] > 0
