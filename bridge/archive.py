"""Which corp archives a message.

Rule (docs/architecture.md, "Realms and the bridge": "external conversations are
archived for the corp"; docs/protocol.md, "Who may be in a group"): a
direct message between an employee and a consumer goes into the employee's
corp's archive; a group with consumers is an external group and is
archived for the corp that owns it (its creator's) even when ownership
passes to another member. Nothing inside one realm is archived.
"""

from __future__ import annotations

from corpchat.store import ENTERPRISE, User
from corpchat.store.records import Conversation


def archive_corp(sender: User, recipient: User) -> int | None:
    """The corp that archives a direct message: the employee's, when realms differ."""
    if sender.realm == recipient.realm:
        return None
    return sender.corp_id if sender.realm == ENTERPRISE else recipient.corp_id


def group_archive_corp(conversation: Conversation) -> int | None:
    """The corp that archives a group's messages: its owning corp, while it has consumers."""
    if conversation.consumers and conversation.corp_id:
        return conversation.corp_id
    return None
