"""The audit log: one line per security- or operations-relevant event.

Every line goes to the `corpchat.audit` logger through `audit()`, so call sites
stay one line. With `--log-format json` a line is one JSON object whose
`event` names what happened and whose other keys are its fields (uid, user,
device, token_id, peer, code, admin_uid, …); plain logs show the same as
`event key=value …`. Fields are names and ids only: never a token, whatever a
caller passes (SECRET_FIELDS are dropped here, as a last guard).
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("corpchat.audit")
SECRET_FIELDS = frozenset({"token", "password", "secret", "invite", "old", "new"})
# Keys of every JSON log line (server/logs.py): a field by one of these names
# is written as `field_NAME` instead of overwriting it.
RESERVED = frozenset({"time", "level", "logger", "message", "event", "exception"})


def audit(event: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Log one audit event. Cheap when the level is off: nothing is formatted."""
    if not log.isEnabledFor(level):
        return
    kept = {f"field_{k}" if k in RESERVED else k: v for k, v in fields.items()
            if k not in SECRET_FIELDS}
    log.log(level, "%s %s", event, _logfmt(kept), extra={"audit": {"event": event, **kept}})


def audit_offline(event: str, **fields: Any) -> None:
    """An audit event of an offline command (`corpchat restore`): with no logging set
    up in the process, it is written to stderr as one JSON line all the same."""
    if not logging.getLogger().handlers:
        from .logs import configure

        configure("INFO", "json")
    audit(event, **fields)


def _logfmt(fields: dict[str, Any]) -> str:
    return " ".join(f"{k}={_plain(v)}" for k, v in fields.items())


def _plain(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if not text or any(c in text for c in ' "=\n'):
        return json.dumps(text)
    return text


def session_closed(session: Any) -> None:  # a server.session.Session
    """The close of a connection: INFO for a logged-in session, DEBUG for the rest
    (plain HTTP requests such as scrapes, refused handshakes)."""
    user = session.user
    if user is None:
        audit("close", logging.DEBUG, session=session.id, peer=session.peer,
              code=session.close_code, reason=session.close_reason)
    else:  # getattr: it runs in a `finally` that must not raise, whatever stands for the user
        audit("close", uid=getattr(user, "uid", None), user=getattr(user, "handle", str(user)),
              device=session.device, token_id=session.token_id, session=session.id,
              peer=session.peer, code=session.close_code, reason=session.close_reason)
