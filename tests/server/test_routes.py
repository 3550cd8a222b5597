"""The handler registry (server/routes.py, server/features/): every client frame has
exactly one handler, and only `hello`, `register` and (1.3) `login` and `redeem` are
served before signing in."""

from __future__ import annotations

import pytest

from corpchat.protocol import CLIENT_FRAMES, Hello, Login, Ping, Redeem, Register
from corpchat.server import features
from corpchat.server.handlers import bind_all
from corpchat.server.routes import Routes


def served() -> dict[type, list[str]]:
    found: dict[type, list[str]] = {}
    for module in features.MODULES:
        for kind in module.routes.table:
            found.setdefault(kind, []).append(module.__name__)
    return found


def test_every_client_frame_has_one_handler() -> None:
    found = served()
    assert set(found) == set(CLIENT_FRAMES.values())
    assert {kind.__name__: where for kind, where in found.items() if len(where) > 1} == {}


def test_only_hello_register_login_and_redeem_come_before_signing_in() -> None:
    before = {kind for module in features.MODULES
              for kind, (_, before_login) in module.routes.table.items() if before_login}
    assert before == {Hello, Register, Login, Redeem}


def test_a_frame_type_is_registered_once() -> None:
    routes = Routes()
    routes.handles(Ping)(lambda services, session, frame: None)
    with pytest.raises(AssertionError, match="Ping is served twice"):
        routes.handles(Ping)(lambda services, session, frame: None)


def test_two_modules_serving_one_frame_type_do_not_bind() -> None:
    one, two = Routes(), Routes()
    one.handles(Ping)(lambda services, session, frame: None)
    two.handles(Ping)(lambda services, session, frame: None)
    with pytest.raises(AssertionError, match="served twice"):
        bind_all(one.bind(None), two.bind(None))
