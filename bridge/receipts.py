"""Whose read state crosses realms.

Rule (issue 4): a consumer's read state is shown to the employee side only
if the employee's corp allows it (default: allowed); an employee's read
state is never shown to consumers unless their corp's setting says so
(default: hidden). The corp that decides is always the employee's.
"""

from __future__ import annotations

from corpchat.store import CONSUMER, Corp, User

from .verdict import ALLOW, Verdict, refuse

_DEFAULTS = Corp(0, "", 0)  # a corp that never changed its policy


def deciding_corp_id(reader: User, viewer: User) -> int:
    """The corp whose policy governs what `viewer` sees of `reader` (0: same realm)."""
    if reader.realm == viewer.realm:
        return 0
    return viewer.corp_id if reader.realm == CONSUMER else reader.corp_id


def read_state_visible(reader: User, viewer: User, corp: Corp | None) -> Verdict:
    """`corp`: the one `deciding_corp_id` names (None: its defaults)."""
    if reader.realm == viewer.realm:
        return ALLOW
    corp = corp or _DEFAULTS
    if reader.realm == CONSUMER:
        return ALLOW if corp.show_consumer_reads else refuse("forbidden", "the corp hides it")
    if corp.show_employee_reads:
        return ALLOW
    return refuse("forbidden", "employees' reads are private")
