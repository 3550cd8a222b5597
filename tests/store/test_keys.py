"""The key layout: big-endian integers, so LMDB's byte order is numeric order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpchat.store import keys

U64 = st.integers(min_value=0, max_value=2**64 - 1)


def test_u64_is_eight_big_endian_bytes():
    assert keys.u64(1) == b"\x00" * 7 + b"\x01"
    assert keys.u64(256) == b"\x00" * 6 + b"\x01\x00"
    assert keys.u64(2**64 - 1) == b"\xff" * 8
    assert keys.read_u64(b"\xaa" + keys.u64(258), 1) == 258


@given(st.lists(U64, min_size=2, max_size=50))
def test_byte_order_is_numeric_order(numbers):
    assert sorted(numbers, key=keys.u64) == sorted(numbers)


@given(st.lists(st.tuples(U64, U64), min_size=2, max_size=50))
def test_pairs_sort_by_first_then_second(pairs):
    assert sorted(pairs, key=lambda p: keys.pair(*p)) == sorted(pairs)
    for a, b in pairs:
        assert keys.read_pair(keys.pair(a, b)) == (a, b)
        assert keys.pair(a, b).startswith(keys.u64(a))


def test_a_conversation_prefix_holds_exactly_its_messages():
    # seq 255 and 256 differ in their last two bytes; little-endian would misorder them
    conv_keys = sorted(keys.pair(c, s) for c in (1, 2) for s in (1, 255, 256, 65536))
    assert [keys.read_pair(k) for k in conv_keys] == [
        (1, 1), (1, 255), (1, 256), (1, 65536), (2, 1), (2, 255), (2, 256), (2, 65536)]
    assert keys.u64(1 + 1) > max(k for k in conv_keys if k.startswith(keys.u64(1)))


@given(U64, U64)
def test_direct_key_is_the_same_from_either_side(a, b):
    assert keys.direct_key(a, b) == keys.direct_key(b, a)
    assert keys.read_pair(keys.direct_key(a, b)) == (min(a, b), max(a, b))


def test_idem_key_is_scoped_by_user():
    assert keys.idem_key(7, "abc") == keys.u64(7) + b"abc"
    assert keys.idem_key(7, "abc") != keys.idem_key(8, "abc")


def test_text_keys_fit_lmdb():
    assert keys.text_key("acme") == b"acme"
    assert len(keys.text_key("é" * 255)) == 510
    with pytest.raises(ValueError):
        keys.text_key("")
    with pytest.raises(ValueError):
        keys.text_key("x" * (keys.MAX_KEY_BYTES + 1))


def test_every_database_is_named_once():
    assert len(set(keys.DATABASES)) == len(keys.DATABASES)
    assert {"meta", "msgs", "conv_pos", "members", "idem"} <= set(keys.DATABASES)
