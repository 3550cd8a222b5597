from __future__ import annotations

from dataclasses import dataclass

from corpchat.protocol.errors import ErrorCode, Refusal


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, when refused, the error code and reason to send."""

    allowed: bool
    code: str = ""
    reason: str = ""

    @property
    def refusal(self) -> Refusal:
        """What a refused verdict answers: the project's one refusal type."""
        assert not self.allowed, "an allowed verdict refuses nothing"
        return Refusal(ErrorCode(self.code), self.reason)


ALLOW = Verdict(True)


def refuse(code: str, reason: str) -> Verdict:
    return Verdict(False, code, reason)
