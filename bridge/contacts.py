"""External contacts and consumer friends.

Rules (issue 6; WeCom's customer contacts):
- Only an employee asks a consumer to connect; the consumer accepts or
  declines. The relationship belongs to the corp, not the employee.
- An employee keeps at most 5,000 external contacts, a corp 50,000; these
  never count against a consumer's 5,000 friends.
- A daily quota of new contact requests per employee stops spam.
- Consumers befriend consumers (at most 5,000 friends each).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from corpchat.store import CONSUMER, ENTERPRISE, User

from .verdict import ALLOW, Verdict, refuse

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class BridgeCaps:
    contacts_per_employee: int = 5000
    contacts_per_corp: int = 50_000
    contact_requests_per_day: int = 100
    friends_per_user: int = 5000
    note_chars: int = 200

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"setting {f.name} must be positive")


def may_request_contact(employee: User, consumer: User, *, already: bool, employee_contacts: int,
                        requests_today: int, caps: BridgeCaps) -> Verdict:
    if employee.realm != ENTERPRISE or consumer.realm != CONSUMER:
        return refuse("forbidden", "employees ask consumers to connect")
    if already:
        return refuse("bad_request", f"{consumer.handle!r} is already a contact")
    if employee_contacts >= caps.contacts_per_employee:
        return refuse("contact_limit", f"at most {caps.contacts_per_employee} contacts each")
    if requests_today >= caps.contact_requests_per_day:
        return refuse("quota_exceeded",
                      f"at most {caps.contact_requests_per_day} contact requests a day")
    return ALLOW


def may_accept_contact(employee_contacts: int, corp_contacts: int, caps: BridgeCaps) -> Verdict:
    if employee_contacts >= caps.contacts_per_employee:
        return refuse("contact_limit", f"the employee has {caps.contacts_per_employee} contacts")
    if corp_contacts >= caps.contacts_per_corp:
        return refuse("contact_limit", f"the corp has {caps.contacts_per_corp} contacts")
    return ALLOW


def may_befriend(sender: User, other: User, *, friends: int, caps: BridgeCaps) -> Verdict:
    if sender.realm != CONSUMER or other.realm != CONSUMER or sender.uid == other.uid:
        return refuse("forbidden", "consumers befriend other consumers")
    if friends >= caps.friends_per_user:
        return refuse("contact_limit", f"at most {caps.friends_per_user} friends")
    return ALLOW


def until_next_day_ms(now_ms: int) -> int:
    """Milliseconds until the daily quotas reset (UTC midnight)."""
    return DAY_MS - now_ms % DAY_MS


def day_number(now_ms: int) -> int:
    return now_ms // DAY_MS
