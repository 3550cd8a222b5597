"""`corpchat admin …` itself: every command has --help, every socket command has a
CLI spelling, and the CLI drives a live server through its socket."""

from __future__ import annotations

import argparse
import json

import pytest
import trio

from corpchat.server.admin_commands import COMMANDS
from corpchat.server.cli import build_parser, main


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(argv prefix, parser) of every runnable sub-command under `parser`."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


ADMIN = dict(_leaves(build_parser()))
ADMIN = {path: p for path, p in ADMIN.items() if path[0] == "admin"}


@pytest.mark.parametrize("path", sorted(ADMIN))
def test_every_admin_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: corpchat {' '.join(path)}")


def test_every_socket_command_has_a_cli_spelling():
    spelled = {p.get_default("cmd") for p in ADMIN.values()} | {"transfer.status"}
    assert set(COMMANDS) - {"help"} - spelled == set()


async def test_the_cli_drives_a_live_server(server, capsys):
    data = server.app.config.data_dir

    async def cli(*argv: str) -> tuple[int, str, str]:
        code = await trio.to_thread.run_sync(main, ["admin", "--data", data, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, _ = await cli("--json", "corp", "add", "acme", "--full-name", "Acme Ltd")
    assert code == 0 and json.loads(out)["name"] == "acme"
    code, out, _ = await cli("--json", "corp", "set", "acme", "--push-previews", "no")
    assert code == 0 and json.loads(out)["push_previews"] is False
    code, out, _ = await cli("--json", "user", "add", "--corp", "acme", "ann")
    added = json.loads(out)
    assert code == 0 and added["invite_link"].endswith(f"/#invite={added['invite']}")
    # issue 18: the operator gets the invite for the person, never a token
    assert "token" not in added and "token_id" not in added
    code, out, _ = await cli("user", "add", "--corp", "acme", "amy")
    assert code == 0 and "invite_link" in out and "cc_" not in out and "token" not in out
    assert json.loads((await cli("--json", "token", "list", "amy"))[1]) == []
    code, out, _ = await cli("user", "list")
    assert code == 0 and "ann" in out
    code, _, err = await cli("corp", "set", "nope", "--push-previews", "yes")
    assert code == 1 and err.startswith("error: not_found:")
    code, _, err = await trio.to_thread.run_sync(
        lambda: (main(["admin", "--data", data + "-missing", "stats"]),
                 *capsys.readouterr()))
    assert code == 2


def test_version_is_the_installed_package_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"corpchat {version('corpchat')}\n"


def _cli(data: str, capsys):  # noqa: ANN202
    async def cli(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()  # only what this command prints, not the server's logs
        code = await trio.to_thread.run_sync(main, ["admin", "--data", data, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return cli


async def test_token_list_shows_device_created_and_last_seen_to_the_minute(
        server, nursery, clock, capsys):
    from ..client import TestClient

    cli = _cli(server.app.config.data_dir, capsys)
    first = await server.user("ann")
    created = clock.now_ms()
    clock.advance(5)
    second = json.loads((await cli("--json", "token", "issue", "ann"))[1])

    async def tokens() -> list[dict]:
        # An admin write first: it commits after the last hello's last-seen write.
        assert (await cli("user", "set", "ann", "--title", "x"))[0] == 0
        code, out, _ = await cli("--json", "token", "list", "ann")
        assert code == 0
        return json.loads(out)

    listed = await tokens()
    assert [t["token_id"] for t in listed][1] == second["token_id"]
    assert [(t["device"], t["created_ms"], t["last_seen_ms"]) for t in listed] == [
        ("", created, None), ("", created + 5000, None)]
    await TestClient(nursery, server.url, first, device="phone").connect()
    seen = clock.now_ms()
    assert [(t["device"], t["last_seen_ms"]) for t in await tokens()] == [
        ("phone", seen), ("", None)]
    clock.advance(30)  # within the minute: not written again
    await TestClient(nursery, server.url, first, device="desk").connect()
    assert (await tokens())[0]["last_seen_ms"] == seen
    clock.advance(31)
    await TestClient(nursery, server.url, first, device="desk").connect()
    latest = (await tokens())[0]
    assert (latest["device"], latest["last_seen_ms"]) == ("desk", clock.now_ms())
    code, out, _ = await cli("token", "list", "ann")
    assert code == 0 and second["token_id"] in out and "desk" in out
    code, _, err = await cli("token", "list", "nobody")
    assert code == 1 and err.startswith("error: not_found:")


async def test_a_disabled_user_gets_no_token_until_enabled(server, nursery, capsys):
    from corpchat.protocol import Welcome

    from ..client import TestClient

    cli = _cli(server.app.config.data_dir, capsys)
    await server.user("ben")
    assert (await cli("user", "disable", "ben"))[0] == 0
    code, out, err = await cli("token", "issue", "ben")
    assert (code, out) == (1, "")
    assert err.startswith("error: disabled: user 'ben' is disabled")
    assert json.loads((await cli("--json", "token", "list", "ben"))[1]) == []
    code, out, _ = await cli("--json", "user", "enable", "ben")
    assert code == 0 and json.loads(out) == {"handle": "ben", "was_disabled": True}
    code, out, _ = await cli("--json", "token", "issue", "ben")
    assert code == 0
    ben = await TestClient(nursery, server.url, json.loads(out)["token"]).connect()
    assert ben.taken(Welcome)[0].user == "ben"
    users = json.loads((await cli("--json", "user", "list"))[1])
    assert [u["disabled"] for u in users if u["handle"] == "ben"] == [False]
    code, out, _ = await cli("--json", "user", "enable", "ben")  # already enabled: fine
    assert code == 0 and json.loads(out)["was_disabled"] is False
