"""Signing in with invites and passwords, devices, revocation: real server, real sockets."""

from __future__ import annotations

import dataclasses
import logging
import os

import pytest

from corpchat.protocol import (
    DeviceRevoke,
    Devices,
    DevicesReply,
    Error,
    Hello,
    LoggedIn,
    Login,
    Ok,
    PasswordChange,
    Redeem,
    Register,
    Registered,
)

from ..client import RawWs
from ..conftest import running_server

PASSWORD = "tulip bicycle 42"
WINDOW_S = 900


async def raw(nursery, server) -> RawWs:
    return await RawWs.open(nursery, server.url)


async def ask(ws: RawWs, frame) -> object:
    await ws.request(frame)
    return await ws.receive()


async def with_password(server, handle: str, password: str = PASSWORD) -> None:
    await server.user(handle)
    await server.admin("user.password", handle=handle, password=password)


async def login(nursery, server, handle: str, password: str = PASSWORD,
                device: str = "laptop") -> tuple[RawWs, LoggedIn]:
    """A connection signed in with a password (login, then hello on the same one)."""
    ws = await raw(nursery, server)
    reply = await ask(ws, Login(id=1, handle=handle, password=password, device=device))
    assert isinstance(reply, LoggedIn), reply
    await ws.hello(reply.token)
    return ws, reply


async def test_an_invite_link_signs_a_person_in_once(nursery, server, caplog):
    caplog.set_level(logging.DEBUG)
    await server.admin("corp.add", name="acme")
    added = await server.admin("user.add", handle="alice", corp="acme")
    code = added["invite"]
    assert added["invite_link"].endswith(f"/#invite={code}")
    assert added["invite_link"].startswith("http://127.0.0.1:")
    ws = await raw(nursery, server)
    reply = await ask(ws, Redeem(id=7, invite=code, password=PASSWORD, device="Firefox"))
    assert isinstance(reply, LoggedIn) and reply.re == 7 and reply.token.startswith("cc_")
    welcome = await ws.hello(reply.token)
    assert welcome.user == "alice"
    again = await raw(nursery, server)
    refused = await ask(again, Redeem(id=8, invite=code, password=PASSWORD, device="x"))
    assert isinstance(refused, Error) and (refused.code, refused.re) == ("auth_failed", 8)
    assert isinstance(await ask(again, Login(id=9, handle=" Alice ", password=PASSWORD,
                                             device="phone")), LoggedIn)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert code not in logged and PASSWORD not in logged
    assert "signed_in" in logged


async def test_a_new_invite_replaces_the_old_one(nursery, server):
    await server.admin("corp.add", name="acme")
    first = (await server.admin("user.add", handle="alice", corp="acme"))["invite"]
    second = await server.admin("user.invite", handle="alice")
    assert second["invite"] != first and second["link"].endswith(second["invite"])
    ws = await raw(nursery, server)
    old = await ask(ws, Redeem(id=1, invite=first, password=PASSWORD, device="x"))
    assert isinstance(old, Error) and old.code == "auth_failed"
    new = await ask(ws, Redeem(id=2, invite=second["invite"], password=PASSWORD, device="x"))
    assert isinstance(new, LoggedIn)


async def test_an_invite_expires_after_its_ttl(nursery, server, clock):
    await server.admin("corp.add", name="acme")
    code = (await server.admin("user.add", handle="alice", corp="acme"))["invite"]
    clock.advance(7 * 86_400)
    ws = await raw(nursery, server)
    late = await ask(ws, Redeem(id=1, invite=code, password=PASSWORD, device="x"))
    assert isinstance(late, Error) and late.code == "auth_failed"


async def test_wrong_password_unknown_handle_and_disabled_user_look_alike(nursery, server):
    await with_password(server, "alice")
    await with_password(server, "carol")
    await server.admin("user.disable", handle="carol")
    await server.user("dave")  # no password yet
    ws = await raw(nursery, server)
    answers = []
    for n, handle in enumerate(["alice", "nobody", "carol", "dave"]):
        password = "wrong password 9" if handle == "alice" else PASSWORD
        answers.append(await ask(ws, Login(id=n, handle=handle, password=password, device="x")))
    assert {(a.code, a.message) for a in answers} == {("auth_failed", "wrong handle or password")}
    assert [a.re for a in answers] == [0, 1, 2, 3]
    assert isinstance(await ask(ws, Login(id=9, handle="alice", password=PASSWORD,
                                          device="x")), LoggedIn)  # the connection stayed


