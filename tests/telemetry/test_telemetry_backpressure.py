"""The bounded ingest queue and the consumer that drains it into a store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from smart365.core.i18n import use_locale
from smart365.telemetry.batch import Batch
from smart365.telemetry.pipeline import (
    BackpressureError,
    BatchTooLargeError,
    IngestOutcome,
    IngestQueue,
    Pipeline,
    TagSpec,
    run_ingest,
)
from smart365.telemetry.store import DuckDBStore

T0 = 1_704_067_200_000_000


def points(n: int, start: int = 0, tag: int = 1) -> Batch:
    return Batch.from_columns(tag, T0 + np.arange(start, start + n) * 1_000_000, np.ones(n))


async def settle() -> None:
    """Let every ready task run until nothing more can happen without outside input."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_a_producer_that_would_exceed_the_bound_waits_until_room_is_freed() -> None:
    async def scenario() -> None:
        queue = IngestQueue(max_points=100)
        await queue.put(points(60))
        blocked = asyncio.create_task(queue.put(points(50, start=60)))
        await settle()
        assert not blocked.done()
        assert queue.in_flight == 60

        first = await queue.get()
        assert first is not None
        queue.complete(first, IngestOutcome(60, 0))
        await settle()
        assert blocked.done()
        assert queue.in_flight == 50

    asyncio.run(scenario())


def test_waiting_producers_are_admitted_first_come_first_served() -> None:
    async def scenario() -> None:
        queue = IngestQueue(max_points=10)
        await queue.put(points(10))
        big = asyncio.create_task(queue.put(points(8, start=10)))
        await settle()
        small = asyncio.create_task(queue.put(points(1, start=20)))
        await settle()
        item = await queue.get()
        assert item is not None
        queue.complete(item, IngestOutcome(10, 0))
        await settle()
        assert big.done() and small.done()
        second, third = await queue.get(), await queue.get()
        assert second is not None and third is not None
        assert [len(second.batch), len(third.batch)] == [8, 1]

    asyncio.run(scenario())


def test_try_put_refuses_with_a_clear_error_instead_of_growing() -> None:
    async def scenario() -> None:
        queue = IngestQueue(max_points=100)
        queue.try_put(points(100))
        with pytest.raises(BackpressureError) as refused:
            queue.try_put(points(1))
        assert refused.value.status == 503
        with use_locale("ko"):
            assert "잠시 후" in refused.value.localized()
        assert queue.in_flight == 100

    asyncio.run(scenario())


def test_a_batch_larger_than_the_bound_is_refused_at_once() -> None:
    async def scenario() -> None:
        queue = IngestQueue(max_points=10)
        with pytest.raises(BatchTooLargeError, match="11 points"):
            await queue.put(points(11))
        assert queue.in_flight == 0

    asyncio.run(scenario())


def test_a_cancelled_waiting_producer_frees_its_place() -> None:
    async def scenario() -> None:
        queue = IngestQueue(max_points=10)
        await queue.put(points(10))
        waiting = asyncio.create_task(queue.put(points(5, start=10)))
        await settle()
        waiting.cancel()
        await settle()
        item = await queue.get()
        assert item is not None
        queue.complete(item, IngestOutcome(10, 0))
        assert queue.in_flight == 0
        queue.try_put(points(10, start=20))

    asyncio.run(scenario())


def test_the_consumer_stores_batches_resolves_producers_and_keeps_the_bound(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ts.duckdb")
    queue = IngestQueue(max_points=250)
    seen_in_flight: list[int] = []
    append = store.append

    def watching_append(batch: Batch) -> int:
        seen_in_flight.append(queue.in_flight)
        return append(batch)

    store.append = watching_append  # type: ignore[method-assign]
    pipeline = Pipeline({1: TagSpec(max_value=10.0)})

    async def produce(k: int) -> IngestOutcome:
        batch = points(100, start=100 * k)
        batch.value[::10] = 99.0  # every tenth point is out of range
        outcome = await queue.put(batch)
        return await outcome

    async def scenario() -> tuple[list[IngestOutcome], IngestOutcome]:
        consumer = asyncio.create_task(run_ingest(queue, pipeline, store))
        outcomes = await asyncio.gather(*(produce(k) for k in range(12)))
        queue.close()
        return outcomes, await consumer

    outcomes, total = asyncio.run(scenario())
    assert all(o == IngestOutcome(stored=90, dead=10) for o in outcomes)
    assert total == IngestOutcome(stored=12 * 90, dead=12 * 10)
    assert store.count() == 12 * 90
    assert store.dead_letters().num_rows == 12 * 10
    assert max(seen_in_flight) <= 250
    assert queue.in_flight == 0
    store.close()


def test_a_failing_store_fails_only_that_producer_and_the_worker_goes_on(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ts.duckdb")
    append = store.append

    def refusing_append(batch: Batch) -> int:
        if np.any(batch.ts_us < T0 + 10 * 1_000_000):  # the first producer's points break the store
            raise OSError("disk unplugged")
        return append(batch)

    store.append = refusing_append  # type: ignore[method-assign]
    queue = IngestQueue(max_points=1000)

    async def scenario() -> tuple[BaseException | IngestOutcome, ...]:
        consumer = asyncio.create_task(run_ingest(queue, Pipeline(), store))
        first = await queue.put(points(10))
        second = await queue.put(points(10, start=10))
        results = await asyncio.gather(first, second, return_exceptions=True)
        queue.close()
        await consumer
        return tuple(results)

    first, second = asyncio.run(scenario())
    assert isinstance(first, OSError)
    assert second == IngestOutcome(stored=10, dead=0)
    assert store.count() == 10
    assert queue.in_flight == 0
    store.close()


def test_batches_queued_together_are_stored_in_one_commit_each_producer_getting_its_own_outcome(
    tmp_path: Path,
) -> None:
    store = DuckDBStore(tmp_path / "ts.duckdb")
    store.append(points(2))  # already held: the first producer re-delivers them (as after a reconnect)
    append = store.append
    commits: list[int] = []

    def counting_append(batch: Batch) -> int:
        commits.append(len(batch))
        return append(batch)

    store.append = counting_append  # type: ignore[method-assign]
    queue = IngestQueue(max_points=1000)
    first = points(10)
    first.value[:] = 1.0
    again = points(5, start=5)  # overlaps the first batch: the earlier rows win, as stored one by one
    again.value[:] = 2.0
    third = points(10, start=100)
    third.value[-1] = float("nan")  # one dead letter

    async def scenario() -> list[IngestOutcome]:
        futures = [await queue.put(batch) for batch in (first, again, third)]
        consumer = asyncio.create_task(run_ingest(queue, Pipeline(), store))
        outcomes = list(await asyncio.gather(*futures))
        queue.close()
        await consumer
        return outcomes

    outcomes = asyncio.run(scenario())
    assert commits == [10 + 9]  # one append: the first batch, then the third (its NaN dead-lettered)
    assert outcomes == [IngestOutcome(8, 0), IngestOutcome(0, 0), IngestOutcome(9, 1)]
    assert store.read(1, T0, T0 + 10 * 1_000_000).value.tolist() == [1.0] * 10
    assert store.count() == 2 + 8 + 9
    assert store.dead_letters().num_rows == 1
    store.close()
