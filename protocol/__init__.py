"""corpchat wire protocol, version 1: sans-IO codec, frames and client logic.

Imports no trio and no lmdb; docs/protocol.md is the normative text.

The frames are declared by area (frames_core, frames_groups, ...) on the base
of frames.py; importing an area module enters its frames in the decode
tables, and its `__all__` is re-exported here. So a new frame is declared in
its area module and nowhere else, and a new area is two lines below.
"""

from . import (
    frames_core,
    frames_customers,
    frames_everyday,
    frames_groups,
    frames_media,
    frames_moments,
    frames_people,
    frames_platform,
    frames_quiet,
    frames_receipts,
    frames_robots,
    frames_search,
    frames_signin,
)
from .client import ClientSession, SyncComplete, should_reconnect
from .codec import SERVER_FRAME_LIMITS, decode_client_frame, decode_map, decode_server_frame, encode
from .errors import CloseCode, ErrorCode, ProtocolError, Refusal

# Every frame, as its area module's __all__ lists it.
from .frames import CLIENT_FRAMES, SERVER_FRAMES, Frame
from .frames_core import *  # noqa: F403
from .frames_customers import *  # noqa: F403
from .frames_everyday import *  # noqa: F403
from .frames_groups import *  # noqa: F403
from .frames_media import *  # noqa: F403
from .frames_moments import *  # noqa: F403
from .frames_people import *  # noqa: F403
from .frames_platform import *  # noqa: F403
from .frames_quiet import *  # noqa: F403
from .frames_receipts import *  # noqa: F403
from .frames_robots import *  # noqa: F403
from .frames_search import *  # noqa: F403
from .frames_signin import *  # noqa: F403
from .limits import DEFAULT_LIMITS, PROTOCOL_VERSION, SUBPROTOCOL, Limits

__all__ = [
    "CLIENT_FRAMES", "ClientSession", "CloseCode", "DEFAULT_LIMITS", "ErrorCode", "Frame",
    "Limits", "PROTOCOL_VERSION", "ProtocolError", "Refusal", "SERVER_FRAMES",
    "SERVER_FRAME_LIMITS", "SUBPROTOCOL", "SyncComplete", "decode_client_frame", "decode_map",
    "decode_server_frame", "encode", "should_reconnect",
]
__all__ += frames_core.__all__
__all__ += frames_customers.__all__
__all__ += frames_everyday.__all__
__all__ += frames_groups.__all__
__all__ += frames_media.__all__
__all__ += frames_moments.__all__
__all__ += frames_people.__all__
__all__ += frames_quiet.__all__
__all__ += frames_receipts.__all__
__all__ += frames_signin.__all__
__all__ += frames_search.__all__
__all__ += frames_robots.__all__
__all__ += frames_platform.__all__