async def test_five_failures_lock_a_handle_for_the_window(nursery, server, clock):
    await with_password(server, "alice")
    ws = await raw(nursery, server)
    for n in range(5):
        failed = await ask(ws, Login(id=n, handle="alice", password="wrong password 9",
                                     device="x"))
        assert failed.code == "auth_failed"
    locked = await ask(ws, Login(id=5, handle="alice", password=PASSWORD, device="x"))
    assert (locked.code, locked.re) == ("rate_limited", 5)
    assert 0 < locked.retry_after_ms <= WINDOW_S * 1000
    unknown = await ask(ws, Login(id=6, handle="ALICE", password=PASSWORD, device="x"))
    assert unknown.code == "rate_limited"  # counted case-blind
    clock.advance(locked.retry_after_ms / 1000)
    assert isinstance(await ask(ws, Login(id=7, handle="alice", password=PASSWORD,
                                          device="x")), LoggedIn)


async def test_twenty_failures_from_one_address_lock_every_handle(nursery, server, clock):
    await with_password(server, "alice")
    ws = await raw(nursery, server)
    for n in range(20):
        failed = await ask(ws, Login(id=n, handle=f"guess{n % 4}", password="wrong password 9",
                                     device="x"))
        assert failed.code == "auth_failed", n
    locked = await ask(ws, Login(id=20, handle="alice", password=PASSWORD, device="x"))
    assert locked.code == "rate_limited" and locked.retry_after_ms > 0
    clock.advance(WINDOW_S)
    assert isinstance(await ask(ws, Login(id=21, handle="alice", password=PASSWORD,
                                          device="x")), LoggedIn)


async def test_password_bounds_and_common_passwords_are_bad_requests(nursery, server):
    await server.admin("corp.add", name="acme")
    code = (await server.admin("user.add", handle="alice", corp="acme"))["invite"]
    ws = await raw(nursery, server)
    short = await ask(ws, Login(id=1, handle="alice", password="short", device="x"))
    assert (short.code, short.re) == ("bad_request", 1)
    long = await ask(ws, Login(id=2, handle="alice", password="x" * 257, device="x"))
    assert long.code == "bad_request"
    common = await ask(ws, Redeem(id=3, invite=code, password="password123", device="x"))
    assert common.code == "bad_request" and "password123" not in common.message
    assert isinstance(await ask(ws, Redeem(id=4, invite=code, password=PASSWORD, device="x")),
                      LoggedIn)  # the refusal did not end the invite


async def test_devices_list_and_revoke_from_another_device(nursery, server, clock):
    await with_password(server, "alice")
    laptop, first = await login(nursery, server, "alice", device="laptop")
    clock.advance(60)
    phone, second = await login(nursery, server, "alice", device="phone")
    listed = await ask(laptop, Devices(id=3))
    assert isinstance(listed, DevicesReply) and listed.re == 3
    mine = {d.token_id: d for d in listed.devices}
    assert {first.token_id, second.token_id} <= set(mine)
    assert mine[first.token_id].current and not mine[second.token_id].current
    assert (mine[second.token_id].device, mine[second.token_id].address) == ("phone",
                                                                            "127.0.0.1")
    assert mine[second.token_id].last_seen is not None
    ok = await ask(laptop, DeviceRevoke(id=4, token_id=second.token_id))
    assert isinstance(ok, Ok) and ok.re == 4
    _, code = await phone.closed_code()
    assert code == 4001
    again = await raw(nursery, server)
    await again.request(Hello(id=1, token=second.token))
    _, code = await again.closed_code()
    assert code == 4001
    after = await ask(laptop, Devices(id=5))
    assert second.token_id not in {d.token_id for d in after.devices}


async def test_revoking_another_users_device_is_not_found(nursery, server):
    await with_password(server, "alice")
    await with_password(server, "bob")
    alice, _ = await login(nursery, server, "alice")
    _, bobs = await login(nursery, server, "bob")
    refused = await ask(alice, DeviceRevoke(id=2, token_id=bobs.token_id))
    assert (refused.code, refused.re) == ("not_found", 2)


