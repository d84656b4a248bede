"""The time-series store, run on DuckDB and on PostgreSQL alike (see conftest)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from smart365.telemetry.batch import Batch
from smart365.telemetry.pipeline import Pipeline, TagSpec
from smart365.telemetry.store import HOUR_US, MINUTE_US, TimeSeriesStore, plan_buckets

T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
SECOND = 1_000_000


def series(tags: int, seconds: int, step_s: int = 1, seed: int = 0) -> Batch:
    """``tags`` tags sampled every ``step_s`` seconds for ``seconds``, a few samples missing, time-major."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(0, seconds, step_s) * SECOND
    tag_id = np.tile(np.arange(1, tags + 1), len(ts))
    ts = np.repeat(ts, tags)
    keep = rng.random(len(ts)) > 0.05
    return Batch.from_columns(tag_id[keep], ts[keep], rng.normal(50, 10, keep.sum()).round(3))


def frame(batch: Batch) -> pd.DataFrame:
    return pd.DataFrame({"tag_id": batch.tag_id, "ts": batch.ts_us, "value": batch.value})


def append_shuffled(store: TimeSeriesStore, batch: Batch, chunks: int, seed: int = 1) -> int:
    """Append in out-of-order chunks, as a reconnecting connector would."""
    order = np.random.default_rng(seed).permutation(len(batch))
    return sum(store.append(batch.take(part)) for part in np.array_split(order, chunks))


