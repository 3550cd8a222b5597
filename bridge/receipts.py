"""Whose read state crosses realms.

Rule (issue 4): a consumer's read state is shown to the employee side only
if the corp allows it (default: allowed); an employee's read state is never
shown to consumers unless the corp's setting says so (default: hidden).
"""

from __future__ import annotations

from corpchat.store import CONSUMER, User

from .verdict import ALLOW, Verdict, refuse

SHOW_CONSUMER_READS_TO_EMPLOYEES = True
SHOW_EMPLOYEE_READS_TO_CONSUMERS = False


def read_state_visible(reader: User, viewer: User, *,
                       consumer_to_employee: bool = SHOW_CONSUMER_READS_TO_EMPLOYEES,
                       employee_to_consumer: bool = SHOW_EMPLOYEE_READS_TO_CONSUMERS) -> Verdict:
    if reader.realm == viewer.realm:
        return ALLOW
    if reader.realm == CONSUMER:
        return ALLOW if consumer_to_employee else refuse("forbidden", "the corp hides it")
    return ALLOW if employee_to_consumer else refuse("forbidden", "employees' reads are private")
