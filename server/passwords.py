"""Password hashing with argon2id, off the event loop, a bounded number at once.

argon2id is memory-hard by design: one hash or verification at our default
parameters costs ~50 ms of one core and 19 MiB. So it never runs on the event
loop (`trio.to_thread.run_sync`), and a `CapacityLimiter` bounds how many run
at once, so a login flood takes at most `workers` threads of CPU and memory
while messaging keeps the rest; past `max_waiting` queued requests the server
answers "busy" at once instead of queueing without bound.

The argon2 work itself runs in a small pool of threads at nice 19 (each trio
worker thread waits for one): the event loop keeps its core under a flood.

The parameters are checked at start against the OWASP Password Storage Cheat
Sheet's minimum for argon2id (any one of its equivalent (memory, iterations)
pairs, parallelism 1 or more): a server configured weaker refuses to start.
Each stored hash carries its own parameters (PHC string format), so raising
them later re-hashes every password on its owner's next successful login.

Unknown handles are verified against a dummy hash of the same parameters, so
a wrong password, an unknown handle and a disabled user take the same time.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import trio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")

MIN_CHARS = 10
MAX_CHARS = 256

# OWASP Password Storage Cheat Sheet (argon2id), equivalent minimum settings:
# (memory in KiB, iterations), each with a degree of parallelism of 1.
OWASP_MINIMUM = ((47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5))

# The most common passwords of 10 characters or more (breach-corpus top lists:
# SecLists' 10k-most-common, NCSC's 100k), and the shapes that top every list.
COMMON = frozenset("""
1234567890 0987654321 1234567891 1234512345 1111111111 0000000000 1231231234
1q2w3e4r5t 1qaz2wsx3edc qwertyuiop qwerty1234 qwerty12345 asdfghjkl1 zxcvbnm123
password12 password123 password1234 passw0rd12 p@ssw0rd12 p@ssword123 password!1
iloveyou12 iloveyou123 princess12 sunshine12 football12 baseball12 welcome123
abc1234567 abcd123456 abcdefghij a123456789 123456789a 123456789q q123456789
123qweasdzxc 1qazxsw23edc qazwsxedc1 qazwsxedcrfv 1q2w3e4r5t6y zaq12wsxcde3
letmein123 monkey1234 dragon1234 master1234 trustno1234 superman12 starwars12
administrator admin12345 admin123456 changeme123 welcome1234 computer12 internet12
michael123 jennifer12 jordan2323 1234qwerasdf qwertyuiop123 123456789012
""".split())


@dataclass(frozen=True, slots=True)
class PasswordParams:
    """argon2id cost settings: the TOML keys password_* (docs/operations.md)."""

    time_cost: int = 2  # iterations
    memory_kib: int = 19_456  # 19 MiB
    parallelism: int = 1
    workers: int = 2  # hashes and verifications running at once
    max_waiting: int = 64  # queued behind them before "busy"

    def problem(self) -> str | None:
        """Why these settings are refused, or None."""
        if self.parallelism < 1 or self.workers < 1 or self.max_waiting < 0:
            return "password_parallelism and password_workers must be at least 1"
        if not any(self.memory_kib >= m and self.time_cost >= t for m, t in OWASP_MINIMUM):
            pairs = ", ".join(f"m={m} KiB t={t}" for m, t in OWASP_MINIMUM)
            return (f"argon2id m={self.memory_kib} KiB t={self.time_cost} is weaker than "
                    f"the OWASP minimum (one of: {pairs})")
        return None


class Busy(Exception):
    """Too many password checks are waiting: try again shortly."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A verification: whether it matched, and a new hash when the stored one's
    parameters differ from the configured ones (store it)."""

    ok: bool
    rehashed: str | None = None


class Passwords:
    """Hash and verify off the event loop, at most `params.workers` at once."""

    def __init__(self, params: PasswordParams) -> None:
        problem = params.problem()
        if problem is not None:
            raise ValueError(problem)
        self.params = params
        self._hasher = PasswordHasher(time_cost=params.time_cost,
                                      memory_cost=params.memory_kib,
                                      parallelism=params.parallelism, type=Type.ID)
        self._limiter = trio.CapacityLimiter(params.workers)
        # The hashing itself runs in threads of its own at the lowest CPU priority: on a
        # busy core the event loop always goes first, idle cores hash at full speed.
        self._pool = ThreadPoolExecutor(params.workers, thread_name_prefix="argon2",
                                        initializer=_lowest_priority)
        self._dummy: str | None = None  # made on first use (it costs one hash)
        self.waiting = 0

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> Checked:
        """Check `password` against `stored`; None (no such user, or no password
        set) is checked against the dummy hash and never matches."""
        return await self._run(self._verify, stored, password)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.waiting >= self.params.max_waiting + self.params.workers:
            raise Busy("too many sign-ins at once; try again shortly")
        self.waiting += 1
        try:
            return await trio.to_thread.run_sync(self._in_pool, fn, *args, limiter=self._limiter)
        finally:
            self.waiting -= 1

    def _in_pool(self, fn: Callable[..., T], *args: Any) -> T:  # a trio worker thread
        return self._pool.submit(fn, *args).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _verify(self, stored: str | None, password: str) -> Checked:  # worker thread
        if stored is None:
            if self._dummy is None:  # a race makes two: harmless
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            _matches(self._hasher, self._dummy, password)
            return Checked(False)
        if not _matches(self._hasher, stored, password):
            return Checked(False)
        if self._hasher.check_needs_rehash(stored):
            return Checked(True, self._hasher.hash(password))
        return Checked(True)

    def warm(self) -> None:
        """Make the dummy hash now (at start, before any login can be timed)."""
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))


def _lowest_priority() -> None:
    """Nice 19 for this thread only (Linux: a thread's id is a process id for
    setpriority); where that is not possible the thread keeps its priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _matches(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):  # a damaged record never matches
        return False


def password_problem(password: str, handle: str = "") -> str | None:
    """Why a new password is refused (never quoting it), or None."""
    if len(password) < MIN_CHARS:
        return f"a password has at least {MIN_CHARS} characters"
    if len(password) > MAX_CHARS:
        return f"a password has at most {MAX_CHARS} characters"
    folded = password.casefold()
    if folded in COMMON or len(set(folded)) < 3:
        return "this password is one of the most common ones; choose another"
    if handle and handle.casefold() in folded:
        return "a password may not contain the handle"
    return None
