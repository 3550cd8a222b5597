"""Policy between the enterprise and consumer realms.

Each rule is a pure function returning a `Verdict` (or a decoration); the
server asks, the bridge decides. It receives store records, never sockets.
"""

from .badge import Badge, seen_by_consumers, seen_by_employees
from .contacts import (
    BridgeCaps,
    day_number,
    may_accept_contact,
    may_befriend,
    may_request_contact,
    until_next_day_ms,
)
from .customers import (
    CustomerCaps,
    may_add_tag,
    may_mass_message,
    may_post_moment,
    may_transfer,
)
from .direct import archive_corp, may_message_directly
from .groups import admit_consumers, may_own_group
from .receipts import deciding_corp_id, read_state_visible
from .urgent import may_send_urgent
from .verdict import Verdict

__all__ = [
    "Badge", "BridgeCaps", "CustomerCaps", "Verdict", "may_add_tag", "may_mass_message",
    "may_post_moment", "may_transfer", "admit_consumers", "archive_corp", "day_number",
    "deciding_corp_id",
    "may_accept_contact", "may_befriend", "may_message_directly", "may_own_group",
    "may_request_contact", "may_send_urgent", "read_state_visible", "seen_by_consumers",
    "seen_by_employees",
    "until_next_day_ms",
]
