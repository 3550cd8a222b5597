"""How people appear across the realm boundary.

Rule (issue 6; WeCom 3.0): wherever a consumer sees an employee it is as
"Name @CorpShortName", with the title and the corp's full name; consumers
never see directory fields (department, phone, email). An employee sees a
consumer marked external. The decoration is computed once per event.
Directory fields are shown only between colleagues (employees of one corp).
"""

from __future__ import annotations

from dataclasses import dataclass

from corpchat.store import CONSUMER, Corp, User

from .verdict import ALLOW, Verdict, refuse


@dataclass(frozen=True, slots=True)
class Badge:
    display: str
    title: str | None
    corp: str | None
    external: bool


def seen_by_consumers(person: User, corp: Corp | None) -> Badge:
    """An employee as consumers see them; a consumer as any other consumer sees them."""
    if person.realm == CONSUMER or corp is None:
        return Badge(person.display, None, None, False)
    return Badge(f"{person.display} @{corp.name}", person.title or None,
                 corp.full_name or corp.name, False)


def seen_by_employees(person: User) -> Badge:
    """Anyone as employees see them: consumers are marked external."""
    return Badge(person.display, person.title or None, None, person.realm == CONSUMER)


def may_see_directory(viewer: User, person: User) -> Verdict:
    """Whether `viewer` sees `person`'s department, phone and email."""
    if viewer.realm == person.realm != CONSUMER and viewer.corp_id == person.corp_id:
        return ALLOW
    return refuse("forbidden", "directory fields stay inside the corp")
