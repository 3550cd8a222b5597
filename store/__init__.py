"""LMDB storage: key layout, records, named operations, the group-commit writer."""

from . import contacts, customers, settings
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
from .store import (
    Store,
    WriteTxn,
    restore_backup,
    valid_handle,
)
from .tokens import token_digest
from .writer import GroupCommitWriter, Pending, WriteOp

__all__ = [
    "ANNOUNCE", "CONSUMER", "DIRECT", "ENTERPRISE", "GROUP", "Contact", "Corp",
    "GroupCommitWriter", "MapFull", "Membership", "Message", "Pending", "Refused",
    "StorageError", "Store", "User", "WriteOp", "WriteTxn", "contacts", "customers",
    "restore_backup",
    "settings", "token_digest", "valid_handle",
]
