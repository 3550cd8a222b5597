"""The sign-in writer operations (server/ops/credentials.py) on a real LMDB, without a server."""

from __future__ import annotations

import os
from functools import partial

import pytest

from corpchat.server.ops import credentials as ops
from corpchat.server.ops.results import SignedIn
from corpchat.store import Store, credentials, tokens

from ..store.test_store import NOW, people, write


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=16 * 1024 * 1024, durable=False)
    yield s
    s.close()


def test_a_login_past_the_token_cap_ends_the_least_recently_used_token(store):
    (alice,) = people(store, "alice")
    hashed = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    write(store, lambda w: w.do(partial(credentials.set_password, uid=alice.uid, hashed=hashed)))
    made = [write(store, lambda w, n=n: ops.login(w, alice.uid, hashed, None, f"d{n}", "::1",
                                                  NOW + n))
            for n in range(ops.MAX_TOKENS_PER_USER + 1)]
    assert all(isinstance(m, SignedIn) for m in made)
    assert made[-1].revoked == (made[0].token_id,) and not any(m.revoked for m in made[:-1])
    held = store.read(tokens.user_tokens, alice.uid)
    assert len(held) == ops.MAX_TOKENS_PER_USER and made[0].token_id not in {
        t.token_id for t in held}
    wrong = write(store, lambda w: ops.login(w, alice.uid, "$argon2id$other", None, "x", "", NOW))
    assert wrong.code == "auth_failed"  # the hash changed since it was verified
