"""Who may send urgent messages, which bypass quiet hours.

Rule (issue 5; Slack's "notify anyway"): only enterprise senders mark a
message urgent, within a daily quota; a consumer can never break an
employee's rest.
"""

from __future__ import annotations

from corpchat.store import ENTERPRISE, User

from .verdict import ALLOW, Verdict, refuse


def may_mark_urgent(sender: User) -> Verdict:
    """The realm half of the rule, asked before any quota is read."""
    if sender.realm != ENTERPRISE:
        return refuse("forbidden", "consumers cannot send urgent messages")
    return ALLOW


def may_send_urgent(sender: User, used_today: int, per_day: int) -> Verdict:
    if not (verdict := may_mark_urgent(sender)).allowed:
        return verdict
    if used_today >= per_day:
        return refuse("quota_exceeded", f"at most {per_day} urgent messages a day")
    return ALLOW
