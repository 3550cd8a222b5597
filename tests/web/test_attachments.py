"""Attachments in the web client (revision 1.4, §29): an image uploaded with progress shows
as a thumbnail for the receiver; a file shows its name and size.

Runs once the server speaks 1.4 (the attachments feature); the client shows the
attach button only then.
"""

from __future__ import annotations

import struct
import zlib

import pytest
from playwright.sync_api import expect

from corpchat.protocol import CLIENT_FRAMES

from .test_scenarios import open_chat_with, send, start_chat

pytestmark = pytest.mark.skipif("media.url" not in CLIENT_FRAMES,
                                reason="the server has no attachments (revision 1.4) yet")


def png(width: int, height: int) -> bytes:
    """A real PNG, one colour, built with zlib."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"\x2f\x6f\xed" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_an_image_shows_as_a_thumbnail_for_the_receiver(web_server, person):
    ned = person(web_server.employee("ned8", name="Ned Hall"))
    ola = person(web_server.employee("ola8", name="Ola Berg"))
    start_chat(ned, "ola8")
    ned.locator(".composer input[type=file]").set_input_files(
        [{"name": "chart.png", "mimeType": "image/png", "buffer": png(120, 80)},
         {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"budget notes\n" * 100}])
    expect(ned.locator(".upload .state.sent")).to_have_count(2)  # both uploaded: "ready"
    send(ned, "The chart and my notes")
    open_chat_with(ola, "Ned Hall")
    image = ola.locator(".message .thumb img")
    expect(image).to_be_visible()
    assert ola.locator(".message .thumb img").evaluate(
        "img => new Promise((ok) => img.complete && img.naturalWidth ? ok(img.naturalWidth)"
        " : img.addEventListener('load', () => ok(img.naturalWidth)))") == 120
    expect(ola.locator(".message .file")).to_contain_text("notes.txt")
    expect(ola.locator(".message .file")).to_contain_text("1.3 KB")
    expect(ola.locator(".message .bubble")).to_have_text(["The chart and my notes"])
