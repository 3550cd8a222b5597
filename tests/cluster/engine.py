"""A NATS connection on its own asyncio thread, as a node has, for tests that
read or write the log directly (cluster/log.py)."""

from __future__ import annotations

import asyncio

import nats
from nats.js.errors import BadRequestError, NotFoundError

from corpchat.cluster import ClusterSettings
from corpchat.cluster.batches import read_batch
from corpchat.cluster.leases import LEASES_BUCKET, NODES_BUCKET
from corpchat.cluster.log import LOG_STREAM, ConversationLog, stream_config
from corpchat.cluster.loop import AsyncioThread
from corpchat.store import Message


def reset_cluster(urls: list[str]) -> None:
    """Engine.reset from synchronous code (the fixtures of process tests)."""
    import trio

    async def reset() -> None:
        async with Engine(urls) as engine:
            await engine.reset()

    trio.run(reset)


async def trio_free_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class Engine:
    """A NATS connection on its own asyncio thread, as a node has (loop.py)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.thread = AsyncioThread("test-nats")
        self.settings = ClusterSettings(urls=tuple(urls), node="t", log_max_bytes=64 * 1024 * 1024)

    async def __aenter__(self) -> Engine:
        self.thread.start()
        self.nc = await self.thread.call(nats.connect(servers=self.urls))
        self.js = self.nc.jetstream(timeout=10)
        await self.thread.call(self._stream())
        return self

    async def _stream(self) -> None:
        problem: Exception | None = None
        for _ in range(60):  # a fresh cluster elects its meta leader first
            try:
                await self.js.add_stream(stream_config(self.settings, 3))
                return
            except BadRequestError as exc:
                if "already in use" in (exc.description or ""):
                    return  # a node made it with its own limits: as good for reading
                problem = exc
                await trio_free_sleep(0.5)
            except Exception as exc:
                problem = exc
                await trio_free_sleep(0.5)
        raise RuntimeError(f"JetStream never answered: {problem!r}")

    async def reset(self) -> None:
        """Forget every earlier test's cluster: the log and the buckets go."""
        for name in (LOG_STREAM, f"KV_{NODES_BUCKET}", f"KV_{LEASES_BUCKET}"):
            try:
                await self.thread.call(self.js.delete_stream(name))
            except NotFoundError:
                pass

    def log(self) -> ConversationLog:
        return ConversationLog(self.js, self.settings)

    async def messages(self, conv: int) -> list[Message]:
        """Every message the log holds for `conv`, in log order."""
        entries = await self.thread.call(self.log().read(conv, limit=100_000))
        return [m for e in entries for m in read_batch(conv, e.payload)]

    async def __aexit__(self, *exc) -> None:
        await self.thread.call(self.nc.close())
        self.thread.stop()


