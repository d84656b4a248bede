"""Batch construction and in-batch dedupe."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from smart365.telemetry.batch import NAT_US, QUALITY_GOOD, UNKNOWN_TAG, Batch

T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in epoch µs


def test_records_with_unreadable_fields_become_markers_not_errors() -> None:
    batch = Batch.from_records(
        [
            {"tag_id": 1, "ts": datetime(2024, 1, 1, tzinfo=UTC), "value": 1.5},
            {"tag_id": "x", "ts": "2024-01-01T09:00:00+09:00", "value": "2.5", "quality": 64},
            {"tag_id": 3, "ts": "yesterday-ish", "value": "abc"},
        ]
    )
    assert batch.tag_id.tolist() == [1, UNKNOWN_TAG, 3]
    assert batch.ts_us.tolist() == [T0, T0, NAT_US]
    assert batch.value[:2].tolist() == [1.5, 2.5]
    assert np.isnan(batch.value[2])
    assert batch.quality.tolist() == [QUALITY_GOOD, 64, QUALITY_GOOD]


def test_tuple_records_are_read_in_column_order() -> None:
    batch = Batch.from_records([(5, T0, 1.0), (5, T0 + 1, 2.0)])
    assert batch.tag_id.tolist() == [5, 5]
    assert batch.ts_us.tolist() == [T0, T0 + 1]


def test_pandas_timezones_are_converted_to_utc() -> None:
    frame = pd.DataFrame(
        {
            "tag_id": [1, 2],
            "ts": pd.to_datetime(["2024-01-01 09:00:00", "2024-01-01 09:00:01"]).tz_localize("Asia/Seoul"),
            "value": [1.0, 2.0],
        }
    )
    assert Batch.from_pandas(frame).ts_us.tolist() == [T0, T0 + 1_000_000]


def test_naive_datetimes_are_taken_as_utc() -> None:
    naive = np.array(["2024-01-01T00:00:00"], dtype="datetime64[ns]")
    assert Batch.from_columns(1, naive, [0.0]).ts_us.tolist() == [T0]


def test_arrow_round_trip_keeps_every_column_and_missing_timestamps() -> None:
    batch = Batch.from_columns([1, 2, 3], [T0, NAT_US, T0 + 7], [1.0, np.nan, 3.0], [192, 0, 64])
    back = Batch.from_arrow(batch.to_arrow())
    assert back.tag_id.tolist() == [1, 2, 3]
    assert back.ts_us.tolist() == [T0, NAT_US, T0 + 7]
    assert back.quality.tolist() == [192, 0, 64]
    assert batch.to_arrow().column("ts").null_count == 1


def test_mismatched_column_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="rows"):
        Batch(np.zeros(2, np.int64), np.zeros(3, np.int64), np.zeros(2), np.zeros(2, np.int16))


def test_dedupe_keeps_the_last_row_of_each_pair_like_pandas() -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    batch = Batch.from_columns(rng.integers(0, 5, n), rng.integers(0, 200, n), np.arange(n, dtype=float))
    expected = batch.to_pandas().drop_duplicates(["tag_id", "ts"], keep="last").sort_values(["tag_id", "ts"])
    got = batch.deduplicated().to_pandas().sort_values(["tag_id", "ts"])
    assert len(got) < n
    assert got["value"].tolist() == expected["value"].tolist()


def test_dedupe_of_ordered_batch_keeps_everything_in_order() -> None:
    ts = np.repeat(T0 + np.arange(100), 3)
    batch = Batch.from_columns(np.tile([1, 2, 3], 100), ts, np.arange(300.0))
    assert batch.unique_mask().all()
    assert batch.deduplicated().value.tolist() == batch.value.tolist()
