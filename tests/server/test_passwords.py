"""The password module: policy, parameters, argon2id off the loop, and the failure windows."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from corpchat.protocol.clock import ManualClock
from corpchat.server.lockout import FailureWindow, SignInLimits
from corpchat.server.passwords import (
    COMMON,
    MAX_CHARS,
    MIN_CHARS,
    Busy,
    PasswordParams,
    Passwords,
    password_problem,
)


def test_default_parameters_meet_the_owasp_minimum():
    assert PasswordParams().problem() is None
    assert PasswordParams(time_cost=1, memory_kib=47_104).problem() is None


@pytest.mark.parametrize("params", [
    PasswordParams(time_cost=1),  # 19 MiB needs two iterations
    PasswordParams(memory_kib=8_192, time_cost=4),  # 9 MiB needs four... 8 MiB five
    PasswordParams(parallelism=0),
    PasswordParams(workers=0),
])
def test_weaker_parameters_are_refused(params):
    assert params.problem() is not None
    with pytest.raises(ValueError):
        Passwords(params)


def test_length_bounds_and_the_common_list():
    assert password_problem("a" * (MIN_CHARS - 1)) is not None
    assert password_problem("correct horse"[:MIN_CHARS]) is None
    assert password_problem("x7!" * 100) is not None  # over MAX_CHARS
    assert password_problem(("xy7" * 100)[:MAX_CHARS]) is None
    for common in sorted(COMMON)[:10]:
        assert password_problem(common) is not None
        assert password_problem(common.upper()) is not None
    assert password_problem("aaaaaaaaaaaa") is not None
    assert password_problem("alice-the-great", handle="alice") is not None


@given(st.text(min_size=0, max_size=300))
def test_a_refusal_never_quotes_the_password(password):
    problem = password_problem(password)
    if problem is not None and len(password) >= 4:
        assert password not in problem


async def test_hash_verify_and_rehash_when_parameters_change():
    old = Passwords(PasswordParams())
    stored = await old.hash("tulip-bicycle-42")
    assert stored.startswith("$argon2id$") and "tulip" not in stored
    assert (await old.verify(stored, "tulip-bicycle-42")).ok
    assert not (await old.verify(stored, "tulip-bicycle-43")).ok
    assert (await old.verify(stored, "tulip-bicycle-42")).rehashed is None
    stronger = Passwords(PasswordParams(time_cost=3))
    checked = await stronger.verify(stored, "tulip-bicycle-42")
    assert checked.ok and checked.rehashed is not None and "t=3" in checked.rehashed
    assert not (await stronger.verify(stored, "wrong-password")).rehashed


async def test_unknown_user_and_damaged_hash_never_match():
    passwords = Passwords(PasswordParams())
    assert not (await passwords.verify(None, "anything-at-all")).ok
    assert not (await passwords.verify("$argon2id$garbage", "anything-at-all")).ok


async def test_at_most_workers_run_at_once_and_the_queue_is_bounded():
    passwords = Passwords(PasswordParams(workers=1, max_waiting=2))
    results: list[object] = []

    async def check() -> None:
        try:
            results.append((await passwords.verify(None, "x" * 12)).ok)
        except Busy:
            results.append("busy")

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(check)
    assert results.count("busy") == 2 and results.count(False) == 3


def test_failure_window_locks_after_the_limit_and_opens_after_the_window():
    clock = ManualClock()
    window = FailureWindow(clock, limit=5, window_ms=900_000)
    for _ in range(4):
        window.fail("alice")
        clock.advance(1)
    assert window.retry_after_ms("alice") == 0
    window.fail("alice")
    assert window.retry_after_ms("alice") == 900_000 - 4000
    clock.advance((900_000 - 4000 - 1) / 1000)
    assert window.retry_after_ms("alice") == 1
    clock.advance(0.001)
    assert window.retry_after_ms("alice") == 0  # the oldest failure left the window


def test_failure_window_memory_is_bounded():
    clock = ManualClock()
    window = FailureWindow(clock, limit=5, window_ms=1000, max_keys=100)
    for n in range(1000):
        window.fail(f"h{n}")
        window.fail(f"h{n}")
    assert len(window) == 100
    for _ in range(50):
        window.fail("one")
    assert len(window._failures["one"]) == 5


def test_limits_count_handles_case_blind_and_success_clears_the_handle_only():
    clock = ManualClock()
    limits = SignInLimits(FailureWindow(clock, 2, 1000), FailureWindow(clock, 3, 1000))
    limits.fail("Alice", "10.0.0.1")
    limits.fail("alice", "10.0.0.1")
    assert limits.retry_after_ms("ALICE", "10.0.0.2") == 1000
    limits.succeed("alice")
    assert limits.retry_after_ms("alice", "10.0.0.2") == 0
    limits.fail(None, "10.0.0.1")
    assert limits.retry_after_ms("bob", "10.0.0.1") == 1000


def test_a_window_of_limit_zero_is_off():
    window = FailureWindow(ManualClock(), limit=0, window_ms=1000)
    for _ in range(100):
        window.fail("10.0.0.1")
    assert window.retry_after_ms("10.0.0.1") == 0 and len(window) == 0


async def test_the_hashing_threads_run_at_the_lowest_priority():
    import os
    import threading

    passwords = Passwords(PasswordParams())
    seen = passwords._pool.submit(
        lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    passwords.close()
    assert seen == 19 and mine < 19  # the hashing thread only, not the event loop's


def test_fail_says_when_it_locks():
    clock = ManualClock()
    limits = SignInLimits(FailureWindow(clock, 2, 1000), FailureWindow(clock, 5, 1000))
    assert [limits.fail("alice", "10.0.0.1") for _ in range(3)] == [False, True, False]
