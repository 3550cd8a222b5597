"""The conversation log on a real 3-server JetStream cluster (cluster/log.py):
R3, PubAck after a quorum, the fence, and deduplication by Nats-Msg-Id."""

from __future__ import annotations

import pytest
import trio

from corpchat.cluster.log import LOG_STREAM, Fenced

from .engine import Engine


@pytest.fixture
async def engine(nats_cluster):
    async with Engine(nats_cluster.urls) as e:
        yield e


async def test_the_stream_is_replicated_three_times(engine):
    info = await engine.thread.call(engine.js.stream_info(LOG_STREAM))
    assert info.config.num_replicas == 3
    assert info.config.max_msgs in (None, -1)  # limited by age and bytes, never count


async def test_batches_append_in_order_and_read_back(engine):
    log = engine.log()
    seqs = [await engine.thread.call(log.publish(101, f"batch {i}".encode(), f"t.101.{i}"))
            for i in range(5)]
    assert seqs == sorted(seqs)
    entries = await engine.thread.call(log.read(101))
    assert [e.payload for e in entries] == [f"batch {i}".encode() for i in range(5)]
    assert [e.seq for e in entries] == seqs


async def test_a_repeated_msg_id_is_stored_once(engine):
    log = engine.log()
    first = await engine.thread.call(log.publish(102, b"hello", "alice.cm-1"))
    again = await engine.thread.call(log.publish(102, b"hello", "alice.cm-1"))
    assert again == first
    assert len(await engine.thread.call(log.read(102))) == 1


async def test_a_retry_after_a_lost_answer_is_the_same_append(engine):
    """The publish went through but its PubAck was lost: the retry, with the same
    Nats-Msg-Id and the same expected sequence, is recognised, not fenced."""
    log = engine.log()
    before = await engine.thread.call(log.publish(105, b"first", "x.1"))
    seq = await engine.thread.call(log.publish(105, b"second", "x.2"))
    log.last[105] = before  # as if the answer of "second" had never come
    assert await engine.thread.call(log.publish(105, b"second", "x.2")) == seq
    assert log.last[105] == seq
    await engine.thread.call(log.publish(105, b"third", "x.3"))
    payloads = [e.payload for e in await engine.thread.call(engine.log().read(105))]
    assert payloads == [b"first", b"second", b"third"]


async def test_a_stale_home_is_fenced(engine):
    """Two nodes that both believe they are home: the one whose view is stale
    cannot append, and after catching up it can."""
    old_home, new_home = engine.log(), engine.log()
    await engine.thread.call(old_home.publish(103, b"one", "o.1"))  # old home knows seq N
    await engine.thread.call(new_home.publish(103, b"two", "n.1"))  # new home appends N+1
    with pytest.raises(Fenced):
        await engine.thread.call(old_home.publish(103, b"three", "o.2"))
    # Fenced forgot the stale position: the next attempt reads the subject's head.
    await engine.thread.call(old_home.publish(103, b"three", "o.2"))
    payloads = [e.payload for e in await engine.thread.call(engine.log().read(103))]
    assert payloads == [b"one", b"two", b"three"]


async def test_the_fence_holds_for_a_conversation_the_new_home_never_wrote(engine):
    """A home that has never seen the subject reads its head before its first write,
    so it cannot overwrite history either: the first append expects the head."""
    writer = engine.log()
    await engine.thread.call(writer.publish(104, b"a", "w.1"))
    await engine.thread.call(writer.publish(104, b"b", "w.2"))
    late = engine.log()
    assert await engine.thread.call(late.last_sequence(104)) == writer.last[104]
    await engine.thread.call(late.publish(104, b"c", "l.1"))
    with pytest.raises(Fenced):
        await engine.thread.call(writer.publish(104, b"d", "w.3"))


async def test_trio_can_cancel_a_call(engine):
    import asyncio

    with trio.move_on_after(0.2):
        await engine.thread.call(asyncio.sleep(30))
    assert True  # returned: the asyncio side was cancelled, the trio side moved on
