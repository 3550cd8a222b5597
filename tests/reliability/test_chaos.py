"""kill -9 under load: nothing acked is lost, repeated or reordered (short `make chaos`).

The full run is `python -m tests.reliability.chaos --kills 20 --seconds 60`;
here 3 kills in a few seconds. The checker itself is tested first, on
made-up histories, so a harness that sees nothing cannot pass silently.
"""

from __future__ import annotations

import random

import pytest

from . import chaos
from .chaos import Peer, Seen


def _peer(name: str, start: int, view: list[Seen], acks: dict[str, Seen] | None = None,
          sent: tuple[str, ...] = ()) -> Peer:
    peer = Peer(name, name, "token", lambda: "ws://unused/", random.Random(0))
    peer.start, peer.view, peer.acks = start, view, acks or {}
    peer.sent = {cmid: "text" for cmid in sent}
    return peer


def _stored() -> list[Seen]:
    return [Seen(1, 1, 1, "ann", "a1"), Seen(1, 2, 2, "bob", "b1"), Seen(1, 3, 3, "ann", "a2")]


def test_verify_passes_a_clean_history():
    stored = _stored()
    ann = _peer("ann", 0, [stored[0], stored[1], stored[2]],
                acks={"a1": stored[0], "a2": stored[2]}, sent=("a1", "a2"))
    bob = _peer("bob", 1, [stored[1], stored[2]], acks={"b1": stored[1]}, sent=("b1",))
    tally = chaos.verify([ann, bob], {"ann": stored, "bob": stored})
    assert (tally.violations, tally.acked, tally.stored, tally.views) == (0, 3, 3, 2)


@pytest.mark.parametrize("case,view,stored,kind", [
    ("a view misses a message", [0, 2], None, "lost"),
    ("a view shows one twice", [0, 1, 1, 2], None, "duplicated"),
    ("a view is out of order", [0, 2, 1], None, "reordered"),
    ("the log has a gap", [0, 2], [0, 2], "lost"),
    ("the log stores a client_msg_id twice", [0, 1, 2, 3], [0, 1, 2, 3], "duplicated"),
])
def test_verify_catches(case, view, stored, kind):
    log = _stored() + [Seen(1, 4, 4, "ann", "a1")]  # index 3: a repeat of a1
    stored_log = [log[i] for i in (stored if stored is not None else (0, 1, 2))]
    tally = chaos.verify([_peer("bob", 0, [log[i] for i in view])], {"bob": stored_log})
    assert getattr(tally, kind) >= 1, (case, tally)


def test_verify_catches_an_ack_that_is_not_stored_and_a_send_never_acked():
    stored = _stored()
    ghost = Seen(1, 9, 9, "ann", "a9")
    ann = _peer("ann", 3, [], acks={"a9": ghost}, sent=("a9", "a10"))
    tally = chaos.verify([ann], {"ann": stored})
    assert (tally.lost >= 1, tally.unacked) == (True, 1)


def test_classify_cut_names_handshake_frames_and_acks():
    head = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    ack = b"\x82\x0c\x81\xa4type\xa3ack\xa1x"  # a (short) unmasked server frame
    stream = head + ack + ack
    assert chaos.classify_cut(stream, 5) == "handshake"
    assert chaos.classify_cut(stream, len(head)) == "between frames"
    assert chaos.classify_cut(stream, len(head) + 1) == "mid-frame header"
    assert chaos.classify_cut(stream, len(head) + 5) == "mid-frame ack"
    assert chaos.classify_cut(stream, len(head) + len(ack)) == "between frames"


@pytest.mark.slow
async def test_kill_9_loses_repeats_and_reorders_nothing(tmp_path):
    options = chaos.Options(kills=3, seconds=4.0, seed=7, workdir=str(tmp_path))
    report, _, _ = await chaos.run(options)
    print(report.summary())
    tally = report.tally
    assert (report.kills, report.starts, report.failed_starts) == (3, 4, []), report.summary()
    assert tally.acked >= 30 and tally.views == options.senders + options.readers, report.summary()
    assert (tally.lost, tally.duplicated, tally.reordered) == (0, 0, 0), tally.notes
    assert (tally.unacked, tally.faults, report.server_errors) == (0, 0, []), tally.notes
    assert report.ok
