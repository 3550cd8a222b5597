"""What a forward may carry across the realms (docs/protocol.md §31.6).

Rule (the corp's policy `forward_to_customers`, off by default):

> An employee may forward messages of an internal conversation (one that has
> only ever had employees) into a conversation with customers only if their
> corp allows it: internal discussion does not reach customers by accident.
> A customer may forward what they see wherever they may send; an employee
> may forward what a customer wrote to colleagues.

The forwarder's right to see each message and to send into the target is
checked by the server as for `send`; this rule adds only the realm crossing.
"""

from __future__ import annotations

from corpchat.store import ENTERPRISE, User
from corpchat.store.records import Corp

from .verdict import ALLOW, Verdict, refuse


def may_forward(forwarder: User, source_internal: bool, target_has_consumers: bool,
                corp: Corp | None) -> Verdict:
    """Whether `forwarder` may forward from a source conversation (`source_internal`:
    it never had a consumer member) into a target that has consumers (or had)."""
    if forwarder.realm != ENTERPRISE or not source_internal or not target_has_consumers:
        return ALLOW
    if corp is not None and corp.forward_to_customers:
        return ALLOW
    return refuse("forbidden", "your corp does not allow forwarding internal messages "
                               "to customers")
