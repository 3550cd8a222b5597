"""Browser tests: Debian's chromium driven by Playwright against a real server.

One browser for the whole session; one server per module, in a thread of its
own (Playwright's sync API blocks the calling thread, so the server cannot
share the test's event loop). People are made with the admin socket, as an
operator would. If chromium cannot start these tests fail: they never skip.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from playwright.sync_api import expect

from corpchat.adminclient import call, socket_path
from corpchat.server import App, ServerConfig

CHROMIUM = os.environ.get("CORPCHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# An upper bound, not a speed check: a passing test never waits for it. 10 s was too
# little on a 2-core machine whose disk other work kept busy (fsync of a contact
# request's commit behind other processes' writes): a click waited 10 s for a button.
TIMEOUT_MS = 30_000
# Playwright's `expect` waits 5 s by default, less than an action's TIMEOUT_MS: on a
# busy 2-core machine (a second suite beside this one) a mass message's result took
# longer. These tests check what a person sees, not how fast: give both the same bound.
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class WebServer:
    """A server running in a thread, with the admin socket to make people."""

    data_dir: str
    port: int = 0
    app: Any = None
    token: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    corps: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def admin(self, cmd: str, **args: Any) -> Any:
        return call(socket_path(self.data_dir), cmd, args)

    def employee(self, handle: str, corp: str = "acme", **profile: Any) -> str:
        if corp not in self.corps:
            self.admin("corp.add", name=corp, full_name=profile.pop("corp_full_name", corp.title()))
            self.corps.add(corp)
        token = self.admin("user.add", handle=handle, corp=corp, token=True)["token"]
        if profile:
            self.admin("user.set", handle=handle, **profile)
        return token

    def consumer(self, handle: str, **profile: Any) -> str:
        token = self.admin("user.add", handle=handle, consumer=True, token=True)["token"]
        if profile:
            self.admin("user.set", handle=handle, **profile)
        return token


def _serve(server: WebServer, started: queue.Queue) -> None:
    config = ServerConfig(data_dir=server.data_dir, port=0, map_initial_bytes=16 * 1024 * 1024)

    async def main() -> None:
        server.app = App(config)
        server.token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            server.port = await nursery.start(server.app.serve)
            started.put(None)

    try:
        trio.run(main)
    except BaseException as exc:  # reported to the fixture, which fails the tests
        started.put(exc)
    finally:
        server.done.set()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory) -> Iterator[WebServer]:
    server = WebServer(os.fspath(tmp_path_factory.mktemp("web") / "data"))
    started: queue.Queue = queue.Queue()
    thread = threading.Thread(target=_serve, args=(server, started), daemon=True)
    thread.start()
    failure = started.get(timeout=30)
    if failure is not None:
        raise failure
    yield server
    trio.from_thread.run_sync(server.app.request_shutdown, trio_token=server.token)
    assert server.done.wait(20), "the server did not stop"
    thread.join(5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def person(browser, web_server):
    """person(token) → a page of a fresh browser context, signed in with the token."""
    contexts = []

    def open_page(token: str, *, width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # uncaught exceptions of the page: a test fails on any
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(f"{web_server.url}#token={token}")
        # (not wait_for_function: its polling evaluates strings, which the page's CSP forbids)
        page.locator("body[data-state=online]").wait_for(state="attached")
        return page

    yield open_page
    for context in contexts:
        for page in context.pages:
            assert not getattr(page, "errors", []), page.errors
        context.close()
