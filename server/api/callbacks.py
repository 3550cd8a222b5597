"""The outbox's sender: app callbacks, after the commit, at least once, in order per app.

Events are written by the changes' own transactions (store/outbox.py). This task
sends each app's events in order, a batch per request, one request at a time per
app (that is what keeps the order) and at most `callback_max_concurrent` requests
in flight over all apps. A batch is acknowledged by a 2xx answer; only then does
the app's cursor move (a crash before that sends the batch again: the same event
ids). A failure retries with exponential backoff and jitter on the injected clock;
after `callback_retry_s` of failures the app is marked failing and waits for
`admin app replay`.

Each request is signed: `X-Corpchat-Timestamp` (Unix seconds) and
`X-Corpchat-Signature`, the hex HMAC-SHA256 of the timestamp's digits followed by
the body, keyed with the SHA-256 of the app secret (docs/api.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import trio

from corpchat.protocol.clock import Clock
from corpchat.store import Store, outbox
from corpchat.store import apps as tables

from .settings import PlatformCaps
from .urls import callback_url_problem

log = logging.getLogger("corpchat.api")
Write = Callable[[Any], Awaitable[object]]
MAX_REDIRECTS = 3
POLL_S = 1.0  # a look at the outbox at least this often (a missed wake-up costs no more)


def sign(secret_digest: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret_digest, timestamp.encode() + body, hashlib.sha256).hexdigest()


class CallbackSender:
    def __init__(self, store: Store, write: Write, clock: Clock, caps: PlatformCaps) -> None:
        self.store, self.write, self.clock, self.caps = store, write, clock, caps
        self._wake = trio.Event()
        self._active: set[int] = set()
        self._slots = trio.Semaphore(caps.callback_max_concurrent)
        self._random = random.Random()
        self.sent = self.failed = 0  # requests, for stats
        clock.subscribe(self.poke)

    def poke(self) -> None:
        """Something committed (or the clock moved): look at the outbox again."""
        self._wake.set()

    async def run(self) -> None:
        """Never returns; cancel-safe (a batch cancelled mid-request is sent again)."""
        timeout = httpx.Timeout(self.caps.callback_timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http, \
                trio.open_nursery() as nursery:
            while True:
                soonest = self._start_due(http, nursery)
                delay = POLL_S if soonest is None else \
                    min(POLL_S, max(0.0, (soonest - self.clock.now_ms()) / 1000))
                with trio.move_on_after(delay):
                    await self._wake.wait()
                self._wake = trio.Event()

    def _start_due(self, http: httpx.AsyncClient, nursery: trio.Nursery) -> int | None:
        """Start a drain for each app with events due; the next retry time otherwise."""
        now, soonest = self.clock.now_ms(), None
        for app in self.store.read(tables.all_apps):
            if not app.callback_url or app.app_id in self._active:
                continue
            state = self.store.read(outbox.cursor, app.app_id)
            if state.failing or state.delivered >= state.last:
                continue
            if state.next_attempt_ms > now:
                soonest = min(soonest or state.next_attempt_ms, state.next_attempt_ms)
                continue
            self._active.add(app.app_id)
            nursery.start_soon(self._drain, http, app.app_id)
        return soonest

    async def _drain(self, http: httpx.AsyncClient, app_id: int) -> None:
        try:
            while await self._send_next(http, app_id):
                pass
        except Exception:
            log.exception("callbacks of app %d failed", app_id)
        finally:
            self._active.discard(app_id)
            self.poke()

    async def _send_next(self, http: httpx.AsyncClient, app_id: int) -> bool:
        """Send the next batch; True if it was acknowledged and more may follow."""
        app = self.store.read(tables.get_app, app_id)
        state = self.store.read(outbox.cursor, app_id)
        if app is None or not app.callback_url or state.failing \
                or state.delivered >= state.last or state.next_attempt_ms > self.clock.now_ms():
            return False
        events = self.store.read(outbox.pending, app_id, state.delivered,
                                 self.caps.callback_batch_max)
        if not events:
            return False
        body = json.dumps({"app_id": app_id, "events": [e.wire() for e in events]},
                          ensure_ascii=False).encode()
        async with self._slots:
            error = await self._post(http, app, body)
        upto = events[-1].seq
        if error is None:
            self.sent += 1
            await self.write(lambda w: self._acknowledged(w, app_id, upto))
            return True
        self.failed += 1
        log.info("callback to app %d failed: %s", app_id, error)
        await self.write(lambda w: self._failed(w, app_id, error))
        return False

    async def _post(self, http: httpx.AsyncClient, app: tables.AppRecord,
                    body: bytes) -> str | None:
        """None on a 2xx answer, else what went wrong (kept as the app's last error)."""
        url = app.callback_url
        for _ in range(MAX_REDIRECTS + 1):
            problem = callback_url_problem(url, self.caps.callback_hosts)
            if problem:
                return problem
            timestamp = str(self.clock.now_ms() // 1000)
            headers = {"content-type": "application/json",
                       "x-corpchat-timestamp": timestamp,
                       "x-corpchat-signature": sign(app.secret_digest, timestamp, body)}
            try:
                answer = await http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__}: {exc}"[:300]
            if 200 <= answer.status_code < 300:
                return None
            if answer.is_redirect and "location" in answer.headers:
                target = urljoin(url, answer.headers["location"])
                if _origin(target) != _origin(url):
                    return f"HTTP {answer.status_code}: a redirect to another host is not followed"
                url = target
                continue
            return f"HTTP {answer.status_code}"
        return "too many redirects"

    def _acknowledged(self, w: Any, app_id: int, upto: int) -> None:
        state = w.do(outbox.cursor, app_id)
        if upto <= state.delivered:  # a replay moved the cursor meanwhile
            return
        w.do(outbox.put_cursor, app_id, replace(state, delivered=upto, attempts=0,
                                                next_attempt_ms=0, failing_since_ms=0))
        before = self.clock.now_ms() - self.caps.callback_retention_s * 1000
        w.do(outbox.sweep, app_id, upto, before)

    def _failed(self, w: Any, app_id: int, error: str) -> None:
        state = w.do(outbox.cursor, app_id)
        now, attempts = self.clock.now_ms(), state.attempts + 1
        since = state.failing_since_ms or now
        delay = min(self.caps.callback_backoff_max_s,
                    self.caps.callback_backoff_initial_s * 2 ** min(attempts - 1, 30))
        delay *= self._random.uniform(0.5, 1.0)  # jitter: apps that failed together spread
        failing = now - since >= self.caps.callback_retry_s * 1000
        w.do(outbox.put_cursor, app_id, replace(
            state, attempts=attempts, next_attempt_ms=now + int(delay * 1000),
            failing_since_ms=since, last_error=error, failing=failing))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port
