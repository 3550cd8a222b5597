"""Contact and friend operations, and a consumer's sign-up: they run on the
writer thread, inside the batch's transaction, check the bridge's rules
against the state there, and return the events to send — (uid, frame)
pairs — once committed."""

from __future__ import annotations

from dataclasses import replace

from corpchat.bridge import (
    BridgeCaps,
    day_number,
    may_accept_contact,
    may_befriend,
    may_request_contact,
    until_next_day_ms,
)
from corpchat.protocol import ContactEvent, ErrorCode, Frame, Profile, Refusal, Registered
from corpchat.store import Contact, User, WriteTxn
from corpchat.store import contacts as tables

from .results import NOTHING, Notices


def _event(uid: int, kind: str, profile: Profile) -> tuple[int, Frame]:
    return uid, ContactEvent(event=kind, profile=profile)


def request_contact(w: WriteTxn, employee: User, consumer: User, note: str,
                    employee_seen_by_consumer: Profile, now_ms: int,
                    caps: BridgeCaps) -> Notices | Refusal:
    day = day_number(now_ms)
    verdict = may_request_contact(
        employee, consumer,
        already=w.do(tables.contact, employee.uid, consumer.uid) is not None,
        employee_contacts=w.do(tables.count, "contacts.employee", employee.uid),
        requests_today=w.do(tables.quota_used, "contact_requests", employee.uid, day),
        caps=caps)
    if not verdict.allowed:
        retry = until_next_day_ms(now_ms) if verdict.code == "quota_exceeded" else None
        return Refusal(ErrorCode(verdict.code), verdict.reason, retry_after_ms=retry)
    w.do(tables.put_request, consumer.uid, employee.uid, note, now_ms)
    w.do(tables.use_quota, "contact_requests", employee.uid, day)
    profile = replace(employee_seen_by_consumer, note=note or None)
    return Notices((_event(consumer.uid, "request", profile),))


def accept_contact(w: WriteTxn, consumer: User, employee: User, consumer_seen: Profile,
                   employee_seen: Profile, now_ms: int, caps: BridgeCaps) -> Notices | Refusal:
    if w.do(tables.request, consumer.uid, employee.uid) is None:
        return Refusal(ErrorCode.NOT_FOUND, f"no contact request from {employee.handle!r}")
    verdict = may_accept_contact(w.do(tables.count, "contacts.employee", employee.uid),
                                 w.do(tables.count, "contacts.corp", employee.corp_id), caps)
    if not verdict.allowed:
        return verdict.refusal
    w.do(tables.drop_request, consumer.uid, employee.uid)
    w.do(tables.add_contact, Contact(employee.corp_id, employee.uid, consumer.uid, now_ms))
    return Notices((_event(employee.uid, "added", consumer_seen),
                    _event(consumer.uid, "added", employee_seen)))


def decline_contact(w: WriteTxn, consumer: User, employee: User,
                    consumer_seen: Profile) -> Notices | Refusal:
    if not w.do(tables.drop_request, consumer.uid, employee.uid):
        return Refusal(ErrorCode.NOT_FOUND, f"no contact request from {employee.handle!r}")
    return Notices((_event(employee.uid, "declined", consumer_seen),))


def remove_contact(w: WriteTxn, employee: User, consumer: User, actor_seen: Profile,
                   actor: User) -> Notices | Refusal:
    record = w.do(tables.contact, employee.uid, consumer.uid)
    if record is None:
        return Refusal(ErrorCode.NOT_FOUND, "not an external contact")
    w.do(tables.remove_contact, record)
    other = consumer if actor.uid == employee.uid else employee
    return Notices((_event(other.uid, "removed", actor_seen),))


def set_remark(w: WriteTxn, employee: User, consumer: User, remark: str) -> Notices | Refusal:
    record = w.do(tables.contact, employee.uid, consumer.uid)
    if record is None:
        return Refusal(ErrorCode.NOT_FOUND, "not an external contact")
    w.do(tables.put_contact, replace(record, remark=remark))
    return NOTHING


def request_friend(w: WriteTxn, sender: User, other: User, sender_seen: Profile, now_ms: int,
                   caps: BridgeCaps) -> Notices | Refusal:
    verdict = may_befriend(sender, other, friends=w.do(tables.count, "friends", sender.uid),
                           caps=caps)
    if not verdict.allowed:
        return verdict.refusal
    if w.do(tables.are_friends, sender.uid, other.uid):
        return Refusal(ErrorCode.BAD_REQUEST, f"{other.handle!r} is already a friend")
    w.do(tables.put_friend_request, other.uid, sender.uid, now_ms)
    return Notices((_event(other.uid, "friend_request", sender_seen),))


def accept_friend(w: WriteTxn, me: User, other: User, me_seen: Profile, now_ms: int,
                  caps: BridgeCaps) -> Notices | Refusal:
    if not w.do(tables.friend_request, me.uid, other.uid):
        return Refusal(ErrorCode.NOT_FOUND, f"no friend request from {other.handle!r}")
    for who in (me, other):
        verdict = may_befriend(who, me if who is other else other,
                               friends=w.do(tables.count, "friends", who.uid), caps=caps)
        if not verdict.allowed:
            return verdict.refusal
    w.do(tables.drop_friend_request, me.uid, other.uid)
    w.do(tables.add_friends, me.uid, other.uid, now_ms)
    return Notices((_event(other.uid, "friend_added", me_seen),))


def decline_friend(w: WriteTxn, me: User, other: User, me_seen: Profile) -> Notices | Refusal:
    if not w.do(tables.drop_friend_request, me.uid, other.uid):
        return Refusal(ErrorCode.NOT_FOUND, f"no friend request from {other.handle!r}")
    return Notices((_event(other.uid, "friend_declined", me_seen),))


def remove_friend(w: WriteTxn, me: User, other: User, me_seen: Profile) -> Notices | Refusal:
    if not w.do(tables.remove_friends, me.uid, other.uid):
        return Refusal(ErrorCode.NOT_FOUND, f"{other.handle!r} is not a friend")
    return Notices((_event(other.uid, "friend_removed", me_seen),))


def register(w: WriteTxn, request_id: int, handle: str, name: str | None,
             now_ms: int) -> Notices | Refusal:
    """Open sign-up: a consumer account and its first device token."""
    created = w.create_user(handle, None, now_ms)
    if isinstance(created, Refusal):
        return created
    if name:
        w.put_user(replace(created, name=name[:64]))
    issued = w.issue_token(created.uid, now_ms)
    if isinstance(issued, Refusal):
        return issued
    _, token = issued
    return Notices(reply=Registered(re=request_id, user=created.handle, token=token))
