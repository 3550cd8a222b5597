"""web/proto/schema.js is the Python frames' tables, regenerated (`python -m tests.web.schema`)."""

from __future__ import annotations

from .schema import TARGET, render


def test_the_web_clients_frame_tables_are_current():
    assert TARGET.read_text(encoding="utf-8") == render(), (
        "frames changed: run `python -m tests.web.schema`, commit web/proto/schema.js")
