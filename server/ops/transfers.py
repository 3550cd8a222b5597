"""Customer hand-overs' writes: start (operator), refuse (customer), complete (timer).

Completing moves the contact (remark and tags too), gives the colleague the
direct conversation with its history when the corp's policy says so, and
hands over external groups the old employee owned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from corpchat.bridge import CustomerCaps, handover_replaces_owner, may_inherit_history, may_transfer
from corpchat.protocol import ContactEvent, ErrorCode, Refusal, TransferEvent
from corpchat.store import Contact, Membership, Message, User, WriteTxn
from corpchat.store import contacts as tables
from corpchat.store import customers as cust
from corpchat.store.records import MEMBER, OWNER, SYSTEM

from ..people import People
from .results import NOTHING, Notices


def start(w: WriteTxn, looker: People, source: User, target: User, consumers: list[User],
          message: str, now: int, caps: CustomerCaps,
          schedule: Callable[[list[cust.Transfer]], None]) -> Notices:
    """Tell each customer; `schedule` (after the commit) sets the timer of those started."""
    started, skipped, events = [], 0, []
    for consumer in consumers:
        if w.do(tables.contact, source.uid, consumer.uid) is None:
            skipped += 1
            continue
        pending = w.do(cust.transfer, consumer.uid, source.uid)
        recent = w.do(cust.transfers_since, consumer.uid, now - caps.transfer_period_ms)
        if not may_transfer(recent, pending is not None and pending.state == "pending",
                            caps).allowed:
            skipped += 1
            continue
        record = cust.Transfer(consumer.uid, source.uid, target.uid, source.corp_id, now,
                               now + caps.transfer_window_ms, message)
        w.do(cust.put_transfer, record)
        started.append(record)
        events.append((consumer.uid, TransferEvent(
            state="pending", source=looker.profile(source, consumer),
            target=looker.profile(target, consumer), message=message or None,
            due=record.due_ms)))
    return Notices(events=tuple(events), sent=len(started), skipped=skipped,
                   then=lambda: schedule(started))


def refuse(w: WriteTxn, looker: People, consumer: User, source: User) -> Notices | Refusal:
    record = w.do(cust.transfer, consumer.uid, source.uid)
    if record is None or record.state != "pending":
        return Refusal(ErrorCode.NOT_FOUND, f"no transfer from {source.handle!r} waiting")
    w.do(cust.put_transfer, replace(record, state="refused"))
    target = w.user(record.target)
    if target is None:
        return NOTHING
    # Both employees learn of it at once: the old one keeps the customer, the new
    # one should not expect them.
    return Notices(events=tuple(
        (employee.uid, TransferEvent(state="refused", source=looker.profile(source, employee),
                                     target=looker.profile(target, employee),
                                     customer=looker.profile(consumer, employee)))
        for employee in (source, target)))


def complete(w: WriteTxn, looker: People, consumer_uid: int, source_uid: int, now: int,
             max_members: int) -> Notices:
    """A transfer whose window has closed (nothing, if it is no longer due)."""
    record = w.do(cust.transfer, consumer_uid, source_uid)
    if record is None or record.state != "pending" or record.due_ms > now:
        return NOTHING
    consumer, source, target = w.user(consumer_uid), w.user(source_uid), w.user(record.target)
    contact = w.do(tables.contact, source_uid, consumer_uid)
    if consumer is None or source is None or target is None or contact is None:
        w.do(cust.put_transfer, replace(record, state="cancelled"))
        return NOTHING
    w.do(tables.remove_contact, contact)
    if w.do(tables.contact, target.uid, consumer.uid) is None:
        w.do(tables.add_contact, Contact(contact.corp_id, target.uid, consumer.uid, now,
                                         contact.remark))
    w.do(cust.move_contact_tags, source.uid, target.uid, consumer.uid)
    corp = w.corp(contact.corp_id)
    conv = w.hand_over_direct(source, target, consumer,
                              with_history=may_inherit_history(corp).allowed)
    forget = [conv] if conv else []
    messages = _hand_over_groups(w, source, target, consumer, now, forget, max_members)
    w.do(cust.log_transfer, consumer.uid, now, source.uid, target.uid)
    w.do(cust.put_transfer, replace(record, state="done"))
    done = TransferEvent(state="done", source=looker.profile(source, consumer),
                         target=looker.profile(target, consumer))
    added = ContactEvent(event="added", profile=looker.profile(consumer, target))
    return Notices(events=((consumer.uid, done), (target.uid, added)),
                   messages=tuple(messages), forget=tuple(forget))


def _hand_over_groups(w: WriteTxn, source: User, target: User, consumer: User, now: int,
                      forget: list[int], max_members: int) -> list[Message]:
    """External groups the old employee owned, with this customer in them, pass on."""
    messages = []
    for conv in w.do(cust.owned_groups_with, source.uid, consumer.uid):
        conversation = w.conversation(conv)
        theirs = w.membership(uid=target.uid, conv=conv)
        msg = w.append(conv=conv, sender=source.handle, now_ms=now, kind=SYSTEM, event="transfer",
                       users=(target.handle,))
        mine = w.membership(uid=source.uid, conv=conv)
        assert conversation is not None and mine is not None  # a group the source owns
        joins = theirs is None or not theirs.active
        if handover_replaces_owner(conversation.members, not joins, max_members):
            # Full: the old owner leaves at the transfer message, as by group.leave.
            w.set_membership(uid=source.uid, conv=conv,
                             membership=replace(mine, role=MEMBER, left_pos=msg.pos))
        else:
            w.set_membership(uid=source.uid, conv=conv, membership=replace(mine, role=MEMBER))
            conversation = replace(conversation, members=conversation.members + joins)
        if theirs is None or not theirs.active:
            w.set_membership(uid=target.uid, conv=conv, membership=Membership(msg.pos, 0, OWNER))
            w.put_conversation(conversation)
        else:
            w.set_membership(uid=target.uid, conv=conv, membership=replace(theirs, role=OWNER))
        messages.append(msg)
        forget.append(conv)
    return messages
