"""The worker threads of media I/O: few, and at a lower CPU priority.

Hashing and writing an upload, Pillow's decoding and a download's sendfile
calls all run off the event loop — but on a server pinned to one core, forty
worker threads hashing at once (trio.to_thread's default) would leave the
event loop a fortieth of the core, and every chat message would wait behind
the uploads (measured: group e2e p99 from 12-35 ms to 600-800 ms with 100
uploads at once). So media work goes to MEDIA_THREADS threads of its own,
each at nice +NICE (Linux: per thread), and the event loop keeps its CPU.

A job's wait is shielded from cancellation: a job is short (one chunk, one
image), and a cancelled caller must not close a file a thread is still
writing to.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import trio

T = TypeVar("T")
MEDIA_THREADS = 2
NICE = 10


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (OSError, AttributeError):  # not Linux, or not allowed: the same priority
        pass


class MediaThreads:
    def __init__(self, threads: int = MEDIA_THREADS) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="corpchat-media",
                                        initializer=_lower_priority)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` in a media thread and wait for it (not cancellable)."""
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        future = self._pool.submit(fn, *args)
        future.add_done_callback(lambda _: token.run_sync_soon(done.set))
        with trio.CancelScope(shield=True):
            await done.wait()
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


THREADS = MediaThreads()  # one pool per process: the priority is the point
