"""A user's settings: quiet-hours schedules, breaks and push devices.

Each write is followed, on the event loop after the commit, by the change
to the in-memory state that mirrors it (`then`), so what the fan-out reads
never runs ahead of what is stored.
"""

from __future__ import annotations

from collections.abc import Callable

from corpchat.store import WriteTxn, settings

from .results import Notices


def set_schedule(w: WriteTxn, uid: int, wire: dict | None,
                 then: Callable[[], None]) -> Notices:
    w.do(settings.set_schedule, uid, wire)
    return Notices(then=then)


def set_break(w: WriteTxn, uid: int, until: int | None, then: Callable[[], None]) -> Notices:
    w.do(settings.set_break, uid, until)
    return Notices(then=then)


def register_device(w: WriteTxn, uid: int, platform: str, token: str, now_ms: int,
                    with_devices: set[int]) -> Notices:
    """A token names one device: registered by another user, it moves to this one.

    `with_devices` is the push gateway's set of users who have a device."""
    moved_from = w.do(settings.add_device, uid, platform, token, now_ms)
    still = moved_from is not None and w.do(settings.has_devices, moved_from)

    def after() -> None:
        with_devices.add(uid)
        if moved_from is not None and not still:
            with_devices.discard(moved_from)

    return Notices(then=after)


def drop_device(w: WriteTxn, uid: int, token: str, with_devices: set[int]) -> Notices:
    """Forget one device of a user (`device.unregister`, or a token the gateway refused)."""
    w.do(settings.remove_device, uid, token)
    still = w.do(settings.has_devices, uid)

    def after() -> None:
        if not still:
            with_devices.discard(uid)

    return Notices(then=after)
