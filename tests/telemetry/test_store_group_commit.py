"""Appends from several threads at once are stored in one transaction (a group commit), each caller learns its
own batch's count, a batch at fault fails alone, and what is stored equals what one-at-a-time appends store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from smart365.telemetry.batch import Batch
from smart365.telemetry.store import TimeSeriesStore
from tests.telemetry.test_telemetry_store import frame, series


class Counted:
    """Counts the store's transactions, by wrapping its own."""

    def __init__(self, store: TimeSeriesStore) -> None:
        self.count = 0
        self._inner = store._transaction
        store._transaction = self._transaction  # type: ignore[method-assign]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.count += 1
        with self._inner():
            yield


def _queued(store: TimeSeriesStore, batches: list[Batch]) -> list[Future[int]]:
    """Start one append per batch while the writer is held, so all of them wait, then let them go."""
    pool = ThreadPoolExecutor(len(batches))
    with store._lock:
        futures = [pool.submit(store.append, batch) for batch in batches]
        while len(store._waiting) < len(batches):
            threading.Event().wait(0.01)
    pool.shutdown(wait=True)
    return futures


def test_waiting_appends_commit_together_and_each_learns_its_own_count(store: TimeSeriesStore) -> None:
    whole = series(tags=6, seconds=120)
    parts = [whole.take(whole.tag_id == tag) for tag in range(1, 7)]
    store.append(parts[0])  # already held when the others come
    transactions = Counted(store)
    counts = [f.result() for f in _queued(store, [*parts, parts[1]])]  # the second tag twice in one group
    assert transactions.count == 1
    assert counts == [0, *(len(p) for p in parts[1:]), 0]
    assert store.count() == len(whole)
    stored = frame(store.read(list(range(1, 7)), "1970-01-01", "2100-01-01"))
    in_order = ["tag_id", "ts"]
    assert stored.sort_values(in_order).value.tolist() == frame(whole).sort_values(in_order).value.tolist()
    rollup = store.rollup(list(range(1, 7)), "1970-01-01", "2100-01-01", "1m").to_pandas()
    assert int(rollup["count"].sum()) == len(whole)


def test_a_batch_at_fault_fails_alone_and_the_rest_of_its_group_is_stored(
    store: TimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = store._stage_new

    def fragile(batch: Batch, first: bool) -> Any:
        if np.any(batch.tag_id == 13):
            raise RuntimeError("the disk said no")
        return stage(batch, first)

    monkeypatch.setattr(store, "_stage_new", fragile)
    batches = [Batch.from_columns(tag, [0, 1_000_000], [1.0, 2.0]) for tag in (11, 12, 13, 14)]
    futures = _queued(store, batches)
    assert [f.exception() is None for f in futures] == [True, True, False, True]
    assert "the disk said no" in str(futures[2].exception())
    assert [f.result() for i, f in enumerate(futures) if i != 2] == [2, 2, 2]
    assert store.count() == 6
