"""Writer operations: everything that runs on the writer thread, one module per feature.

Each operation is a plain function `(w: WriteTxn, ...) -> Result`, run inside
the batch's transaction by the group-commit writer (store/writer.py). It
checks its rules against the state in that transaction and either writes and
returns its family's result (ops/results.py) or returns a `Refusal` before
writing anything. None raises for a refusal, and none returns a tuple: the
hub answers each result through the context it was submitted with.

  groups     group changes, group and announcement sends, recalls   GroupChange, Sent
  messages   direct sends, the urgent quota around any send          Sent
  receipts   read cursors, receipts, reminders                       ReadChange, ReminderSent
  contacts   contacts, friends, consumer sign-up                     Notices
  customers  tags, mass-message chunks, moments                      Notices
  transfers  customer hand-overs                                     Notices
  settings   quiet hours, breaks, push devices                       Notices
  accounts   an operator's corps, users, departments (admin socket)  the stored record,
                                                                     Enrolled, Access
"""

from __future__ import annotations

from typing import Any, Protocol

from corpchat.store import WriteOp


class Write(Protocol):
    """Submit one operation and wait for its committed result (App.write).

    `bulk=True` is the writer's bulk lane (store/writer.py)."""

    async def __call__(self, op: WriteOp, *, bulk: bool = False) -> Any: ...
