"""docs/api.md's signature-verification snippets accept what the server signs."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest

from corpchat.server.api.callbacks import sign

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "api.md")


def _block(language: str) -> str:
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)
    return next(b for b in blocks if "verified" in b)


def _signed(secret: str, body: bytes) -> tuple[str, str]:
    timestamp = str(int(time.time()))
    return timestamp, sign(hashlib.sha256(secret.encode()).digest(), timestamp, body)


def test_the_python_snippet_verifies():
    scope: dict = {}
    exec(_block("python"), scope)  # noqa: S102 - the documentation's own code
    body = '{"app_id": 1, "events": [{"type": "message", "data": {"text": "好"}}]}'.encode()
    timestamp, signature = _signed("s3cret", body)
    assert scope["verified"]("s3cret", timestamp, signature, body)
    assert not scope["verified"]("other", timestamp, signature, body)
    assert not scope["verified"]("s3cret", timestamp, signature, body + b" ")
    assert not scope["verified"]("s3cret", str(int(timestamp) - 3600), signature, body)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed here")
def test_the_javascript_snippet_verifies():
    body = '{"app_id":1,"events":[]}'
    timestamp, signature = _signed("s3cret", body.encode())
    script = _block("javascript") + (
        f"\nconsole.log(verified('s3cret', '{timestamp}', '{signature}', Buffer.from('{body}')),"
        f" verified('x', '{timestamp}', '{signature}', Buffer.from('{body}')));\n")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["true", "false"], out.stderr