def expected_buckets(raw: pd.DataFrame, origin: int, width: int) -> pd.DataFrame:
    grouped = raw.assign(k=(raw.ts - origin) // width).groupby(["tag_id", "k"])
    out = grouped.agg(
        min=("value", "min"),
        max=("value", "max"),
        avg=("value", "mean"),
        count=("value", "size"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
    ).reset_index()
    return out.assign(bucket=origin + out.k * width).drop(columns="k")


def as_us(column: pa.ChunkedArray) -> list[int]:
    return column.cast(pa.int64()).to_pylist()


def assert_matches(got_table: pa.Table, expected: pd.DataFrame) -> None:
    got = got_table.to_pandas()
    assert len(got) == len(expected)
    assert got.tag_id.tolist() == expected.tag_id.tolist()
    for column in ("bucket", "first_ts", "last_ts"):
        assert as_us(got_table.column(column)) == expected[column].tolist(), column
    assert got["count"].tolist() == expected["count"].tolist()
    np.testing.assert_array_equal(got["min"], expected["min"])
    np.testing.assert_array_equal(got["max"], expected["max"])
    np.testing.assert_allclose(got["avg"], expected["avg"], rtol=1e-12)


def minute_counts(batch: Batch) -> list[int]:
    raw = frame(batch)
    return raw.groupby(["tag_id", raw.ts // MINUTE_US]).size().tolist()


def test_appending_the_same_batch_again_stores_nothing_new(store: TimeSeriesStore) -> None:
    batch = series(tags=3, seconds=600)
    assert store.append(batch) == len(batch)
    before = store.range([1, 2, 3], T0, T0 + 600 * SECOND, max_points=50)
    assert store.append(batch) == 0
    assert store.count() == len(batch)
    assert store.range([1, 2, 3], T0, T0 + 600 * SECOND, max_points=50).equals(before)
    assert store.rollup([1, 2, 3], T0, T0 + HOUR_US).column("count").to_pylist() == minute_counts(batch)


def test_a_partly_delivered_batch_stores_only_the_missing_points(store: TimeSeriesStore) -> None:
    batch = series(tags=2, seconds=300)
    half = len(batch) // 2
    assert store.append(batch.take(np.arange(half))) == half
    assert store.append(batch) == len(batch) - half
    assert store.count() == len(batch)


def test_duplicates_inside_one_append_are_stored_once_last_value_wins(store: TimeSeriesStore) -> None:
    batch = Batch.from_columns([1, 1, 2, 1], [T0, T0, T0, T0], [1.0, 2.0, 3.0, 4.0])
    assert store.append(batch) == 2
    assert store.read(1, T0, T0 + 1).value.tolist() == [4.0]
    assert store.latest([1, 2]).column("value").to_pylist() == [4.0, 3.0]


def test_dead_letters_keep_each_row_with_its_reason(store: TimeSeriesStore) -> None:
    pipeline = Pipeline({1: TagSpec(max_value=10.0)})
    batch = Batch.from_columns([1, 1, 7, 1], [T0, T0 + 1, T0, -1 << 63], [5.0, 50.0, 1.0, 2.0])
    result = pipeline.process(batch)
    assert store.append(result.accepted) == 1
    assert store.dead_letter(result.dead) == 3
    rows = store.dead_letters().to_pandas().sort_values("reason")
    assert rows.reason.tolist() == ["above_max", "ts_missing", "unknown_tag"]
    assert rows.tag_id.tolist() == [1, 1, 7]
    assert rows.value.tolist() == [50.0, 2.0, 1.0]
    assert rows.ts.isna().tolist() == [False, True, False]
    assert rows.message_ko.tolist()[0] == "값이 태그의 최댓값보다 큽니다."
    assert rows.message_en.tolist()[0] == "The value is above the tag's maximum."


def test_rollups_match_pandas_after_out_of_order_and_repeated_appends(store: TimeSeriesStore) -> None:
    batch = series(tags=3, seconds=3 * 3600, step_s=5)
    append_shuffled(store, batch, chunks=7)
    append_shuffled(store, batch.take(np.arange(0, len(batch), 3)), chunks=2, seed=2)  # re-delivery
    raw = frame(batch)
    for width, unit in (("1m", MINUTE_US), ("1h", HOUR_US)):
        got = store.rollup([1, 2, 3], T0, T0 + 4 * HOUR_US, width=width)
        assert_matches(got, expected_buckets(raw, 0, unit))


@pytest.mark.parametrize(
    ("start_s", "end_s", "max_points"),
    [
        (1_234, 9 * 3600 - 17, 6),  # hour buckets; edges from minute rollups and raw points
        (1_234, 9 * 3600 - 17, 1),  # a single bucket
        (3_607, 5 * 3600 + 31, 50),  # minute rollups with raw edges
        (4_000, 4_000 + 600, 1000),  # raw points only
        (77, 7 * 3600, 137),
    ],
)
def test_downsampled_range_never_exceeds_max_points_and_keeps_true_extremes(
    store: TimeSeriesStore, start_s: int, end_s: int, max_points: int
) -> None:
    batch = series(tags=2, seconds=10 * 3600, step_s=2, seed=5)
    append_shuffled(store, batch, chunks=3)
    start, end = T0 + start_s * SECOND, T0 + end_s * SECOND
    raw = frame(batch)
    raw = raw[(raw.ts >= start) & (raw.ts < end)]

    got = store.range([1, 2], start, end, max_points=max_points)

    assert max(got.to_pandas().groupby("tag_id").size()) <= max_points
    for tag in (1, 2):
        mine = got.filter(got.column("tag_id").to_numpy() == tag).to_pandas()
        assert mine["min"].min() == raw[raw.tag_id == tag].value.min()
        assert mine["max"].max() == raw[raw.tag_id == tag].value.max()
        assert mine["count"].sum() == (raw.tag_id == tag).sum()
    plan = plan_buckets(start, end, max_points)
    assert_matches(got, expected_buckets(raw, plan.origin_us, plan.width_us))


def test_thirty_days_at_one_second_fit_in_a_thousand_points_per_tag() -> None:
    plan = plan_buckets(T0 + 17 * SECOND, T0 + 30 * 24 * HOUR_US, 1000)
    assert plan.bucket_count(T0 + 30 * 24 * HOUR_US) <= 1000
    assert plan.width_us % HOUR_US == 0
    assert [level.name for level, _, _ in plan.segments] == ["raw", "1m", "1h"]


def test_range_of_an_empty_span_is_empty_with_the_schema(store: TimeSeriesStore) -> None:
    store.append(series(tags=1, seconds=60))
    got = store.range([1], T0 + 10 * HOUR_US, T0 + 11 * HOUR_US, max_points=100)
    assert got.num_rows == 0
    assert got.schema.names == ["tag_id", "bucket", "min", "max", "avg", "count", "first_ts", "last_ts"]


def test_latest_is_the_newest_point_even_when_older_points_arrive_later(store: TimeSeriesStore) -> None:
    store.append(Batch.from_columns([1, 2], [T0 + 100, T0 + 50], [1.0, 2.0], quality=[192, 64]))
    store.append(Batch.from_columns([1, 2], [T0 + 10, T0 + 60], [9.0, 3.0]))
    latest = store.latest([1, 2, 3]).to_pandas()
    assert latest.tag_id.tolist() == [1, 2]
    assert latest.value.tolist() == [1.0, 3.0]
    assert latest.quality.tolist() == [192, 192]
    assert store.latest().num_rows == 2


def test_retention_deletes_old_points_and_keeps_rollups_consistent(store: TimeSeriesStore) -> None:
    batch = series(tags=2, seconds=3 * 3600, step_s=3, seed=9)
    store.append(batch)
    store.append(Batch.from_columns(3, [T0 + 10 * SECOND], [1.0]))  # a tag that fell silent early
    cut = T0 + 5_000 * SECOND + 123_456  # inside a minute, inside an hour

    deleted = store.retention(cut)

    raw = frame(batch)
    kept = raw[raw.ts >= cut]
    assert deleted == (raw.ts < cut).sum() + 1
    assert store.count() == len(kept)
    assert store.read([1, 2, 3], T0, cut).tag_id.size == 0
    for width, unit in (("1m", MINUTE_US), ("1h", HOUR_US)):
        assert_matches(store.rollup([1, 2, 3], T0, T0 + 4 * HOUR_US, width=width), expected_buckets(kept, 0, unit))
    assert store.latest().column("tag_id").to_pylist() == [1, 2]


def test_read_returns_raw_points_in_order(store: TimeSeriesStore) -> None:
    batch = series(tags=2, seconds=120)
    append_shuffled(store, batch, chunks=4)
    got = store.read([2], T0 + 30 * SECOND, T0 + 90 * SECOND).to_pandas()
    raw = frame(batch)
    want = raw[(raw.tag_id == 2) & (raw.ts >= T0 + 30 * SECOND) & (raw.ts < T0 + 90 * SECOND)].sort_values("ts")
    assert got.value.tolist() == want.value.tolist()


def test_reads_while_another_thread_appends_see_only_whole_batches(store: TimeSeriesStore) -> None:
    batches = [
        Batch.from_columns(1, T0 + (k * 500 + np.arange(500)) * SECOND, np.full(500, float(k))) for k in range(20)
    ]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for batch in batches:
                store.append(batch)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[int] = []
    while writer.is_alive():
        seen.append(store.count())
        store.range(1, T0, T0 + 10_000 * SECOND, max_points=100)
        store.latest([1])
    writer.join()
    assert not errors
    assert all(n % 500 == 0 for n in seen)  # a batch is visible entirely or not at all
    assert store.count() == 10_000
