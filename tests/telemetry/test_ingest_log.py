"""The embedded store's ingest log: what :meth:`accept` acknowledged survives a crash, is read back at once, a
torn record ends the replay instead of failing it, a batch the store fails stays in the log, and the log bounds
what waits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from smart365.telemetry.batch import Batch
from smart365.telemetry.ingest_log import HEADER, POINT_BYTES, IngestLog
from smart365.telemetry.store import DuckDBStore


def _batch(tag: int, points: int = 100) -> Batch:
    return Batch.from_columns(tag, np.arange(points) * 1_000_000, np.arange(points, dtype=float))


def test_what_was_acknowledged_before_a_kill_is_stored_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "ts.duckdb"
    child = textwrap.dedent(f"""
        import os, numpy as np
        from smart365.telemetry.batch import Batch
        from smart365.telemetry.store import DuckDBStore
        store = DuckDBStore({str(path)!r})
        store._lock.acquire()  # the writer can store nothing: only the log holds what is acknowledged
        for tag in (1, 2, 3):
            store.accept(Batch.from_columns(tag, np.arange(100) * 1_000_000, np.arange(100.0)))
        print("acknowledged", flush=True)
        os._exit(0)  # no close, no flush: as a kill -9 would leave it
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120, check=True)
    assert "acknowledged" in done.stdout
    (segment,) = (tmp_path / "ts.duckdb.ingest").glob("*.log")
    assert segment.stat().st_size == 3 * (HEADER.size + 100 * POINT_BYTES)  # three records, synced
    with DuckDBStore(path) as store:
        assert store.count() == 300
        assert store.rollup([1, 2, 3], 0, 3_600_000_000, "1m").column("count").to_pylist() == [60, 40] * 3
        assert store.latest([2]).column("value").to_pylist() == [99.0]
    assert list((tmp_path / "ts.duckdb.ingest").glob("*.log")) == []  # stored, and closed: nothing left


def test_an_accepted_batch_is_read_back_at_once_and_a_resend_changes_nothing(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "ts.duckdb") as store:
        for _ in range(2):
            assert store.accept(_batch(5)) == 100
            assert store.count([5]) == 100
            assert store.read(5, 0, 10**12).value.tolist() == list(np.arange(100.0))


def test_a_record_cut_short_ends_the_replay_and_the_rest_is_kept(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    log.write(_batch(1, 10))
    log.write(_batch(2, 10))
    segment = next(tmp_path.glob("*.log"))
    segment.write_bytes(segment.read_bytes()[:-7])  # the second record torn by a crash mid-write
    assert [b.tag_id[0] for b in IngestLog(tmp_path).recovered()] == [1]


def test_a_batch_the_store_cannot_take_stays_in_the_log_for_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ts.duckdb"
    store = DuckDBStore(path)
    stage = store._stage_new

    def full_disk(batch: Batch, first: bool) -> int:
        if batch.tag_id[0] == 9:
            raise OSError("No space left on device")
        return stage(batch, first)

    monkeypatch.setattr(store, "_stage_new", full_disk)
    store.accept(_batch(8))
    store.accept(_batch(9))
    assert store.count() == 100  # the first is stored, the second failed after its acknowledgement
    store.close()
    assert len(list((tmp_path / "ts.duckdb.ingest").glob("*.log"))) == 1  # kept
    with DuckDBStore(path) as again:
        assert again.count([9]) == 100


def test_a_writer_waits_while_too_much_waits_to_be_stored(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, max_waiting_points=150)
    first = log.write(_batch(1))
    second_written = threading.Event()
    writer = threading.Thread(target=lambda: (log.write(_batch(2)), second_written.set()))
    writer.start()
    assert not second_written.wait(0.5)  # 100 wait and 100 more would pass the bound of 150
    log.stored(first, 100)
    assert second_written.wait(10)
    writer.join()
    assert log.waiting_points == 100


def test_batches_stored_as_one_group_keep_the_first_value_sent_for_a_point(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "ts.duckdb") as store:
        with store._lock:  # the three wait, and are then stored together
            for value in (1.0, 2.0, 3.0):
                store.accept(Batch.from_columns([4, 4], [0, value * 1_000_000], [value, value]))
            assert len(store._waiting) == 3
        assert store.read(4, 0, 10**9).value.tolist() == [1.0, 1.0, 2.0, 3.0]
