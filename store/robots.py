"""Tables of group robots (issue 23): a robot by its webhook key's digest, and
each group's robots.

Functions take an open transaction and the database handles (like
store/contacts.py), for Store.read and WriteTxn.do. A webhook key carries 256
random bits and is kept only as its SHA-256 digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .records import pack, unpack
from .scan import Dbs, Txn
from .scan import prefix_items as _items


@dataclass(frozen=True, slots=True)
class Robot:
    robot_id: int
    conv: int
    name: str
    key_digest: bytes
    by: str  # the handle of who added it
    created_ms: int

    def encode(self) -> bytes:
        return pack([self.conv, self.name, self.key_digest, self.by, self.created_ms])

    @classmethod
    def decode(cls, robot_id: int, data: bytes) -> Robot:
        conv, name, digest, by, created = unpack(data)[:5]
        return cls(robot_id, conv, name, digest, by, created)


def robot_by_key(txn: Txn, db: Dbs, key_digest: bytes) -> Robot | None:
    raw = txn.get(key_digest, db=db["robot_keys"])
    if raw is None:
        return None
    return conv_robot(txn, db, keys.read_u64(raw), keys.read_u64(raw, 8))


def conv_robot(txn: Txn, db: Dbs, conv: int, robot_id: int) -> Robot | None:
    raw = txn.get(keys.pair(conv, robot_id), db=db["robots"])
    return Robot.decode(robot_id, raw) if raw is not None else None


def conv_robots(txn: Txn, db: Dbs, conv: int) -> list[Robot]:
    return [Robot.decode(keys.read_u64(k, 8), v)
            for k, v in _items(txn, db["robots"], keys.u64(conv))]


def put_robot(txn: Txn, db: Dbs, bot: Robot) -> None:
    txn.put(keys.pair(bot.conv, bot.robot_id), bot.encode(), db=db["robots"])
    txn.put(bot.key_digest, keys.pair(bot.conv, bot.robot_id), db=db["robot_keys"])


def delete_robot(txn: Txn, db: Dbs, bot: Robot) -> None:
    txn.delete(keys.pair(bot.conv, bot.robot_id), db=db["robots"])
    txn.delete(bot.key_digest, db=db["robot_keys"])
