"""The request handlers, one module per feature area, each with its own routes.

  sign_in    hello, register (open sign-up), ping
  credentials  login, redeem (passwords, invites), devices, device.revoke, password.change
  messaging  send, announce (and urgent), typing
  history    sync, history, conversations
  receipts   read, remind, receipts
  groups     group.* changes, recall, group.info, group.list
  contacts   directory, contacts, friends, pending requests
  customers  tags, mass messages, moments, transfer refusals
  quiet      quiet hours, breaks, user.info, push devices
  search     search (the index is corpchat.search; its thread starts in app.py)
  media      media.url (uploads and downloads are HTTP: server/media_http.py)
  robots     robot.add, robot.remove, robot.list (group robots, docs/api.md)

Adding a request type touches its frame definition (protocol/frames.py)
and its feature module: `@routes.handles(NewFrame)` on its handler. A new
feature module is listed in MODULES (and given its services in app.py).
"""

from . import (
    contacts,
    credentials,
    customers,
    everyday,
    groups,
    history,
    media,
    messaging,
    quiet,
    receipts,
    robots,
    search,
    sign_in,
)

MODULES = (sign_in, credentials, messaging, history, receipts, groups, contacts, customers,
           quiet, search, media, everyday, robots)

__all__ = ["MODULES", "contacts", "credentials", "customers", "everyday", "groups", "history",
           "media", "messaging", "quiet", "receipts", "robots", "search", "sign_in"]
