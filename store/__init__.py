"""LMDB storage: key layout, records, named operations, the group-commit writer."""

from . import contacts, credentials, customers, everyday, outbox, settings, tokens
from .errors import MapFull, Refused, StorageError
from .records import (
    ANNOUNCE,
    CONSUMER,
    DIRECT,
    ENTERPRISE,
    GROUP,
    Contact,
    Corp,
    Membership,
    Message,
    User,
)
from .restore import NotRestorable, copy_media, restore_backup
from .store import (
    Store,
    WriteTxn,
    valid_handle,
)
from .tokens import token_digest
from .writer import GroupCommitWriter, Pending, WriteOp

__all__ = [
    "ANNOUNCE", "CONSUMER", "DIRECT", "ENTERPRISE", "GROUP", "Contact", "Corp",
    "GroupCommitWriter", "MapFull", "Membership", "Message", "NotRestorable", "Pending",
    "Refused",
    "StorageError", "Store", "User", "WriteOp", "WriteTxn", "contacts", "credentials", "customers",
    "everyday",
    "restore_backup", "copy_media",
    "outbox",
    "restore_backup",
    "settings", "token_digest", "tokens", "valid_handle",
]
