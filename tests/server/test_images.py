"""Sniffing and images: types from the bytes, bombs refused, thumbnails stripped."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from corpchat.server import images, mediatypes


def _png(size=(40, 30), mode="RGB", color=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def _jpeg_with_exif(size=(60, 20), orientation=6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # a GPS position
    out = io.BytesIO()
    Image.new("RGB", size, (0, 120, 0)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize(("head", "mime"), [
    (_png(), "image/png"),
    (b"\xff\xd8\xff\xe0" + bytes(60), "image/jpeg"),
    (b"GIF89a" + bytes(60), "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
    (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
    (b"\0\0\0\x18ftypisom", "video/mp4"),
    (b"\0\0\0\x18ftypM4A ", "audio/mp4"),
    (b"\0\0\0\x18ftypqt  ", "video/quicktime"),
    (b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\x1fB\x82\x84webm", "video/webm"),
    (b"#!AMR\n", "audio/amr"),
    (b"%PDF-1.7", "application/pdf"),
    (b"<html><script>alert(1)</script>", "application/octet-stream"),
    (b"", "application/octet-stream"),
])
def test_sniffed_types(head, mime):
    assert mediatypes.sniff(head) == mime


@given(st.binary(max_size=80))
def test_any_bytes_sniff_to_a_type(data):
    assert "/" in mediatypes.sniff(data)


def test_kinds():
    assert mediatypes.message_kind(["image/png", "image/jpeg"]) == "image"
    assert mediatypes.message_kind(["audio/amr"]) == "voice"
    assert mediatypes.message_kind(["video/mp4"]) == "video"
    assert mediatypes.message_kind(["image/png", "video/mp4"]) == "file"
    assert mediatypes.message_kind(["image/heic"]) == "file"  # not decodable here


def test_wav_duration():
    rate, seconds = 8000, 3
    data = bytes(rate * 2 * seconds)
    wav = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
           + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
           + b"data" + struct.pack("<I", len(data)) + data)
    assert mediatypes.duration_ms(io.BytesIO(wav), "audio/wav") == 3000


def test_mp4_duration():
    mvhd = b"\0\0\0\0" + bytes(8) + struct.pack(">II", 600, 600 * 42) + bytes(80)
    moov = struct.pack(">I4s", 8 + 8 + len(mvhd), b"moov") + struct.pack(
        ">I4s", 8 + len(mvhd), b"mvhd") + mvhd
    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
    assert mediatypes.duration_ms(io.BytesIO(ftyp + moov), "video/mp4") == 42000


def test_a_png_gets_dimensions_and_three_thumbnails(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(_png((1600, 900)))
    info = images.inspect(str(path), str(tmp_path / "thumbs"), "ab" * 32, 10**8)
    assert info == images.ImageInfo(1600, 900, False)
    for size in images.THUMB_SIZES:
        thumb, mime = images.find_thumbnail(str(tmp_path / "thumbs"), "ab" * 32, size)
        assert mime == "image/jpeg"
        with Image.open(thumb) as im:
            assert max(im.size) == size


def test_exif_orientation_applied_and_metadata_stripped(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg_with_exif((60, 20), orientation=6))
    info = images.inspect(str(path), str(tmp_path / "t"), "cd" * 32, 10**8)
    assert (info.width, info.height) == (20, 60)  # rotated a quarter turn
    thumb, _ = images.find_thumbnail(str(tmp_path / "t"), "cd" * 32, 64)
    with Image.open(thumb) as im:
        assert im.size == (20, 60)  # portrait, never enlarged
        assert not im.getexif() and "exif" not in im.info


def test_transparency_gives_webp(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(_png((100, 100), "RGBA", (0, 0, 0, 0)))
    images.inspect(str(path), str(tmp_path / "t"), "ef" * 32, 10**8)
    assert images.find_thumbnail(str(tmp_path / "t"), "ef" * 32, 64)[1] == "image/webp"


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png((5000, 5000), "1", 0))  # a few KB, 25 megapixels
    assert path.stat().st_size < 10_000
    with pytest.raises(images.ImageTooLarge):
        images.inspect(str(path), str(tmp_path / "t"), "12" * 32, 1_000_000)
    assert images.find_thumbnail(str(tmp_path / "t"), "12" * 32, 64) is None


def test_a_truncated_image_is_a_plain_file(tmp_path):
    path = tmp_path / "cut.png"
    data = _png((300, 300), color=(1, 2, 3))
    path.write_bytes(data[:len(data) // 2])
    assert images.inspect(str(path), str(tmp_path / "t"), "34" * 32, 10**8) is None
    assert images.find_thumbnail(str(tmp_path / "t"), "34" * 32, 64) is None


def test_an_animated_gif(tmp_path):
    path = tmp_path / "a.gif"
    frames = [Image.new("RGB", (50, 40), (80 * i, 0, 0)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    info = images.inspect(str(path), str(tmp_path / "t"), "56" * 32, 10**8)
    assert info == images.ImageInfo(50, 40, True)
