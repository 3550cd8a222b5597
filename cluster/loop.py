"""nats-py's asyncio event loop in a thread of its own, bridged to trio.

nats-py is asyncio only. Its loop runs here, on its own thread (as LMDB's
writer has its own), so that NATS's parsing and PubAcks take the other core
rather than the one that fans out. trio awaits a coroutine run there through
the trio token: the answer comes back with one `run_sync_soon`, without a
worker thread per call. Any thread (the writer's) may `submit` a coroutine
and attach a callback to its future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class AsyncioThread:
    """An asyncio loop on a daemon thread; start() before use, stop() at the end."""

    def __init__(self, name: str = "corpchat-nats") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Whatever still runs (nats-py's reconnect attempts after a stop that timed
        # out) is cancelled, so nothing outlives the thread.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the loop (from any thread); its future answers."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro`, run on the asyncio loop, from trio. Cancelling the trio task
        cancels the coroutine."""
        return await wait(self.submit(coro))

    def stop(self) -> None:
        """End the loop and its thread (after the caller closed what runs on it)."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


async def wait(future: concurrent.futures.Future[T]) -> T:
    """Await, from trio, a future the asyncio loop answers (AsyncioThread.submit's):
    one `run_sync_soon` wakes the task. Cancelling the trio task cancels the future."""
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: object) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:  # the trio side is gone: nobody waits
            pass

    future.add_done_callback(wake)
    try:
        await done.wait()
    except BaseException:
        future.cancel()
        raise
    return future.result()