async def test_revoking_the_own_device_answers_then_closes(nursery, server):
    await with_password(server, "alice")
    ws, mine = await login(nursery, server, "alice")
    await ws.request(DeviceRevoke(id=2, token_id=mine.token_id))
    frames, code = await ws.closed_code()
    assert any(isinstance(f, Ok) and f.re == 2 for f in frames) and code == 4001


async def test_password_change_signs_out_the_other_devices(nursery, server):
    await with_password(server, "alice")
    laptop, _ = await login(nursery, server, "alice", device="laptop")
    phone, _ = await login(nursery, server, "alice", device="phone")
    wrong = await ask(laptop, PasswordChange(id=2, old="not my password", new="seven lazy otters"))
    assert (wrong.code, wrong.re) == ("auth_failed", 2)
    common = await ask(laptop, PasswordChange(id=3, old=PASSWORD, new="1234567890"))
    assert common.code == "bad_request"
    ok = await ask(laptop, PasswordChange(id=4, old=PASSWORD, new="seven lazy otters"))
    assert isinstance(ok, Ok)
    _, code = await phone.closed_code()
    assert code == 4001
    assert isinstance(await ask(laptop, Devices(id=5)), DevicesReply)  # this one stays
    check = await raw(nursery, server)
    old = await ask(check, Login(id=1, handle="alice", password=PASSWORD, device="x"))
    assert old.code == "auth_failed"
    assert isinstance(await ask(check, Login(id=2, handle="alice", password="seven lazy otters",
                                             device="x")), LoggedIn)


async def test_password_change_can_keep_the_other_devices(nursery, server):
    await with_password(server, "alice")
    laptop, _ = await login(nursery, server, "alice", device="laptop")
    phone, _ = await login(nursery, server, "alice", device="phone")
    ok = await ask(laptop, PasswordChange(id=2, old=PASSWORD, new="seven lazy otters",
                                          keep_devices=True))
    assert isinstance(ok, Ok)
    assert isinstance(await ask(phone, Devices(id=3)), DevicesReply)


async def test_a_registered_consumer_sets_a_first_password_and_logs_in(nursery, server_config,
                                                                      clock):
    config = dataclasses.replace(server_config, open_signup=True)
    async with running_server(nursery, config, clock) as server:
        await _register_then_password(nursery, server)


async def _register_then_password(nursery, server) -> None:
    ws = await raw(nursery, server)
    registered = await ask(ws, Register(id=1, handle="zoe"))
    assert isinstance(registered, Registered)
    await ws.hello(registered.token)
    first = await ask(ws, PasswordChange(id=2, new=PASSWORD))
    assert isinstance(first, Ok)
    again = await ask(ws, PasswordChange(id=3, new="seven lazy otters"))
    assert (again.code, again.re) == ("bad_request", 3)  # now `old` is required
    other = await raw(nursery, server)
    assert isinstance(await ask(other, Login(id=1, handle="zoe", password=PASSWORD,
                                             device="x")), LoggedIn)


async def test_sign_in_requests_after_hello_and_before_it(nursery, server):
    await with_password(server, "alice")
    ws, _ = await login(nursery, server, "alice")
    twice = await ask(ws, Login(id=5, handle="alice", password=PASSWORD, device="x"))
    assert (twice.code, twice.re) == ("already_authenticated", 5)
    early = await raw(nursery, server)
    await early.request(Devices(id=1))
    frames, code = await early.closed_code()
    assert frames[0].code == "not_authenticated" and code == 4001


