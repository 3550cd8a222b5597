"""External groups: how many consumers a group may hold.

Rule (the project brief; WeCom's customer groups): a group holds at most
100 members from the consumer realm, whatever its total size. Adding past
the cap fails as a whole — nobody from that request is added. The group
belongs to the company, so only an employee can create or own it.
"""

from __future__ import annotations

from corpchat.store import CONSUMER, User

from .verdict import ALLOW, Verdict, refuse


def admit_consumers(current: int, adding: int, cap: int) -> Verdict:
    if current + adding > cap:
        return refuse("group_full", f"a group holds at most {cap} consumer (external) members")
    return ALLOW


def may_own_group(user: User) -> Verdict:
    if user.realm == CONSUMER:
        return refuse("forbidden", "a group's owner is an employee")
    return ALLOW


def may_create_group(actor: User) -> Verdict:
    if actor.realm == CONSUMER:
        return refuse("forbidden", "employees create groups")
    return ALLOW
