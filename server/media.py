"""Media: uploads, the rights to fetch, signed URLs and the sweep (docs/protocol.md §30).

An upload streams through here chunk by chunk: each chunk is written and
hashed by a media thread (media_threads.py: few, at a lower priority), so
neither the event loop nor memory ever holds the file — at most one chunk
per upload is in flight, and
the connection reads the next one only after it was written (backpressure:
a fast client fills its TCP window and waits). Once the body is complete the
file is fsynced and renamed to its hash (store/blobs.py), its type sniffed
from its first bytes (mediatypes.py), an image checked and thumbnailed by
Pillow in a thread (images.py), and a pending record committed through the
writer with the quotas checked inside that transaction; only then does the
client get its 201.

Fetching asks bridge/media.py with the facts store/media.py reads, in one
read transaction. A signed URL is an HMAC of (media id, user, expiry) with
a secret kept in LMDB (so URLs survive a restart and a restore): a fetch with
it is checked as that user's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from corpchat.bridge.media import may_attach, may_fetch
from corpchat.protocol import Attachment, ErrorCode, MediaInfo, ProtocolError
from corpchat.protocol.clock import Clock
from corpchat.store import StorageError, Store, User, copy_media
from corpchat.store import media as records
from corpchat.store.blobs import Blob, BlobStorageFull, BlobStore, BlobTooLarge, BlobUpload
from corpchat.store.errors import Refused
from corpchat.store.records import StoredAttachment, pack, unpack

from . import images, mediatypes
from .config import MediaSettings
from .media_threads import THREADS
from .upload_budget import UploadBudget
from .upload_pace import UploadPace

log = logging.getLogger("corpchat.media")

DAY_MS = 86_400_000
MAX_NAME_CHARS = 255
_SECRET_KEY = b"media_url_secret"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")

Write = Callable[[Any], Awaitable[Any]]  # App.write: submit an operation, await its result
Files = tuple[StoredAttachment, ...]  # the checked attachments of a request


@dataclass(slots=True)
class MediaCounts:
    uploads: int = 0
    upload_bytes: int = 0
    refused: int = 0
    downloads: int = 0
    download_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Uploaded:
    record: records.MediaRecord

    def json(self) -> dict[str, object]:
        r = self.record
        out: dict[str, object] = {"media": r.media_id, "size": r.size, "sha256": r.sha256,
                                  "mime": r.mime, "name": r.name,
                                  "kind": mediatypes.kind_of(r.mime)}
        if r.width:
            out.update(width=r.width, height=r.height)
        if r.duration_ms:
            out["duration_ms"] = r.duration_ms
        if r.animated:
            out["animated"] = True
        return out


@dataclass(frozen=True, slots=True)
class UploadRefused:
    status: int
    code: str
    message: str
    retry_after_s: int | None = None


@dataclass(frozen=True, slots=True)
class Servable:
    """A file (or a thumbnail) someone may fetch."""

    path: str
    size: int
    mime: str
    etag: str
    name: str
    inline: bool  # shown by a browser (images, audio, video) rather than downloaded


def clean_name(raw: str) -> str:
    """A file name safe to store and show: no directories, no control characters."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters (a right-to-left override makes "gpj.exe" look
    # like "exe.jpg") become "_".
    name = "".join("_" if unicodedata.category(c) in ("Cc", "Cf") else c for c in name)
    return _UNSAFE_NAME.sub("_", name).strip()[:MAX_NAME_CHARS]


def media_limits(settings: MediaSettings) -> dict[str, int]:
    """The keys 1.4 adds to `welcome.limits` (§30.3)."""
    return {"max_attachments": settings.max_attachments,
            "max_upload_bytes": settings.max_upload_bytes}


def requested_attachments(settings: MediaSettings,
                          wanted: tuple[Attachment, ...] | None) -> tuple[Attachment, ...]:
    """A request's attachments, checked for what needs no lookup (§30.3)."""
    files = wanted or ()
    if len(files) > settings.max_attachments:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"at most {settings.max_attachments} attachments")
    if any(a.name is not None and len(a.name) > MAX_NAME_CHARS for a in files):
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"an attachment's name has at most {MAX_NAME_CHARS} characters")
    return files


def attachment_of(record: records.MediaRecord, name: str | None = None) -> StoredAttachment:
    """The copy of a record a message carries."""
    return StoredAttachment(record.media_id, clean_name(name) if name else record.name,
                            record.size, record.mime, record.sha256,
                            mediatypes.kind_of(record.mime), record.width, record.height,
                            record.duration_ms, record.animated)


def media_info(a: StoredAttachment) -> MediaInfo:
    """A stored attachment as the `media` map of docs/protocol.md §30.3 (msg, edited)."""
    return MediaInfo(media=a.media_id, name=a.name, size=a.size, mime=a.mime, sha256=a.sha256,
                     kind=a.kind, width=a.width or None, height=a.height or None,
                     duration_ms=a.duration_ms or None, animated=a.animated or None)


