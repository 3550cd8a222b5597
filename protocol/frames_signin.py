"""Sign-in and devices (revision 1.3): `login` and `redeem` before `hello`, and a
user's own devices after it (docs/protocol.md §29)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame

__all__ = [
    "Device",
    "DeviceRevoke",
    "Devices",
    "DevicesReply",
    "LoggedIn",
    "Login",
    "PasswordChange",
    "Redeem",
]


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class Login(Frame):
    """Trade a handle and password for a new device token (before `hello`)."""

    TYPE: ClassVar[str] = "login"
    id: int
    handle: str
    password: str
    device: str  # a name for this device, shown in `devices` (cut to 100 characters)


@client_frame
@dataclass(frozen=True, slots=True)
class Redeem(Frame):
    """Set the first password with an invite code, and get a device token (before `hello`)."""

    TYPE: ClassVar[str] = "redeem"
    id: int
    invite: str
    password: str
    device: str


@client_frame
@dataclass(frozen=True, slots=True)
class Devices(Frame):
    """The caller's devices: one per token."""

    TYPE: ClassVar[str] = "devices"
    id: int


@client_frame
@dataclass(frozen=True, slots=True)
class DeviceRevoke(Frame):
    """Sign one of the caller's devices out: its token ends, its connections close (4001)."""

    TYPE: ClassVar[str] = "device.revoke"
    id: int
    token_id: str


@client_frame
@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordChange(Frame):
    """Change (or first set) the caller's password; other devices are signed out
    unless `keep_devices`."""

    TYPE: ClassVar[str] = "password.change"
    id: int
    old: str | None = None  # required once the account has a password
    new: str
    keep_devices: bool | None = None


# ----- replies: server to client --------------------------------------------


@server_frame
@dataclass(frozen=True, slots=True)
class LoggedIn(Frame):
    TYPE: ClassVar[str] = "logged_in"
    re: int
    token: str  # the new device token, for `hello`; shown only this once
    token_id: str  # its public id, as `devices` lists it


@nested_frame
@dataclass(frozen=True, slots=True)
class Device(Frame):
    """One token of the caller's, and what the server knows of its use."""

    TYPE: ClassVar[str] = "device"
    token_id: str
    device: str  # the name given at login (or by the last `hello`); "" if none
    created: int  # ms since the epoch
    current: bool  # the token this connection signed in with
    last_seen: int | None = None  # ms, to the minute; absent if never used
    address: str | None = None  # the remote address of that use


@server_frame
@dataclass(frozen=True, slots=True)
class DevicesReply(Frame):
    TYPE: ClassVar[str] = "devices"
    re: int
    devices: tuple[Device, ...]
