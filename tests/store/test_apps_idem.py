"""store/apps.py's idempotency answers: the sweep by age, and answers stored before
their age index existed (round 1's databases) indexed once so the sweep finds them."""

from __future__ import annotations

from corpchat.store import Store, keys
from corpchat.store import apps as tables
from corpchat.store.records import pack


def _count(store: Store) -> tuple[int, int]:
    return store.read(lambda txn, db: (txn.stat(db["app_idem"])["entries"],
                                       txn.stat(db["app_idem_ix"])["entries"]))


def test_old_answers_are_indexed_then_swept(tmp_path) -> None:
    store = Store(str(tmp_path / "data"), map_bytes=4 << 20)
    try:
        with store.env.begin(write=True) as txn:  # as round 1 stored them: no index
            for i, key in enumerate(("a", "b")):
                txn.put(keys.u64(1) + key.encode(), pack([1000 + i, {"n": i}]),
                        db=store.db["app_idem"])
        assert _count(store) == (2, 0)
        with store.env.begin(write=True) as txn:
            assert tables.index_old_answers(txn, store.db) == 2
            assert tables.index_old_answers(txn, store.db) == 0  # once is enough
            tables.put_idempotent_answer(txn, store.db, 1, "c", 5000, {"n": 2})
        assert _count(store) == (3, 3)
        with store.env.begin(write=True) as txn:
            assert tables.sweep_idempotent_answers(txn, store.db, 1001, 100) == 1  # a
            assert tables.sweep_idempotent_answers(txn, store.db, 5000, 100) == 1  # b
        assert _count(store) == (1, 1)
        assert store.read(tables.idempotent_answer, 1, "c", 0) == {"n": 2}
    finally:
        store.close()
