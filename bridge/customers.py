"""Customer management rules (issue 7; WeCom's customer contact features).

- A corp's tag library holds at most 3,000 tags, each named in 30 characters.
- An employee may message many customers at once, but a customer gets at
  most one mass message per employee per day.
- When an employee leaves or changes role, the corp hands their customers to
  a colleague (another employee of the same corp). The customer is told and
  may refuse within 24 hours; each customer is transferred at most twice in
  90 days. The colleague sees the earlier conversation unless the corp's
  `transfer_history` policy says no (docs/operations.md: "with no, only what
  is said from the handover on").
- Groups the departing employee owned pass to the colleague, who becomes
  the owner. A group never grows past its cap for this: when it is full and
  the colleague is not in it yet, the colleague takes the employee's seat
  (the employee leaves); otherwise the employee stays as a plain member.
- Employees post to their customers' moments feed, at most once a day;
  posts a corp admin writes go out only once the employee confirms them.
- Who does what (docs/protocol.md, the `forbidden` error): the tag library
  is a corp admin's; tagging, mass messages and moments are an employee's;
  a corp admin drafts moments for, and reads the feed of, employees of
  their own corp only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from corpchat.store import ENTERPRISE, Corp, User

from .verdict import ALLOW, Verdict, refuse

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class CustomerCaps:
    tags_per_corp: int = 3000
    tag_name_chars: int = 30
    broadcast_max: int = 20_000
    mass_messages_per_day: int = 1  # per customer per employee
    transfer_window_ms: int = DAY_MS
    transfers_per_period: int = 2
    transfer_period_ms: int = 90 * DAY_MS
    moments_per_day: int = 1
    moment_chars: int = 2000
    moment_attachments: int = 9

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"setting {f.name} must be positive")


def may_serve_customers(user: User) -> Verdict:
    if user.realm != ENTERPRISE:
        return refuse("forbidden", "for employees")
    return ALLOW


def may_administer_corp(user: User) -> Verdict:
    if user.realm != ENTERPRISE or not user.corp_admin:
        return refuse("forbidden", "for corp admins")
    return ALLOW


def may_act_for(admin: User, employee: User) -> Verdict:
    """A corp admin acting on an employee's moments (drafts, feed)."""
    if employee.corp_id != admin.corp_id:
        return refuse("forbidden", "only your corp's employees")
    return ALLOW


def may_add_tag(tags_in_corp: int, name: str, caps: CustomerCaps) -> Verdict:
    if not 0 < len(name) <= caps.tag_name_chars:
        return refuse("bad_request", f"a tag name has 1 to {caps.tag_name_chars} characters")
    if tags_in_corp >= caps.tags_per_corp:
        return refuse("contact_limit", f"a corp has at most {caps.tags_per_corp} tags")
    return ALLOW


def may_mass_message(sent_today: int, caps: CustomerCaps) -> Verdict:
    if sent_today >= caps.mass_messages_per_day:
        return refuse("quota_exceeded", "already had a mass message from you today")
    return ALLOW


def may_transfer(transfers_in_period: int, pending: bool, caps: CustomerCaps) -> Verdict:
    if pending:
        return refuse("exists", "a transfer is already waiting")
    if transfers_in_period >= caps.transfers_per_period:
        return refuse("quota_exceeded",
                      f"transferred {caps.transfers_per_period} times in 90 days already")
    return ALLOW


def may_hand_over(source: User, target: User) -> Verdict:
    """Whether `source`'s customers may be handed to `target` (the colleague)."""
    if not source.corp_id or source.corp_id != target.corp_id or source.uid == target.uid:
        return refuse("bad_request", "both must be employees of one corp, and differ")
    return ALLOW


def may_inherit_history(corp: Corp | None) -> Verdict:
    """`corp`: the one that owns the customer relationship (None: its defaults)."""
    if corp is None or corp.transfer_history:
        return ALLOW
    return refuse("forbidden", f"{corp.name} hands customers over without the history")


def handover_replaces_owner(members: int, colleague_is_member: bool, cap: int) -> bool:
    """A full group: the colleague takes the old owner's seat instead of a new one."""
    return not colleague_is_member and members >= cap


def may_post_moment(posted_today: int, text: str, attachments: int,
                    caps: CustomerCaps) -> Verdict:
    if not 0 < len(text) <= caps.moment_chars:
        return refuse("bad_request", f"a moment has 1 to {caps.moment_chars} characters")
    if attachments > caps.moment_attachments:
        return refuse("bad_request", f"at most {caps.moment_attachments} attachments")
    if posted_today >= caps.moments_per_day:
        return refuse("quota_exceeded", "one moment a day")
    return ALLOW
