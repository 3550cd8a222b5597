"""The delivery checker against crafted inputs: each fault must be caught."""

from __future__ import annotations

import pytest

from corpchat.loadtest.checker import check

A, B, C = "alice/0", "bob/0", "bob/1"
ACKED = {7: [(1, A), (2, A), (3, A), (4, A)]}
RECEIVERS = {7: [A, B]}


def verdict_for(got: list[int], *, acked=ACKED, receivers=RECEIVERS, extra=None):
    delivered = {B: {7: got}}
    delivered.update(extra or {})
    return check(acked, receivers, delivered)


def test_a_clean_run_reports_zeros():
    v = verdict_for([1, 2, 3, 4])
    assert v.ok
    assert (v.lost, v.duplicated, v.reordered, v.unacked_delivered, v.misrouted) == (0,) * 5
    assert v.checked_deliveries == 4
    assert v.examples == []


@pytest.mark.parametrize("got, field, count", [
    ([1, 2, 4], "lost", 1),                 # seq 3 never arrived
    ([], "lost", 4),                        # a receiver that saw nothing
    ([1, 2, 2, 3, 4], "duplicated", 1),     # seq 2 twice
    ([1, 3, 2, 4], "reordered", 1),         # 2 after 3
    ([1, 2, 3, 4, 5], "unacked_delivered", 1),  # 5 was never acked
])
def test_each_fault_is_caught(got, field, count):
    v = verdict_for(got)
    assert not v.ok
    assert getattr(v, field) == count
    others = {"lost", "duplicated", "reordered", "unacked_delivered", "misrouted"} - {field}
    assert all(getattr(v, name) == 0 for name in others), v.to_json()
    assert v.examples


def test_a_late_duplicate_is_a_duplicate_not_a_reorder():
    v = verdict_for([1, 2, 3, 4, 2])
    assert (v.duplicated, v.reordered) == (1, 0)


def test_a_delivery_to_a_non_member_is_misrouted():
    v = verdict_for([1, 2, 3, 4], extra={"mallory/0": {7: [1]}})
    assert v.misrouted == 1 and not v.ok


def test_every_device_of_a_receiver_is_checked():
    v = check(ACKED, {7: [A, B, C]}, {B: {7: [1, 2, 3, 4]}, C: {7: [1, 2, 3]}})
    assert v.lost == 1 and "bob/1" in v.examples[0]


def test_own_messages_seen_again_through_sync_are_echoes_not_faults():
    v = check(ACKED, RECEIVERS, {A: {7: [3, 4]}, B: {7: [1, 2, 3, 4]}})
    assert v.ok and v.own_echoes == 2


def test_a_repeated_ack_counts_the_message_once():
    acked = {7: [(1, A), (2, A), (2, A)]}
    assert check(acked, RECEIVERS, {B: {7: [1, 2]}}).ok


def test_messages_from_both_directions_are_expected_by_the_other_side():
    acked = {9: [(1, A), (2, B), (3, A)]}
    v = check(acked, {9: [A, B]}, {A: {9: [2]}, B: {9: [1, 3]}})
    assert v.ok
    v = check(acked, {9: [A, B]}, {A: {9: []}, B: {9: [1, 3]}})
    assert v.lost == 1
