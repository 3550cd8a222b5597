"""Whether a group robot may post into a group.

Rule (docs/operations.md, corp policy `robots_in_external_groups`, default no):
"group robots may be added to and post into the corp's external groups, where
consumers see them with the corp's badge; with no, they post only where every
member is an employee". The group's owning corp decides; a group that is gone
takes no robot's messages.
"""

from __future__ import annotations

from corpchat.store.records import Conversation, Corp

from .verdict import ALLOW, Verdict, refuse


def may_robot_post(group: Conversation, owner_corp: Corp | None) -> Verdict:
    """`owner_corp`: the corp that owns the group (None for a group without one)."""
    if group.dissolved:
        return refuse("not_found", "the group was dissolved")
    if group.consumers and not (owner_corp is not None and owner_corp.robots_in_external_groups):
        return refuse("forbidden", "robots do not post into external groups of this corp")
    return ALLOW
