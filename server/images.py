"""Images with Pillow: dimensions, decompression bombs, thumbnails. Blocking:
every function here runs in a worker thread (trio.to_thread), never on the
event loop — a 20-megapixel JPEG takes a tenth of a second of CPU to decode.

A decompression bomb is a small file that decodes to a huge bitmap (a 50 KB
PNG of 50 000 × 50 000 pixels is 7.5 GB of RGBA). Pillow reads only the
header in `Image.open`, so the pixel count is checked there, before any
`load()`: over `max_pixels` the image is refused. Pillow's own guard
(`Image.MAX_IMAGE_PIXELS`, set to the same limit) stays as a second line.

Thumbnails (64, 320 and 800 pixels on the longer side, never enlarged) are
made once per file, at upload, from the first frame of an animated image,
with the EXIF orientation applied; they are saved without any metadata (no
EXIF, no GPS position, no ICC comments): JPEG for opaque images, WebP when
the image has transparency. They live beside the files as
`media/thumbs/<hh>/<sha256>-<size>.jpg|webp`, written through a temporary file
and a rename, and are removed with their file.
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

THUMB_SIZES = (64, 320, 800)
DEFAULT_MAX_PIXELS = 64_000_000
_EXTENSIONS = ("jpg", "webp")


class ImageTooLarge(Exception):
    """More pixels than the limit: refused before decoding."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int  # as shown: after the EXIF orientation
    height: int
    animated: bool


def set_pixel_limit(max_pixels: int) -> None:
    """Pillow's own bomb guard, at the same limit (it raises at twice it)."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def _open(path: str, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(str(exc)) from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLarge(f"{width}x{height} is over {max_pixels} pixels")
    return image


def _transposed(width: int, height: int, image: Image.Image) -> tuple[int, int]:
    orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def inspect(path: str, thumbs_root: str, sha256: str, max_pixels: int) -> ImageInfo | None:
    """Check an image, make its thumbnails; None when Pillow cannot read it (a
    truncated or malformed file: it is then stored as a plain file).
    Raises ImageTooLarge for a bomb."""
    try:
        image = _open(path, max_pixels)
    except ImageTooLarge:
        raise
    except Exception:  # noqa: BLE001 - see below: any decoder error means "not an image"
        return None
    with image:
        try:
            width, height = _transposed(*image.size, image)
            animated = bool(getattr(image, "is_animated", False))
            _make_thumbnails(image, thumbs_root, sha256)
        except Exception:  # noqa: BLE001 - Pillow's decoders raise many kinds (struct.error,
            # IndexError, OSError...) on hostile data; none may fail the upload itself
            remove_thumbnails(thumbs_root, sha256)
            return None
    return ImageInfo(width, height, animated)


def _make_thumbnails(image: Image.Image, thumbs_root: str, sha256: str) -> None:
    image.seek(0)
    if image.format == "JPEG":  # decode at a reduced scale: far less work
        image.draft("RGB", (max(THUMB_SIZES), max(THUMB_SIZES)))
    frame = ImageOps.exif_transpose(image)
    alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
    frame = frame.convert("RGBA" if alpha else "RGB")
    for size in sorted(THUMB_SIZES, reverse=True):
        frame.thumbnail((size, size), Image.Resampling.LANCZOS)
        _save(frame, thumb_path(thumbs_root, sha256, size, "webp" if alpha else "jpg"))


def _save(frame: Image.Image, path: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "wb") as f:
        # No exif=, icc_profile= or comment: the thumbnail carries pixels only.
        if path.endswith(".webp"):
            frame.save(f, "WEBP", quality=80)
        else:
            frame.save(f, "JPEG", quality=82, optimize=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def thumb_path(thumbs_root: str, sha256: str, size: int, ext: str) -> str:
    return os.path.join(thumbs_root, sha256[:2], f"{sha256}-{size}.{ext}")


def find_thumbnail(thumbs_root: str, sha256: str, size: int) -> tuple[str, str] | None:
    """(path, MIME type) of a stored thumbnail, if the image has one."""
    for ext in _EXTENSIONS:
        path = thumb_path(thumbs_root, sha256, size, ext)
        if os.path.exists(path):
            return path, "image/webp" if ext == "webp" else "image/jpeg"
    return None


def remove_thumbnails(thumbs_root: str, sha256: str) -> None:
    for size in THUMB_SIZES:
        for ext in _EXTENSIONS:
            try:
                os.unlink(thumb_path(thumbs_root, sha256, size, ext))
            except FileNotFoundError:
                pass
