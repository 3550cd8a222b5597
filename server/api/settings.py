"""The [platform] settings (docs/operations.md): apps, their tokens and messages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlatformCaps:
    max_body_bytes: int = 64 * 1024  # a JSON request body; more is 413
    token_ttl_s: int = 7200  # an access token's life (WeCom's)
    max_live_tokens: int = 10  # per app; a new one retires the oldest
    idempotency_window_s: int = 1800  # a repeated idempotency_key within it answers again
    idempotency_sweep_s: float = 60.0  # how often keys past their window are dropped
    per_recipient_per_min: int = 30  # app messages per recipient per app
    per_recipient_per_hour: int = 1000
    max_recipients: int = 10_000  # users after expanding departments, per message
    max_text_bytes: int = 2048  # an app message's text or markdown (UTF-8)
    body_timeout_s: float = 10.0  # to receive a request's whole body
    # HTTP/1.1 keep-alive of API connections: requests on one, and how long one may
    # wait idle for the next request after an answer.
    keepalive_requests: int = 1000
    keepalive_idle_s: float = 15.0
    # Hosts callback URLs may name (lowercase); empty: any host. An operator lists
    # the company systems' hosts so that no app makes the server call internal ones.
    callback_hosts: tuple[str, ...] = ()
    robot_posts_per_min: int = 20  # per robot, in any 60 s; more: 429 with Retry-After
    robot_throttle_s: int = 600  # a robot over robot_posts_per_min is refused this long
    robot_text_bytes: int = 2048  # a robot message's text or markdown (WeCom's)
    robots_per_group: int = 10
    # The server's address as the company's systems reach it, for robots' webhook
    # URLs (e.g. https://chat.acme.example); empty: http://HOST:PORT of the listener.
    public_url: str = ""
    callback_timeout_s: float = 5.0  # one callback request, connect to answer
    callback_batch_max: int = 100  # events in one callback request, in order
    callback_max_concurrent: int = 16  # callback requests in flight over all apps
    callback_backoff_initial_s: float = 1.0  # the first retry's delay (doubling, jittered)
    callback_backoff_max_s: float = 600.0  # the longest delay between retries
    callback_retry_s: int = 24 * 3600  # of failures before the app is marked failing
    callback_retention_s: int = 7 * 24 * 3600  # delivered events kept for `app replay`
