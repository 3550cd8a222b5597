"""The index's size while files come and go (tantivy's commits and merges): `admin
stats` sums it and met a temporary file removed between listing and stat."""

from __future__ import annotations

import os
import threading
import time

from corpchat.search.index import index_bytes


def test_size_of_a_directory_whose_files_vanish_while_it_is_summed(tmp_path):
    for i in range(20):
        (tmp_path / f"kept{i}").write_bytes(b"x" * 100)
    stop = threading.Event()

    def churn() -> None:  # create and remove temporary files as fast as possible
        n = 0
        while not stop.is_set():
            path = tmp_path / f".tmp{n % 50}"
            path.write_bytes(b"y")
            path.unlink()
            n += 1

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        deadline = time.monotonic() + 1.0
        sums = 0
        while time.monotonic() < deadline:
            assert 2000 <= index_bytes(os.fspath(tmp_path)) <= 2000 + 50
            sums += 1
    finally:
        stop.set()
        thread.join()
    assert sums > 10
