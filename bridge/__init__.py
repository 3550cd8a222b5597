"""Policy between the enterprise and consumer realms.

Each rule is a pure function returning a `Verdict` (or a decoration); the
server asks, the bridge decides. It receives store records, never sockets,
and the server sends a refused verdict's `.refusal` (protocol.Refusal: its
code and reason) as the request's error.
Where a rule only filters what someone is shown (read state, push previews,
directory fields, the handed-over history) the server reads `.allowed`.
Facts that cost a lookup are asked for only when a rule needs them:
`tie_needed` says which tie to read, `may_look_up` takes its scan as a callable.

Realm rules (function — business rule — where it is enforced):

- `may_message_directly` (direct.py) — colleagues talk directly, consumers
  with their friends, an employee and a consumer only while external
  contacts; other corps share nothing. `tie_needed` names the one
  relationship to look up (none between colleagues). Enforced by
  server/features/messaging.py `_destination` on every direct `send`.
- `archive_corp`, `group_archive_corp` (archive.py) — a cross-realm direct
  message is archived for the employee's corp, an external group's for the
  corp that owns it. features/messaging.py `send`, features/customers.py
  (mass messages), server/ops/groups.py (group messages, notices and recalls).
- `may_invite` (invite.py) — employees of the corp, and consumers invited
  by an employee whose external contact they are; a consumer invites
  nobody. features/groups.py `_may_invite` for `group.create` / `group.add`.
- `may_create_group`, `may_own_group`, `admit_consumers` (groups.py) — only
  employees create or own groups; at most 100 consumers per group, all or
  none of a request. features/groups.py (`group.create`), server/ops/groups.py
  (transfer, add, create).
- `may_mark_urgent`, `may_send_urgent` (urgent.py) — only employees send
  urgent messages, within a daily quota. features/messaging.py `_urgent`: the
  realm before submitting; ops/messages.py `send_urgent`: the quota inside the
  writer's transaction.
- `deciding_corp_id`, `read_state_visible` (receipts.py) — read state
  crosses realms as the employee's corp allows (consumers' shown, employees'
  hidden by default). server/hub.py `read_visible`, for `receipt` events and
  `receipts` replies (features/receipts.py).
- `may_preview` (previews.py) — the receiver's corp may keep message text
  out of its employees' push notifications. hub.py `_preview`.
- `seen_by_consumers`, `seen_by_employees`, `may_see_directory` (badge.py)
  — employees appear to consumers as "Name @Corp"; consumers are marked
  external; directory fields only between colleagues. server/people.py.
- `may_use_directory`, `may_look_up` (directory.py) — the directory is for
  employees; `user.info` answers about oneself, colleagues and peers only,
  anyone else as no such user. server/features/contacts.py, features/quiet.py.
- `may_request_contact`, `may_accept_contact`, `may_befriend` (contacts.py)
  — only employees ask consumers to connect, within per-employee, per-corp
  and daily caps; consumers befriend consumers. server/ops/contacts.py, in
  the writer's transaction.
- `may_add_tag`, `may_mass_message`, `may_post_moment` (customers.py) —
  tag library size, one mass message per customer per employee a day, one
  moment a day. server/ops/customers.py, in the writer's transaction.
- `may_serve_customers`, `may_administer_corp`, `may_act_for`
  (customers.py) — customer features are for employees, the tag library
  for corp admins, who act only for their own corp's employees.
  server/features/customers.py.
- `may_hand_over`, `may_transfer`, `may_inherit_history`,
  `handover_replaces_owner` (customers.py) — customers pass to a colleague
  of the same corp, at most twice in 90 days, one pending at a time, with
  the earlier chat unless the corp says no; a full group's seat passes
  with them.
  server/admin_commands.py `transfer`, server/ops/transfers.py.
- `may_forward` (forwarding.py) — internal messages reach customers by a
  forward only if the forwarder's corp allows it (`forward_to_customers`).
  server/ops/everyday.py `forward`, in the writer's transaction.
"""

from .archive import archive_corp, group_archive_corp
from .badge import Badge, may_see_directory, seen_by_consumers, seen_by_employees
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
    handover_replaces_owner,
    may_act_for,
    may_add_tag,
    may_administer_corp,
    may_hand_over,
    may_inherit_history,
    may_mass_message,
    may_post_moment,
    may_serve_customers,
    may_transfer,
)
from .direct import CONTACT, FRIEND, Tie, may_message_directly, tie_needed
from .directory import may_look_up, may_use_directory
from .forwarding import may_forward
from .groups import admit_consumers, may_create_group, may_own_group
from .invite import may_invite
from .previews import may_preview
from .receipts import deciding_corp_id, read_state_visible
from .urgent import may_mark_urgent, may_send_urgent
from .verdict import ALLOW, Verdict, refuse

__all__ = [
    "ALLOW", "CONTACT", "FRIEND", "Badge", "BridgeCaps", "CustomerCaps", "Tie", "Verdict",
    "admit_consumers", "archive_corp", "day_number", "deciding_corp_id", "group_archive_corp",
    "handover_replaces_owner", "may_accept_contact", "may_act_for", "may_add_tag",
    "may_administer_corp", "may_befriend", "may_create_group", "may_hand_over",
    "may_inherit_history", "may_invite", "may_look_up", "may_mark_urgent", "may_mass_message",
    "may_forward", "may_message_directly", "may_own_group", "may_post_moment", "may_preview",
    "may_request_contact", "may_see_directory", "may_send_urgent", "may_serve_customers",
    "may_transfer", "may_use_directory", "read_state_visible", "refuse", "seen_by_consumers",
    "seen_by_employees", "tie_needed", "until_next_day_ms",
]
