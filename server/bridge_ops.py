"""Contact and friend operations: they run on the writer thread, inside the
batch's transaction, check the bridge's rules against the state there, and
return the events to send — (uid, frame) pairs — once committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from corpchat.bridge import (
    BridgeCaps,
    day_number,
    may_accept_contact,
    may_befriend,
    may_request_contact,
    until_next_day_ms,
)
from corpchat.protocol import ContactEvent, Frame, Profile
from corpchat.store import Contact, Message, Refused, User, WriteTxn
from corpchat.store import contacts as tables


@dataclass(frozen=True, slots=True)
class Notices:
    """A committed change: frames for users' sessions, and an optional reply."""

    events: tuple[tuple[int, Frame], ...] = ()
    reply: Frame | None = None
    then: Callable[[], None] | None = None  # runs on the event loop after the commit
    messages: tuple[Message, ...] = ()  # stored messages to fan out, in commit order
    forget: tuple[int, ...] = ()  # conversations whose membership changed
    sent: int = 0  # counts, for mass messages and transfers
    skipped: int = 0
    # The hub keeps the messages' conversations for fan-out. A mass message reaches
    # thousands of direct conversations once: keeping them all grew the heap that
    # every full garbage collection walks.
    keep_convs: bool = True


def _event(uid: int, kind: str, profile: Profile) -> tuple[int, Frame]:
    return uid, ContactEvent(event=kind, profile=profile)


def _refused(verdict) -> Refused:  # noqa: ANN001
    return verdict.refusal


def request_contact(w: WriteTxn, employee: User, consumer: User, note: str,
                    employee_seen_by_consumer: Profile, now_ms: int,
                    caps: BridgeCaps) -> Notices | Refused:
    day = day_number(now_ms)
    verdict = may_request_contact(
        employee, consumer,
        already=w.do(tables.contact, employee.uid, consumer.uid) is not None,
        employee_contacts=w.do(tables.count, "contacts.employee", employee.uid),
        requests_today=w.do(tables.quota_used, "contact_requests", employee.uid, day),
        caps=caps)
    if not verdict.allowed:
        retry = until_next_day_ms(now_ms) if verdict.code == "quota_exceeded" else None
        return Refused(verdict.code, verdict.reason, retry_after_ms=retry)
    w.do(tables.put_request, consumer.uid, employee.uid, note, now_ms)
    w.do(tables.use_quota, "contact_requests", employee.uid, day)
    profile = replace(employee_seen_by_consumer, note=note or None)
    return Notices((_event(consumer.uid, "request", profile),))


def accept_contact(w: WriteTxn, consumer: User, employee: User, consumer_seen: Profile,
                   employee_seen: Profile, now_ms: int, caps: BridgeCaps) -> Notices | Refused:
    if w.do(tables.request, consumer.uid, employee.uid) is None:
        return Refused("not_found", f"no contact request from {employee.handle!r}")
    verdict = may_accept_contact(w.do(tables.count, "contacts.employee", employee.uid),
                                 w.do(tables.count, "contacts.corp", employee.corp_id), caps)
    if not verdict.allowed:
        return _refused(verdict)
    w.do(tables.drop_request, consumer.uid, employee.uid)
    w.do(tables.add_contact, Contact(employee.corp_id, employee.uid, consumer.uid, now_ms))
    return Notices((_event(employee.uid, "added", consumer_seen),
                    _event(consumer.uid, "added", employee_seen)))


def decline_contact(w: WriteTxn, consumer: User, employee: User,
                    consumer_seen: Profile) -> Notices | Refused:
    if not w.do(tables.drop_request, consumer.uid, employee.uid):
        return Refused("not_found", f"no contact request from {employee.handle!r}")
    return Notices((_event(employee.uid, "declined", consumer_seen),))


def remove_contact(w: WriteTxn, employee: User, consumer: User, actor_seen: Profile,
                   actor: User) -> Notices | Refused:
    record = w.do(tables.contact, employee.uid, consumer.uid)
    if record is None:
        return Refused("not_found", "not an external contact")
    w.do(tables.remove_contact, record)
    other = consumer if actor.uid == employee.uid else employee
    return Notices((_event(other.uid, "removed", actor_seen),))


def set_remark(w: WriteTxn, employee: User, consumer: User, remark: str) -> Notices | Refused:
    record = w.do(tables.contact, employee.uid, consumer.uid)
    if record is None:
        return Refused("not_found", "not an external contact")
    w.do(tables.put_contact, replace(record, remark=remark))
    return Notices()


def request_friend(w: WriteTxn, sender: User, other: User, sender_seen: Profile, now_ms: int,
                   caps: BridgeCaps) -> Notices | Refused:
    verdict = may_befriend(sender, other, friends=w.do(tables.count, "friends", sender.uid),
                           caps=caps)
    if not verdict.allowed:
        return _refused(verdict)
    if w.do(tables.are_friends, sender.uid, other.uid):
        return Refused("bad_request", f"{other.handle!r} is already a friend")
    w.do(tables.put_friend_request, other.uid, sender.uid, now_ms)
    return Notices((_event(other.uid, "friend_request", sender_seen),))


def accept_friend(w: WriteTxn, me: User, other: User, me_seen: Profile, now_ms: int,
                  caps: BridgeCaps) -> Notices | Refused:
    if not w.do(tables.friend_request, me.uid, other.uid):
        return Refused("not_found", f"no friend request from {other.handle!r}")
    for who in (me, other):
        verdict = may_befriend(who, me if who is other else other,
                               friends=w.do(tables.count, "friends", who.uid), caps=caps)
        if not verdict.allowed:
            return _refused(verdict)
    w.do(tables.drop_friend_request, me.uid, other.uid)
    w.do(tables.add_friends, me.uid, other.uid, now_ms)
    return Notices((_event(other.uid, "friend_added", me_seen),))


def decline_friend(w: WriteTxn, me: User, other: User, me_seen: Profile) -> Notices | Refused:
    if not w.do(tables.drop_friend_request, me.uid, other.uid):
        return Refused("not_found", f"no friend request from {other.handle!r}")
    return Notices((_event(other.uid, "friend_declined", me_seen),))


def remove_friend(w: WriteTxn, me: User, other: User, me_seen: Profile) -> Notices | Refused:
    if not w.do(tables.remove_friends, me.uid, other.uid):
        return Refused("not_found", f"{other.handle!r} is not a friend")
    return Notices((_event(other.uid, "friend_removed", me_seen),))
