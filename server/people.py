"""How people and their messages are shown to a viewer, by realm.

The bridge decides what a consumer or an employee may see (bridge/badge.py);
this module turns those decisions into frames, with a small cache so a
page or a fan-out looks each sender up once.
"""

from __future__ import annotations

from dataclasses import replace

from corpchat.bridge import (
    CONTACT,
    FRIEND,
    Badge,
    may_see_directory,
    seen_by_consumers,
    seen_by_employees,
    tie_needed,
)
from corpchat.protocol import Msg, Profile
from corpchat.store import CONSUMER, ENTERPRISE, Contact, Store, User
from corpchat.store import contacts as tables
from corpchat.store.conversations import get_conversation


class People:
    """Looks up senders and their corps, remembering them for one page or batch."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._users: dict[str, User | None] = {}

    def user(self, handle: str) -> User | None:
        if handle not in self._users:
            self._users[handle] = self.store.user_by_handle(handle)
        return self._users[handle]

    def badge(self, person: User, viewer_realm: str) -> Badge:
        if viewer_realm == CONSUMER:
            corp = self.store.corp(person.corp_id) if person.corp_id else None
            return seen_by_consumers(person, corp)
        return seen_by_employees(person)

    def decorate(self, msg: Msg, viewer_realm: str) -> Msg:
        """The message as a viewer of this realm sees its sender."""
        if msg.robot:  # a group robot speaks for the group's corp: its badge
            return self._robot_badge(msg, viewer_realm)
        sender = self.user(msg.sender)
        if sender is None:
            return msg
        badge = self.badge(sender, viewer_realm)
        return replace(msg, display=badge.display, title=badge.title, corp=badge.corp,
                       external=badge.external or None)

    def _robot_badge(self, msg: Msg, viewer_realm: str) -> Msg:
        if viewer_realm != CONSUMER:
            return msg
        group = self.store.read(lambda txn, db: get_conversation(txn, db, conv=msg.conv))
        corp = self.store.corp(group.corp_id) if group and group.corp_id else None
        return replace(msg, corp=corp.name) if corp is not None else msg

    def profile(self, person: User, viewer: User, *, contact: Contact | None = None,
                note: str | None = None) -> Profile:
        """A person as `viewer` may see them: directory fields only inside one corp."""
        badge = self.badge(person, viewer.realm)
        colleague = may_see_directory(viewer, person).allowed
        return Profile(
            user=person.handle, display=badge.display, title=badge.title, corp=badge.corp,
            dept=person.dept or None if colleague else None,
            phone=person.phone or None if colleague else None,
            email=person.email or None if colleague else None,
            external=badge.external or None,
            remark=contact.remark or None if contact is not None else None, note=note)


def tied(store: Store, a: User, b: User) -> bool:
    """Whether `a` and `b` have the tie the bridge's rules ask about for them
    (`tie_needed`); False when they need none, without a lookup."""
    tie = tie_needed(a, b)
    if tie == CONTACT:
        employee, consumer = (a, b) if a.realm == ENTERPRISE else (b, a)
        return store.read(tables.contact, employee.uid, consumer.uid) is not None
    if tie == FRIEND:
        return bool(store.read(tables.are_friends, a.uid, b.uid))
    return False
