"""Connections cut at any byte: the server raises nothing and every client converges.

A `CuttingProxy` (tests/reliability/chaos.py) sits between four group
members and a real in-process server and cuts each connection after a
seeded random number of bytes in one direction — mid-handshake, mid-frame,
mid-ack — with a FIN or a reset. Clients reconnect through it and resume
from their sync tokens. After CUTS cuts: nothing acked is lost, repeated
or reordered in the store or in any client's view, and the server logged
no error. `python -m tests.reliability.chaos` cuts 1,000 against the
server process.
"""

from __future__ import annotations

import logging

import pytest

from . import chaos

CUTS = 200


@pytest.mark.slow
async def test_every_client_converges_after_cuts_anywhere(server, caplog):
    caplog.set_level(logging.WARNING)
    tokens = {handle: await server.user(handle) for handle in ("ann", "ben", "cat", "dan")}
    report = await chaos.run_cuts(server.app.port, tokens, cuts=CUTS, seed=11)
    print(report.summary())
    tally = report.tally
    assert report.cuts == CUTS, report.summary()
    assert (tally.lost, tally.duplicated, tally.reordered) == (0, 0, 0), tally.notes
    assert (tally.unacked, tally.faults) == (0, 0), tally.notes
    assert tally.acked > 100 and tally.views == len(tokens), report.summary()
    # the cuts really fell everywhere
    assert report.count("handshake") and report.count("mid-frame"), report.kinds
    assert report.count("mid-frame ack"), report.kinds
    errors = [r for r in caplog.records
              if r.levelno >= logging.ERROR and r.name.startswith("corpchat")]
    assert errors == [], [r.getMessage() for r in errors]
    assert server.app.writer.stats.failures == 0
