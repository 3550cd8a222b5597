"""Whom an app may reach: its corp's employees within its scope.

Rule (docs/api.md, "Scope", after WeCom's app visibility range): "an app reaches
only employees of the corp that installed it, and of those only the users its
scope names, the members of the departments its scope names, sub-departments
included, and the employees carrying a tag its scope names; a disabled employee
is reached by no app". Consumers are never in an app's scope: an app speaks for
the corp to its own people.
"""

from __future__ import annotations

from collections.abc import Iterable

from corpchat.store import User

from .verdict import ALLOW, Verdict, refuse


def in_app_scope(user: User, app_corp: int, scope_users: Iterable[int],
                 scope_depts: Iterable[int], user_depts: Iterable[int],
                 scope_tags: Iterable[int] = (), user_tags: Iterable[int] = ()) -> Verdict:
    """`user_depts`: the user's department and every department above it;
    `user_tags`: the tags the user carries."""
    if user.realm != "enterprise" or user.corp_id != app_corp:
        return refuse("not_found", "no such user in the app's corp")
    if user.disabled:
        return refuse("disabled", "the user is disabled")
    if user.uid in set(scope_users) or set(user_depts) & set(scope_depts) \
            or set(user_tags) & set(scope_tags):
        return ALLOW
    return refuse("out_of_scope", "outside the app's scope")


def dept_in_app_scope(dept_ancestry: Iterable[int], scope_depts: Iterable[int]) -> Verdict:
    """`dept_ancestry`: the department and every department above it."""
    if set(dept_ancestry) & set(scope_depts):
        return ALLOW
    return refuse("out_of_scope", "the department is outside the app's scope")
