"""The callback signature contract of docs/api.md, end to end: a real server signs a
real callback, and a real HTTP receiver on 127.0.0.1 checks it with the
documentation's own snippets (the Python one run in the receiver, the JavaScript one
in Node over the recorded request), with the secret exactly as `app add` printed it.

The clock is a ManualClock set to the real time: the snippets refuse timestamps more
than 300 s away from the receiver's own clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
from typing import Any

import pytest
import trio

from corpchat.protocol.clock import ManualClock

from .callback_receiver import Receiver
from .test_api_docs import _block


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(now_ms=time.time_ns() // 1_000_000)


class DocReceiver(Receiver):
    """Verifies each request with docs/api.md's Python snippet, and keeps the raw
    requests for the JavaScript one."""

    def __init__(self) -> None:
        super().__init__()
        scope: dict[str, Any] = {}
        exec(_block("python"), scope)  # noqa: S102 - the documentation's own code
        self.snippet = scope["verified"]
        self.raw: list[tuple[str, str, bytes]] = []

    def verified(self, headers: Any, body: bytes) -> bool:
        timestamp = headers.get("x-corpchat-timestamp", "")
        signature = headers.get("x-corpchat-signature", "")
        self.raw.append((timestamp, signature, body))
        return bool(self.snippet(self.secret, timestamp, signature, body))


@pytest.fixture
def receiver():
    r = DocReceiver()
    yield r
    r.close()


async def _one_event(server, receiver: DocReceiver) -> dict:
    await server.user("ann")
    app = await server.admin("app.add", corp="acme", name="HR", callback_url=receiver.url)
    receiver.secret = app["secret"]
    dept = (await server.admin("dept.add", corp="acme", name="Sales"))["dept"]
    await server.admin("user.set", handle="ann", dept=dept)
    with trio.fail_after(10):
        while not receiver.events and not receiver.bad_signatures:
            await trio.sleep(0.01)
    return app


async def test_the_python_snippet_verifies_a_real_callback(server, receiver):
    app = await _one_event(server, receiver)
    assert receiver.bad_signatures == 0
    assert [e["type"] for e in receiver.events] == ["department.joined"]
    timestamp, signature, body = receiver.raw[0]
    assert json.loads(body)["app_id"] == app["app_id"]
    # The key is the secret's raw SHA-256 digest: the secret itself, or the digest's hex,
    # does not verify.
    message = timestamp.encode() + body
    secret = app["secret"].encode()
    for wrong_key in (secret, hashlib.sha256(secret).hexdigest().encode()):
        assert hmac.new(wrong_key, message, hashlib.sha256).hexdigest() != signature
    assert hmac.new(hashlib.sha256(secret).digest(), message,
                    hashlib.sha256).hexdigest() == signature
    assert not receiver.snippet("not the secret", timestamp, signature, body)


async def test_a_rotated_secret_signs_with_the_new_digest(server, receiver):
    app = await _one_event(server, receiver)
    rotated = await server.admin("app.rotate_secret", app=app["app_id"])
    receiver.secret = rotated["secret"]
    await server.admin("user.set", handle="ann", dept=0)
    with trio.fail_after(10):
        while len(receiver.events) < 2 and not receiver.bad_signatures:
            await trio.sleep(0.01)
    assert receiver.bad_signatures == 0
    assert receiver.types() == ["department.joined", "department.left"]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed here")
async def test_the_javascript_snippet_verifies_a_real_callback(server, receiver):
    app = await _one_event(server, receiver)
    timestamp, signature, body = receiver.raw[0]
    script = _block("javascript") + (
        "\nconst [secret, ts, sig, body] = JSON.parse(process.argv[1]);\n"
        "console.log(verified(secret, ts, sig, Buffer.from(body, 'base64')),"
        " verified(secret + 'x', ts, sig, Buffer.from(body, 'base64')));\n")
    args = json.dumps([app["secret"], timestamp, signature, base64.b64encode(body).decode()])
    out = await trio.to_thread.run_sync(lambda: subprocess.run(
        ["node", "-e", script, args], capture_output=True, text=True, timeout=30))
    assert out.stdout.split() == ["true", "false"], out.stderr
