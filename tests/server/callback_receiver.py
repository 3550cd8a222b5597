"""A real HTTP receiver on 127.0.0.1 for callback tests: it checks every request's
signature as docs/api.md tells an integrator to, and records what arrived."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.bad_signatures = 0
        self.answers: list[int] = []  # statuses to answer next (then 200)
        self.down = False  # answer 503 to everything (the ids seen are still recorded)
        self.seen: list[str] = []  # every event id that arrived, acknowledged or not
        self.redirect_to: str | None = None  # answer 302 to there
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = receiver.take(self.headers, body)
                self.send_response(status)
                if status == 302:
                    self.send_header("location", receiver.redirect_to or "/")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/corpchat"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, headers: Any, body: bytes) -> bool:
        """The verification snippet of docs/api.md."""
        timestamp = headers.get("x-corpchat-timestamp", "")
        key = hashlib.sha256(self.secret.encode()).digest()
        expected = hmac.new(key, timestamp.encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("x-corpchat-signature", ""))

    def take(self, headers: Any, body: bytes) -> int:
        with self._lock:
            self.requests += 1
            if not self.verified(headers, body):
                self.bad_signatures += 1
                return 401
            events = json.loads(body)["events"]
            self.seen.extend(e["id"] for e in events)
            if self.redirect_to:
                return 302
            if self.down:
                return 503
            if self.answers:
                return self.answers.pop(0)
            self.events.extend(events)
            return 200

    def types(self) -> list[str]:
        with self._lock:
            return [e["type"] for e in self.events]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