def next_midnight_ms(now_ms: int) -> int:
    return (now_ms // DAY_MS + 1) * DAY_MS


class MediaService:
    """The media of one data directory."""

    def __init__(self, store: Store, clock: Clock, settings: MediaSettings,
                 write: Write) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.write = write
        root = os.path.join(store.path, "media")
        self.blobs = BlobStore(root)
        self.thumbs = os.path.join(root, "thumbs")
        self._secret = b""
        # Held while files are removed and while a backup copies them: a backup's
        # snapshot never names a file the sweep removed before it was copied.
        self.removals = trio.Lock()
        self.counts = MediaCounts()
        self.budget = UploadBudget(settings.upload_bytes_in_flight)
        self.pace = UploadPace(settings.upload_bytes_per_s, settings.upload_burst_bytes, clock)
        images.set_pixel_limit(settings.max_image_pixels)

    async def start(self) -> None:
        """Load (or create, once) the secret of signed URLs."""
        self._secret = await self.write(_ensure_secret)

    def stats(self) -> dict[str, int]:
        """The `admin stats` figures (and /metrics)."""
        files, size = self.store.read(records.stats)
        c = self.counts
        return {"media_files": files, "media_bytes": size, "media_uploads": c.uploads,
                "media_upload_bytes": c.upload_bytes, "media_refused": c.refused,
                "media_downloads": c.downloads, "media_download_bytes": c.download_bytes,
                "media_upload_bytes_in_flight": self.budget.pending,
                "media_uploads_busy": self.budget.busy_refusals}

    async def backup(self, path: str) -> tuple[int, int, int]:
        """`admin backup`: the database's snapshot, then every file it refers to;
        (database bytes, files, file bytes). No sweep removes a file meanwhile."""
        def take() -> tuple[int, int, int]:
            size = self.store.backup(path)
            return size, *copy_media(self.store.path, path, needed_by=path)

        async with self.removals:
            return await trio.to_thread.run_sync(take)

    # ----- uploads -----

    def precheck(self, user: User, declared: int | None) -> UploadRefused | None:
        """What can be refused before reading the body (Content-Length, quotas)."""
        if declared is not None and declared > self.settings.max_upload_bytes:
            return _too_large(self.settings.max_upload_bytes)
        return self._quota_refusal(user, declared or 0)

    def _quota_refusal(self, user: User, size: int) -> UploadRefused | None:
        now = self.clock.now_ms()
        day = now // DAY_MS
        used = self.store.read(records.uploaded_today, uid=user.uid, day=day)
        if used + size > self.settings.upload_bytes_per_day:
            return _over_quota(now)
        quota = self.settings.corp_media_bytes
        if quota and user.corp_id and \
                self.store.read(records.corp_bytes, corp_id=user.corp_id) + size > quota:
            return UploadRefused(507, "corp_quota_full", "the corp's media quota is full")
        return None

    async def upload(self, user: User, name: str,
                     body: AsyncIterator[bytes]) -> Uploaded | UploadRefused:
        """Stream a body to a durable file and record it. Cancelling is safe: the
        partial file is removed."""
        result = await self._upload(user, name, body)
        if isinstance(result, Uploaded):
            self.counts.uploads += 1
            self.counts.upload_bytes += result.record.size
        else:
            self.counts.refused += 1
        return result

    async def _upload(self, user: User, name: str,
                      body: AsyncIterator[bytes]) -> Uploaded | UploadRefused:
        try:
            upload = await THREADS.run(self.blobs.begin,
                                                   self.settings.max_upload_bytes)
        except StorageError as exc:
            return _storage_refusal(exc)
        try:
            head, blob = await self._receive(upload, body)
        except BaseException:
            await THREADS.run(upload.abort)
            raise
        if isinstance(blob, UploadRefused):
            await THREADS.run(upload.abort)
            return blob
        try:
            return await self._record(user, clean_name(name), head, blob)
        finally:
            self.blobs.release(blob.sha256)
            await self._forget_if_unused(blob.sha256)

    async def _receive(self, upload: BlobUpload, body: AsyncIterator[bytes]
                       ) -> tuple[bytes, Blob | UploadRefused]:
        head = b""
        try:
            async for chunk in body:
                if len(head) < mediatypes.SNIFF_BYTES:
                    head += chunk[:mediatypes.SNIFF_BYTES - len(head)]
                await self.pace.take(len(chunk))
                await THREADS.run(upload.write, chunk)
            if upload.size == 0:
                return head, UploadRefused(400, "bad_request", "the body is empty")
            return head, await THREADS.run(upload.finish)
        except BlobTooLarge:
            return head, _too_large(self.settings.max_upload_bytes)
        except StorageError as exc:
            return head, _storage_refusal(exc)

    async def _record(self, user: User, name: str, head: bytes,
                      blob: Blob) -> Uploaded | UploadRefused:
        mime = mediatypes.sniff(head)
        try:
            probe = await THREADS.run(self._probe, blob, mime)
        except images.ImageTooLarge as exc:
            return UploadRefused(422, "image_too_large", str(exc))
        mime, width, height, duration, animated = probe
        now = self.clock.now_ms()
        record = records.MediaRecord(records.new_media_id(), blob.sha256, blob.size, mime,
                                     user.uid, now, name, width, height, duration,
                                     user.corp_id, animated)
        expires = now + self.settings.unreferenced_s * 1000
        try:
            result = await self.write(lambda w: _add_pending(w, record, expires, self.settings))
        except StorageError as exc:  # the writer stopped: the server is shutting down
            return _storage_refusal(exc)
        if result == "quota_exceeded":
            return _over_quota(now)
        if result == "corp_quota_full":
            return UploadRefused(507, "corp_quota_full", "the corp's media quota is full")
        if isinstance(result, BaseException):
            return _storage_refusal(result)
        return Uploaded(record)

    def _probe(self, blob: Blob, mime: str) -> tuple[str, int, int, int, bool]:
        """(mime, width, height, duration ms, animated), in a worker thread."""
        path = self.blobs.path(blob.sha256)
        if mime in mediatypes.DECODABLE_IMAGES:
            info = images.inspect(path, self.thumbs, blob.sha256,
                                  self.settings.max_image_pixels)
            if info is None:  # an image's signature, but Pillow cannot read it
                return mediatypes.OCTET_STREAM, 0, 0, 0, False
            return mime, info.width, info.height, 0, info.animated
        with open(path, "rb") as f:
            return mime, 0, 0, mediatypes.duration_ms(f, mime), False

    async def _forget_if_unused(self, sha256: str) -> None:
        """Remove a file no record needs (a refused upload's; not if deduplicated)."""
        if self.store.read(records.hash_records, sha256=sha256) == 0:
            if await THREADS.run(self.blobs.remove, sha256):
                await THREADS.run(images.remove_thumbnails, self.thumbs, sha256)

    # ----- fetching -----

    def servable(self, viewer: User, media_id: str, thumb: int | None) -> Servable | None:
        """The file or thumbnail if `viewer` may fetch it; None: 404."""
        found = self.store.read(records.get_media, media_id=media_id)
        if found is None:
            return None
        record = found[0]

        def decide(txn: Any, db: Any) -> bool:
            sightings = records.sightings(txn, db, media_id=media_id, uid=viewer.uid)
            return may_fetch(viewer, uploader=record.uploader, sightings=sightings).allowed

        if not self.store.read(decide):
            return None
        if thumb is None:
            path = self.blobs.path(record.sha256)
            if not os.path.exists(path):  # a data directory restored without its media/
                log.error("media %s: its file %s is missing", media_id, path)
                return None
            return Servable(path, record.size, record.mime, f'"{record.sha256}"', record.name,
                            _inline(record.mime))
        found_thumb = images.find_thumbnail(self.thumbs, record.sha256, thumb)
        if found_thumb is None:
            return None
        path, mime = found_thumb
        stem = os.path.splitext(record.name)[0] or "thumbnail"
        ext = ".webp" if mime == "image/webp" else ".jpg"
        return Servable(path, os.path.getsize(path), mime, f'"{record.sha256}-{thumb}"',
                        f"{stem}-{thumb}{ext}", True)

    # ----- signed URLs -----

    def _signature(self, media_id: str, uid: int, expires: int) -> str:
        message = f"{media_id}\n{uid}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def signed_url(self, uid: int, media_id: str, thumb: int | None) -> tuple[str, int]:
        expires = self.clock.now_ms() + self.settings.url_ttl_s * 1000
        url = (f"/media/{media_id}?uid={uid}&exp={expires}"
               f"&sig={self._signature(media_id, uid, expires)}")
        return (url + f"&thumb={thumb}" if thumb else url), expires

    def signed_user(self, media_id: str, uid: int, expires: int, sig: str) -> int | None:
        """The uid a signed URL speaks for, if its signature holds and it has not expired."""
        if not self._secret or expires < self.clock.now_ms():
            return None
        if not hmac.compare_digest(self._signature(media_id, uid, expires), sig):
            return None
        return uid

    # ----- the sweep -----

    async def sweep_forever(self) -> None:
        """Remove uploads nobody referenced in time; runs until cancelled (safe)."""
        while True:
            await trio.sleep(self.settings.sweep_interval_s)
            try:
                await self.sweep_once()
            except StorageError as exc:
                log.warning("media sweep failed: %s", exc)

    async def sweep_once(self) -> int:
        now = self.clock.now_ms()
        orphans: list[str] = []
        while True:
            batch = await self.write(lambda w: w.do(records.sweep, now_ms=now, limit=1000))
            if isinstance(batch, BaseException):
                raise StorageError(str(batch))
            orphans += batch
            if len(batch) < 1000:
                break
        async with self.removals:
            for sha256 in orphans:
                await self._forget_if_unused(sha256)
        return len(orphans)


def _inline(mime: str) -> bool:
    return mediatypes.kind_of(mime) != mediatypes.FILE and mime != "image/heic"


def _too_large(limit: int) -> UploadRefused:
    return UploadRefused(413, "too_large", f"a file holds at most {limit} bytes")


def _over_quota(now_ms: int) -> UploadRefused:
    wait_s = max(1, -(-(next_midnight_ms(now_ms) - now_ms) // 1000))
    return UploadRefused(429, "quota_exceeded", "today's upload quota is used up", wait_s)


def _storage_refusal(exc: BaseException) -> UploadRefused:
    if isinstance(exc, BlobStorageFull):
        return UploadRefused(507, "storage_unavailable", "the server's disk is full")
    log.error("media storage failed: %s", exc)
    return UploadRefused(507, "storage_unavailable", "the media store failed")


# ----- writer operations -----

def _ensure_secret(w: Any) -> bytes:
    raw = w.txn.get(_SECRET_KEY, db=w.db["meta"])
    if raw is not None:
        return bytes(unpack(raw))
    secret = secrets.token_bytes(32)
    w.txn.put(_SECRET_KEY, pack(secret), db=w.db["meta"])
    return secret


def _add_pending(w: Any, record: records.MediaRecord, expires_ms: int,
                 settings: MediaSettings) -> records.MediaRecord | str:
    """The authoritative quota checks, then the pending record; refused, the HTTP
    error code (quota_exceeded, corp_quota_full)."""
    day = record.created_ms // DAY_MS
    used = w.do(records.uploaded_today, uid=record.uploader, day=day)
    if used + record.size > settings.upload_bytes_per_day:
        return "quota_exceeded"
    quota = settings.corp_media_bytes
    if quota and record.corp_id and \
            w.do(records.corp_bytes, corp_id=record.corp_id) + record.size > quota:
        return "corp_quota_full"
    w.do(records.add_pending, record, expires_ms=expires_ms, day=day)
    return record


def check_attachments(w: Any, user: User, wanted: tuple[Any, ...]
                      ) -> tuple[StoredAttachment, ...] | Refused:
    """Check every attachment a request names (in the writer's transaction; nothing
    is written): the copies its message will carry, or the refusal."""
    out = []
    for item in wanted:
        found = w.do(records.get_media, media_id=item.media)
        if found is None:
            return Refused(ErrorCode.NO_SUCH_MEDIA, f"no media {item.media} you may use")
        record, committed = found
        sightings = records.sightings(w.txn, w.db, media_id=item.media, uid=user.uid)
        verdict = may_attach(user, uploader=record.uploader, committed=committed,
                             sightings=sightings)
        if not verdict.allowed:
            return Refused(ErrorCode(verdict.code), f"no media {item.media} you may use")
        out.append(attachment_of(record, item.name))
    return tuple(out)


def commit_attachments(w: Any, found: tuple[StoredAttachment, ...]) -> None:
    """Keep the records of checked attachments: the request that carries them is stored."""
    for attachment in found:
        w.do(records.claim, media_id=attachment.media_id)


def claim_attachments(w: Any, user: User, wanted: tuple[Any, ...]
                      ) -> tuple[StoredAttachment, ...] | Refused:
    """check_attachments, then commit_attachments: for a caller that refuses nothing
    after it."""
    found = check_attachments(w, user, wanted)
    if not isinstance(found, Refused):
        commit_attachments(w, found)
    return found


def with_attachments(op: Callable[..., Any], sender: User, client_msg_id: str,
                     wanted: tuple[Any, ...]) -> Callable[..., Any]:
    """Wrap a send's writer operation `op(w, urgent=False, found=())` so that it first
    checks and claims the request's attachments, in the same transaction. A repeat
    of a stored message goes straight to `op`, which answers its original ack."""
    if not wanted:
        return op

    def claimed(w: Any, urgent: bool = False) -> Any:
        if w.find_sent(uid=sender.uid, client_msg_id=client_msg_id) is not None:
            return op(w, urgent)
        found = check_attachments(w, sender, wanted)
        if isinstance(found, Refused):
            return found
        result = op(w, urgent, found)
        if not isinstance(result, Refused):  # a refused send keeps nothing
            commit_attachments(w, found)
        return result

    return claimed