async def test_no_password_or_invite_is_stored_or_answered_in_plaintext(nursery, server,
                                                                        server_config, caplog):
    caplog.set_level(logging.DEBUG)
    await server.admin("corp.add", name="acme")
    added = await server.admin("user.add", handle="alice", corp="acme")
    ws = await raw(nursery, server)
    await ask(ws, Redeem(id=1, invite=added["invite"], password="unique-secret-7781",
                         device="x"))
    await server.admin("user.password", handle="alice", password="other-secret-5512")
    listed = await server.admin("user.list")
    assert "secret" not in repr(listed)
    data = b""
    for name in os.listdir(server_config.data_dir):
        path = os.path.join(server_config.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data += f.read()
    logged = "\n".join(r.getMessage() + repr(getattr(r, "audit", "")) for r in caplog.records)
    assert "user.password" in logged
    for secret in ("unique-secret-7781", "other-secret-5512", added["invite"]):
        assert secret.encode() not in data
        assert secret not in logged


async def test_a_login_rehashes_when_the_parameters_changed(nursery, server_config, clock):
    from functools import partial

    from corpchat.store import credentials

    async with running_server(nursery, server_config, clock) as server:
        await with_password(server, "alice")
    stronger = dataclasses.replace(server_config, password_time_cost=3)
    async with running_server(nursery, stronger, clock) as server:
        uid = server.app.store.user_by_handle("alice").uid
        before = server.app.store.read(partial(credentials.password_of, uid=uid))
        await login(nursery, server, "alice")
        after = server.app.store.read(partial(credentials.password_of, uid=uid))
        assert ",t=2," in before and ",t=3," in after
        await login(nursery, server, "alice")  # the new hash verifies


async def test_the_terminal_client_signs_in_with_a_password(nursery, server):
    from corpchat.server.client_signin import SignInRefused, sign_in

    from .test_client_cli import Running

    await with_password(server, "alice")
    with pytest.raises(SignInRefused, match="auth_failed"):
        await sign_in(server.url, "alice", "not the password", "terminal")
    token = await sign_in(server.url, "alice", PASSWORD, "terminal")
    alice = await Running(nursery, server.url, token).connected()
    await alice.terminal.type("/quit")
    assert await alice.finished() == 0


async def test_user_add_issues_no_token_the_invite_signs_the_person_in(nursery, server):
    """Issue 18: an operator never handles anyone's token. `user add` answers the
    invite and its link only; the person's first token comes from redeeming it."""
    from corpchat.server.client_signin import SignInRefused, redeem, url_of_invite

    from .test_client_cli import Running

    await server.admin("corp.add", name="acme")
    added = await server.admin("user.add", handle="alice", corp="acme")
    assert "token" not in added and "token_id" not in added
    assert await server.admin("token.list", user="alice") == []
    link = added["invite_link"]
    assert url_of_invite(link) == server.url  # `client --invite LINK` needs no --url
    token = await redeem(url_of_invite(link), link, PASSWORD, "terminal")
    alice = await Running(nursery, server.url, token).connected()
    await alice.terminal.type("/quit")
    assert await alice.finished() == 0
    with pytest.raises(SignInRefused, match="auth_failed"):  # an invite ends when redeemed
        await redeem(server.url, added["invite"], PASSWORD, "again")
    (device,) = await server.admin("token.list", user="alice")
    assert device["device"] == "terminal"


async def test_a_provisioning_program_may_ask_for_a_first_token(nursery, server):
    """The load tester creates thousands of users over the socket and connects them
    at once: `token: true` issues a first token in the same commit."""
    await server.admin("corp.add", name="acme")
    added = await server.admin("user.add", handle="bot1", corp="acme", token=True)
    assert added["token"].startswith("cc_") and added["invite_link"]
    ws = await raw(nursery, server)
    await ws.hello(added["token"])


@pytest.mark.slow
async def test_the_client_command_signs_in_with_an_invite_link(nursery, server):
    import sys

    import trio

    from corpchat.protocol import Msg

    from ..client import TestClient

    bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
    link = (await server.admin("user.add", handle="alice", corp="acme"))["invite_link"]
    argv = [sys.executable, "-m", "corpchat.server.cli", "client", "--invite", link]
    with trio.fail_after(20):
        done = await trio.run_process(argv, stdin=f"{PASSWORD}\n/to bob\nvia an invite\n"
                                      .encode(), capture_stdout=True, capture_stderr=True)
    assert done.returncode == 0, done.stderr.decode()
    assert "-- connected as alice" in done.stdout.decode()
    assert (await bob.expect(Msg)).text == "via an invite"
    argv = [sys.executable, "-m", "corpchat.server.cli", "client", "--url", server.url,
            "--login", "alice"]
    with trio.fail_after(20):
        done = await trio.run_process(argv, stdin=f"{PASSWORD}\n".encode(),
                                      capture_stdout=True, capture_stderr=True)
    assert done.returncode == 0, done.stderr.decode()  # signed in, then end of input
    assert len(await server.admin("token.list", user="alice")) == 2  # a device each
