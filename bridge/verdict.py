from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, when refused, the error code and reason to send."""

    allowed: bool
    code: str = ""
    reason: str = ""


ALLOW = Verdict(True)


def refuse(code: str, reason: str) -> Verdict:
    return Verdict(False, code, reason)
