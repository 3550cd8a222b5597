"""The push gateway: offline notifications POSTed as JSON, never in the way.

Fan-out calls `offline()` synchronously; notifications wait in a bounded
queue (past the bound they are dropped and counted) and a few sender tasks
POST them to the configured URL with httpx, retrying with exponential
back-off. Failures are counted in stats; message flow never waits on them.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from corpchat.protocol import Digest
from corpchat.store import Store, settings

from .config import ServerConfig
from .online import Online
from .ops import Write
from .ops import settings as settings_ops

log = logging.getLogger("corpchat.push")
SENDERS = 4
ATTEMPTS = 4
FIRST_BACKOFF_S = 0.2
GONE = frozenset({404, 410})  # the gateway says the device token is dead for good


@dataclass(slots=True)
class PushStats:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    dropped_devices: int = 0  # tokens forgotten after a 404 or 410


class PushGateway:
    def __init__(self, store: Store, config: ServerConfig, online: Online, write: Write) -> None:
        self.store, self.connected, self.write = store, online, write
        self.url = config.push_url
        self.queue_max = config.push_queue_max
        self.stats = PushStats()
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = trio.Event()
        self._unread: dict[int, int] = {}  # messages since the user was last online
        self.with_devices: set[int] = set()

    def load(self) -> None:
        if self.url:
            # in place: writer operations hold this set to update after their commit
            self.with_devices |= self.store.read(settings.users_with_devices)

    def wanted(self, uid: int) -> bool:
        return bool(self.url) and uid in self.with_devices

    def online(self, uid: int) -> None:
        self._unread.pop(uid, None)

    def offline(self, uid: int, conv: int, sender: str, preview: str) -> None:
        """A message for a user with no live session (and not resting)."""
        unread = self._unread[uid] = self._unread.get(uid, 0) + 1
        self._enqueue({"kind": "message", "user_id": uid, "conversation": conv,
                       "sender": sender, "preview": preview[:100], "unread": unread})

    def reminder(self, uid: int, conv: int, sender: str) -> None:
        self._enqueue({"kind": "reminder", "user_id": uid, "conversation": conv,
                       "sender": sender, "preview": "", "unread": self._unread.get(uid, 0)})

    def digest(self, uid: int, digest: Digest) -> None:
        if not self.wanted(uid) or self.connected.sessions_of(uid):
            return
        self._enqueue({"kind": "digest", "user_id": uid, "conversation": None, "sender": None,
                       "preview": f"{digest.messages} new messages in "
                                  f"{digest.conversations} conversations",
                       "unread": self._unread.get(uid, 0)})

    def _enqueue(self, item: dict[str, Any]) -> None:
        if len(self._queue) >= self.queue_max:
            self.stats.dropped += 1
            return
        self._queue.append(item)
        self.stats.queued += 1
        self._ready.set()

    async def run(self) -> None:
        if not self.url:
            return
        import httpx

        async with httpx.AsyncClient(timeout=5.0) as client, trio.open_nursery() as nursery:
            for _ in range(SENDERS):
                nursery.start_soon(self._sender, client)

    async def _sender(self, client: Any) -> None:
        while True:
            while not self._queue:
                self._ready = trio.Event()
                await self._ready.wait()
            item = self._queue.popleft()
            user = self.store.user(item.pop("user_id"))
            if user is None:
                continue
            for platform, token in self.store.read(settings.devices, user.uid):
                body = {**item, "user": user.handle, "platform": platform, "device_token": token}
                if await self._post(client, body) in GONE:
                    # the push service will never take this token again: forget the device
                    await self.write(partial(settings_ops.drop_device, uid=user.uid,
                                                 token=token, with_devices=self.with_devices))

    async def _post(self, client: Any, body: dict[str, Any]) -> int | None:
        """POST one notification; the final HTTP status, or None if it never got one."""
        backoff = FIRST_BACKOFF_S
        for attempt in range(ATTEMPTS):
            try:
                response = await client.post(self.url, json=body)
                if response.status_code < 500:
                    self.stats.sent += response.status_code < 300
                    self.stats.failed += response.status_code >= 300
                    self.stats.dropped_devices += response.status_code in GONE
                    return response.status_code
            except Exception as exc:  # httpx raises many kinds; all mean "try again"
                log.debug("push attempt %d failed: %s", attempt + 1, exc)
            await trio.sleep(backoff)
            backoff *= 2
        self.stats.failed += 1
        log.warning("push to %s failed after %d attempts", body.get("user"), ATTEMPTS)
        return None
