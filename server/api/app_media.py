"""Files of app messages: `POST /api/v1/media` and the `attachments` of
`POST /api/v1/messages` (docs/api.md), through the media service (server/media.py).

An app is no user, but the media service keeps an uploader's uid on each file
(for the pending upload's rights, the daily quota) and its corp (the corp quota):
an app uploads as `app_uploader(app)`, a uid no user can have (users' uids count
from 1; these start at 2**62), in the app's corp. Its uploads are its own until
a message names them, like a user's; then whoever may see that message may
fetch them (bridge/media.py), and the sweep removes those never named.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from corpchat.protocol import Attachment, ErrorCode
from corpchat.store import Refused, User, WriteTxn
from corpchat.store import apps as tables
from corpchat.store.records import StoredAttachment

from ..media import MediaService, Uploaded, UploadRefused, check_attachments, commit_attachments
from .router import ApiError, ApiRequest, ApiResponse, Router, json_response

APP_UIDS = 1 << 62  # an app's uploads belong to APP_UIDS + app id
MAX_NAME_BYTES = 1024


def app_uploader(app: tables.AppRecord) -> User:
    return User(APP_UIDS + app.app_id, f"app:{app.app_id}", "enterprise", app.corp_id,
                app.created_ms, name=app.name)


class AppMedia:
    def __init__(self, media: MediaService, authenticate: Any) -> None:
        self.media, self.authenticate = media, authenticate

    def register(self, router: Router) -> None:
        router.add_streamed("POST", "/api/v1/media", self.upload)

    async def upload(self, request: ApiRequest) -> ApiResponse:
        app = self.authenticate(request)
        uploader = app_uploader(app)
        names = parse_qs(request.query).get("name", [""])
        if len(names[0].encode()) > MAX_NAME_BYTES:
            raise ApiError(400, "bad_request", "name: too long", field="name")
        length = request.header(b"content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        refused = self.media.precheck(uploader, declared)
        if refused is None:
            assert request.stream is not None  # a streamed route
            result = await self.media.upload(uploader, names[0], request.stream)
            if isinstance(result, Uploaded):
                return json_response(200, result.json())
            refused = result
        raise _refusal(refused)


def _refusal(refused: UploadRefused) -> ApiError:
    headers = ((b"retry-after", str(refused.retry_after_s).encode()),) \
        if refused.retry_after_s is not None else ()
    return ApiError(refused.status, refused.code, refused.message, headers=headers)


def wanted(media_ids: list[str]) -> tuple[Attachment, ...]:
    return tuple(Attachment(media=m) for m in media_ids)


def claimed_files(w: WriteTxn, app: tables.AppRecord, files: tuple[Attachment, ...]
                  ) -> tuple[StoredAttachment, ...] | Refused:
    """The files an app message names, checked and kept (in the writer's transaction):
    the app's own uploads, or files it may otherwise use."""
    if not files:
        return ()
    found = check_attachments(w, app_uploader(app), files)
    if isinstance(found, Refused):
        return Refused(ErrorCode.NO_SUCH_MEDIA, found.reason)
    commit_attachments(w, found)
    return found
