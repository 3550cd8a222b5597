"""Media over the WebSocket: `media.url`, a signed URL for a file (docs/protocol.md §29).

Uploads and downloads are HTTP on the same port (server/media_http.py); the
attachments of `send` and the other requests are checked by their own
feature modules with server/media.py's `with_attachments`.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpchat.protocol import ErrorCode, MediaUrl, MediaUrlReply, ProtocolError

from ..images import THUMB_SIZES
from ..media import MediaService
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame
from .common import bad

routes = Routes()


@dataclass(slots=True)
class Media(Services):
    media: MediaService


@routes.handles(MediaUrl)
def media_url(s: Media, session: Session, frame: MediaUrl) -> None:
    """A read, answered at once: the same rights as GET /media/<id>."""
    if frame.thumb is not None and frame.thumb not in THUMB_SIZES:
        raise bad(f"thumb is one of {', '.join(map(str, THUMB_SIZES))}")
    viewer = session.authed_user
    if s.media.servable(viewer, frame.media, None) is None:
        raise ProtocolError(ErrorCode.NO_SUCH_MEDIA, f"no media {frame.media} you may fetch")
    url, expires = s.media.signed_url(viewer.uid, frame.media, frame.thumb)
    session.push(event_frame(MediaUrlReply(re=frame.id, media=frame.media, url=url,
                                           expires=expires)))
