"""Policy between the enterprise and consumer realms.

Each rule is a pure function returning a `Verdict`; the server asks, the
bridge decides. It receives store records, never sockets.
"""

from .direct import may_message_directly
from .groups import admit_consumers
from .receipts import read_state_visible
from .verdict import Verdict

__all__ = ["Verdict", "admit_consumers", "may_message_directly", "read_state_visible"]
