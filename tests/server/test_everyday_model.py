"""Everyday messaging against a model (hypothesis stateful): sends with mentions,
edits, reactions, devices going away and resuming from their own sync token.

The companion of test_session_model.py for revision 1.5: a
`RuleBasedStateMachine` generates a program for one group of three users on
four devices (ann has a phone and a desk); each rule applies the operation to
a small model. `teardown` replays the program in one `trio.run` against a real
server (real sockets, real LMDB, a ManualClock), every device building its
view of the conversation from what it is shown — `msg` (live and in sync
pages), `edited`, `reaction` — exactly as a client would (ClientSession drops
what its token already covers). At the end, after every device is back and
caught up, each device's view equals the model's log: every message's latest
text and version, its reaction counts, and whether it mentions the device's
user; and no stream position reached a device twice on the wire.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from corpchat.protocol import (
    Ack,
    Edit,
    Edited,
    Msg,
    Ok,
    Ping,
    Pong,
    React,
    ReactionEvent,
    SyncComplete,
)
from corpchat.protocol.clock import ManualClock
from corpchat.server import ServerConfig

from ..client import WireClient
from ..conftest import running_server
from .test_group_model import replay_in_fresh_dir
from .test_groups import make_group, request

USERS = ("ann", "ben", "cat")
DEVICES = {"ann-phone": "ann", "ann-desk": "ann", "ben-phone": "ben", "cat-phone": "cat"}
EMOJI = ("👍", "🎉", "😀")
TIMEOUT_S = 5.0


@dataclass
class Message:
    sender: str
    text: str
    mentions: tuple[str, ...]
    version: int = 0
    reactions: dict[str, set[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {e: len(who) for e, who in self.reactions.items() if who}


class EverydayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[Message] = []  # the group's text messages, by index
        self.away: set[str] = set()
        self.program: list[tuple[Any, ...]] = []

    def _here(self, data: Any, user: str | None = None) -> str | None:
        """A connected device (of `user`), or None if there is none."""
        here = [d for d in sorted(DEVICES) if d not in self.away
                and (user is None or DEVICES[d] == user)]
        return data.draw(st.sampled_from(here), label="device") if here else None

    @rule(data=st.data(), mention=st.sampled_from((None, *USERS, "all")))
    def send(self, data: Any, mention: str | None) -> None:
        device = self._here(data)
        assert device is not None  # one device always stays
        sender = DEVICES[device]
        if mention == "all" and sender != "ann":  # only the owner mentions everyone
            mention = None
        text = f"m{len(self.log)}"
        self.log.append(Message(sender, text, (mention,) if mention else ()))
        self.program.append(("send", device, text, mention))

    @precondition(lambda self: self.log)
    @rule(data=st.data())
    def edit(self, data: Any) -> None:
        index = data.draw(st.integers(0, len(self.log) - 1), label="message")
        msg = self.log[index]
        device = self._here(data, msg.sender)
        if device is None:
            return
        msg.version += 1
        msg.text = f"m{index}v{msg.version}"
        self.program.append(("edit", device, index, msg.text))

    @precondition(lambda self: self.log)
    @rule(data=st.data(), emoji=st.sampled_from(EMOJI), on=st.booleans())
    def react(self, data: Any, emoji: str, on: bool) -> None:
        index = data.draw(st.integers(0, len(self.log) - 1), label="message")
        device = self._here(data)
        assert device is not None
        who = self.log[index].reactions.setdefault(emoji, set())
        (who.add if on else who.discard)(DEVICES[device])
        self.program.append(("react", device, index, emoji, on))

    @rule(device=st.sampled_from(sorted(DEVICES)))
    def toggle_away(self, device: str) -> None:
        """A device goes away (sends keep going from the others) or comes back."""
        if device in self.away:
            self.away.discard(device)
            self.program.append(("back", device))
        elif len(self.away) < len(DEVICES) - 1:
            self.away.add(device)
            self.program.append(("away", device))

    def teardown(self) -> None:
        if self.program:
            replay_in_fresh_dir(replay, self, "corpchat-everyday-model-")


@dataclass
class View:
    """A device's picture of the group, built from what it was shown."""

    texts: dict[int, tuple[str, int]] = field(default_factory=dict)  # seq -> (text, version)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    mentioned: dict[int, bool] = field(default_factory=dict)
    positions: list[int] = field(default_factory=list)  # every pos seen on the wire

    def apply(self, event: Any) -> None:
        if isinstance(event, Msg) and event.kind is None:
            self.texts[event.seq] = (event.text, event.version or 0)
            self.counts[event.seq] = dict(event.reactions or {})
            self.mentioned[event.seq] = bool(event.mentioned)
        elif isinstance(event, Edited):
            if event.version > self.texts.get(event.seq, ("", 0))[1]:
                self.texts[event.seq] = (event.text, event.version)
        elif isinstance(event, ReactionEvent):
            self.counts[event.seq] = dict(event.reactions)


