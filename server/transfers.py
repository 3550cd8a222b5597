"""Customer inheritance: an employee's customers pass to a colleague.

An operator starts a transfer (`admin transfer`); each customer is told and
may refuse within the window (24 hours); then the transfer completes by
itself, driven by the injected clock like quiet hours: due completions sit
in a heap and a task wakes for the earliest. Completing moves the contact
(remark and tags too), gives the colleague the direct conversation with its
history, and hands over external groups the old employee owned.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import trio

from corpchat.bridge import handover_replaces_owner, may_inherit_history, may_transfer
from corpchat.protocol import ContactEvent, TransferEvent
from corpchat.store import Contact, Membership, Refused, User, WriteTxn
from corpchat.store import contacts as tables
from corpchat.store import customers as cust
from corpchat.store.records import MEMBER, OWNER, SYSTEM

from .bridge_ops import Notices
from .people import People

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("corpchat.transfers")
MAX_SLEEP_S = 60.0


class Transfers:
    def __init__(self, app: App) -> None:
        self.app = app
        self.caps = app.config.customers
        self.max_members = app.config.max_group_members
        self._due: list[tuple[int, int, int]] = []  # (due ms, consumer, source)
        self._wake = trio.Event()
        app.clock.subscribe(self.poke)

    def poke(self) -> None:
        self._wake.set()

    def load(self) -> None:
        for t in self.app.store.read(cust.all_transfers):
            if t.state == "pending":
                heapq.heappush(self._due, (t.due_ms, t.consumer, t.source))

    # ----- operations (writer thread) -----

    def start_op(self, w: WriteTxn, source: User, target: User, consumers: list[User],
                 message: str, now: int) -> Notices:
        looker = People(self.app.store)
        started, skipped, events = [], 0, []
        for consumer in consumers:
            if w.do(tables.contact, source.uid, consumer.uid) is None:
                skipped += 1
                continue
            pending = w.do(cust.transfer, consumer.uid, source.uid)
            recent = w.do(cust.transfers_since, consumer.uid, now - self.caps.transfer_period_ms)
            if not may_transfer(recent, pending is not None and pending.state == "pending",
                                self.caps).allowed:
                skipped += 1
                continue
            record = cust.Transfer(consumer.uid, source.uid, target.uid, source.corp_id, now,
                                   now + self.caps.transfer_window_ms, message)
            w.do(cust.put_transfer, record)
            started.append(record)
            events.append((consumer.uid, TransferEvent(
                state="pending", source=looker.profile(source, consumer),
                target=looker.profile(target, consumer), message=message or None,
                due=record.due_ms)))
        return Notices(events=tuple(events), sent=len(started), skipped=skipped,
                       then=lambda: self._schedule(started))

    def refuse_op(self, w: WriteTxn, consumer: User, source: User) -> Notices | Refused:
        record = w.do(cust.transfer, consumer.uid, source.uid)
        if record is None or record.state != "pending":
            return Refused("not_found", f"no transfer from {source.handle!r} waiting")
        w.do(cust.put_transfer, replace(record, state="refused"))
        target = w.user(record.target)
        if target is None:
            return Notices()
        # Both employees learn of it at once: the old one keeps the customer, the new
        # one should not expect them.
        looker = People(self.app.store)
        return Notices(events=tuple(
            (employee.uid, TransferEvent(state="refused", source=looker.profile(source, employee),
                                         target=looker.profile(target, employee),
                                         customer=looker.profile(consumer, employee)))
            for employee in (source, target)))

    def complete_op(self, w: WriteTxn, consumer_uid: int, source_uid: int,
                    now: int) -> Notices | None:
        record = w.do(cust.transfer, consumer_uid, source_uid)
        if record is None or record.state != "pending" or record.due_ms > now:
            return None
        consumer, source, target = w.user(consumer_uid), w.user(source_uid), w.user(record.target)
        contact = w.do(tables.contact, source_uid, consumer_uid)
        if consumer is None or source is None or target is None or contact is None:
            w.do(cust.put_transfer, replace(record, state="cancelled"))
            return None
        w.do(tables.remove_contact, contact)
        if w.do(tables.contact, target.uid, consumer.uid) is None:
            w.do(tables.add_contact, Contact(contact.corp_id, target.uid, consumer.uid, now,
                                             contact.remark))
        w.do(cust.move_contact_tags, source.uid, target.uid, consumer.uid)
        corp = w.corp(contact.corp_id)
        conv = w.hand_over_direct(source, target, consumer,
                                  with_history=may_inherit_history(corp).allowed)
        forget = [conv] if conv else []
        messages = self._hand_over_groups(w, source, target, consumer, now, forget)
        w.do(cust.log_transfer, consumer.uid, now, source.uid, target.uid)
        w.do(cust.put_transfer, replace(record, state="done"))
        looker = People(self.app.store)
        done = TransferEvent(state="done", source=looker.profile(source, consumer),
                             target=looker.profile(target, consumer))
        added = ContactEvent(event="added", profile=looker.profile(consumer, target))
        return Notices(events=((consumer.uid, done), (target.uid, added)),
                       messages=tuple(messages), forget=tuple(forget))

    def _hand_over_groups(self, w: WriteTxn, source: User, target: User, consumer: User,
                          now: int, forget: list[int]) -> list:
        """External groups the old employee owned, with this customer in them, pass on."""
        messages = []
        for conv in w.do(cust.owned_groups_with, source.uid, consumer.uid):
            conversation = w.conversation(conv)
            theirs = w.membership(uid=target.uid, conv=conv)
            msg = w.append(conv=conv, sender=source.handle, now_ms=now, kind=SYSTEM,
                           event="transfer", users=(target.handle,))
            mine = w.membership(uid=source.uid, conv=conv)
            joins = theirs is None or not theirs.active
            if handover_replaces_owner(conversation.members, not joins, self.max_members):  # type: ignore[union-attr]
                # Full: the old owner leaves at the transfer message, as by group.leave.
                w.set_membership(uid=source.uid, conv=conv,
                                 membership=replace(mine, role=MEMBER, left_pos=msg.pos))  # type: ignore[type-var]
            else:
                w.set_membership(uid=source.uid, conv=conv, membership=replace(mine, role=MEMBER))  # type: ignore[type-var]
                conversation = replace(conversation, members=conversation.members + joins)  # type: ignore[type-var]
            if joins:
                w.set_membership(uid=target.uid, conv=conv,
                                 membership=Membership(msg.pos, 0, OWNER))
                w.put_conversation(conversation)
            else:
                w.set_membership(uid=target.uid, conv=conv, membership=replace(theirs, role=OWNER))
            messages.append(msg)
            forget.append(conv)
        return messages

    def _schedule(self, started: list[cust.Transfer]) -> None:
        for t in started:
            heapq.heappush(self._due, (t.due_ms, t.consumer, t.source))
        self.poke()

    # ----- the timer -----

    async def run(self) -> None:
        """Complete transfers as their windows close. Cancel-safe."""
        while True:
            now = self.app.clock.now_ms()
            while self._due and self._due[0][0] <= now:
                _, consumer, source = heapq.heappop(self._due)
                await self.app.write(lambda w, c=consumer, s=source, n=now:
                                     self.complete_op(w, c, s, n))
            delay = (self._due[0][0] - now) / 1000 if self._due else MAX_SLEEP_S
            with trio.move_on_after(max(0.0, min(delay, MAX_SLEEP_S))):
                await self._wake.wait()
            self._wake = trio.Event()