async def replay(model: EverydayMachine, data_dir: str) -> None:
    config = ServerConfig(data_dir=os.path.join(data_dir, "data"), port=0,
                          map_initial_bytes=4 * 1024 * 1024)
    async with trio.open_nursery() as nursery, \
            running_server(nursery, config, ManualClock()) as server:
        tokens = {u: await server.user(u) for u in USERS}
        devices: dict[str, WireClient] = {}
        for device, user in DEVICES.items():
            devices[device] = await WireClient(nursery, server.url, tokens[user],
                                               device=device).connect()
        conv = await make_group(devices["ann-phone"], "ben", "cat")
        seqs: list[int] = []
        away_tokens: dict[str, str | None] = {}
        earlier: dict[str, list[WireClient]] = {}  # a device's closed connections
        for step in (*model.program, *(("back", d) for d in model.away)):
            if step[0] == "away":
                earlier.setdefault(step[1], []).append(devices[step[1]])
            await _step(step, devices, conv, seqs, away_tokens, server, nursery, tokens)
        for device, client in devices.items():
            await _settle(client)
            _check(model, device, earlier.get(device, []) + [client], seqs)
        nursery.cancel_scope.cancel()


async def _step(step: tuple[Any, ...], devices: dict[str, WireClient], conv: int,
                seqs: list[int], away_tokens: dict[str, str | None], server: Any,
                nursery: trio.Nursery, tokens: dict[str, str]) -> None:
    kind, device = step[0], step[1]
    client = devices[device]
    if kind == "send":
        _, _, text, mention = step
        await client.send(text, conv=conv, mentions=(mention,) if mention else ())
        seqs.append((await client.expect(Ack)).seq)
    elif kind == "edit":
        assert isinstance(await request(client, Edit, conv=conv, seq=seqs[step[2]],
                                        text=step[3]), Ok)
    elif kind == "react":
        reply = await request(client, React, conv=conv, seq=seqs[step[2]], emoji=step[3],
                              on=step[4])
        assert isinstance(reply, Ok), reply
    elif kind == "away":
        await _settle(client)
        away_tokens[device] = client.session.sync_token
        await client.close()
    elif kind == "back":
        back = WireClient(nursery, server.url, tokens[DEVICES[device]], device=device,
                          sync_token=away_tokens.pop(device))
        devices[device] = await back.connect()


async def _settle(client: WireClient) -> None:
    """A ping round trip: everything committed before it has reached the device."""
    reply = await request(client, Ping, reply=(Pong,))
    assert isinstance(reply, Pong)


def _check(model: EverydayMachine, device: str, connections: list[WireClient],
           seqs: list[int]) -> None:
    """The device's view, over all its connections in order, against the model."""
    user = DEVICES[device]
    view = View()
    for event in (e for c in connections for e in c.events):
        if not isinstance(event, SyncComplete):
            view.apply(event)
    for seq, msg in zip(seqs, model.log, strict=True):
        if msg.sender == user and seq not in view.texts:
            continue  # one's own message reaches one's other devices, not the sender's
        assert view.texts[seq] == (msg.text, msg.version), (device, seq)
        assert view.counts.get(seq, {}) == msg.counts(), (device, seq)
        mentioned = msg.sender != user and (user in msg.mentions or "all" in msg.mentions)
        assert view.mentioned.get(seq, False) == mentioned, (device, seq)
    events = [f.pos for c in connections for f in c.wire if isinstance(f, (Edited, ReactionEvent))]
    assert len(events) == len(set(events)), f"{device}: an event reached it twice"


def test_everyday_views_converge_to_the_log() -> None:
    run_state_machine_as_test(EverydayMachine, settings=settings(
        max_examples=int(os.environ.get("EVERYDAY_EXAMPLES", "15")), stateful_step_count=25,
        deadline=None, suppress_health_check=[HealthCheck.too_slow]))
