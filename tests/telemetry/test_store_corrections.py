"""Corrections are not duplicates: a point re-sent with another value is settled by its firm's policy.

Run on DuckDB and on PostgreSQL (see conftest). Each test checks what a historian must keep true: the raw
table, the rollups and the latest value agree, and the value not kept is in ``ts_revisions``, never lost.
"""

from __future__ import annotations

import pandas as pd

from smart365.telemetry.batch import Batch
from smart365.telemetry.store import HOUR_US, MINUTE_US, TimeSeriesStore, Written
from tests.telemetry.test_telemetry_store import T0, assert_matches, expected_buckets, frame, series

SECOND = 1_000_000


def corrected(batch: Batch, every: int, by: float = 100.0) -> Batch:
    """The batch with every ``every``-th value changed by ``by``."""
    values = batch.value.copy()
    values[::every] += by
    return Batch.from_columns(batch.tag_id, batch.ts_us, values, batch.quality)


def by_tag(batch: Batch) -> pd.DataFrame:
    """The batch's points as the store reads them back: by tag, then time."""
    return frame(batch).sort_values(["tag_id", "ts"]).reset_index(drop=True)


def assert_rollups_match_raw(store: TimeSeriesStore, tags: list[int]) -> None:
    raw = frame(store.read(tags, T0, T0 + 4 * HOUR_US))
    for width, unit in (("1m", MINUTE_US), ("1h", HOUR_US)):
        assert_matches(store.rollup(tags, T0, T0 + 4 * HOUR_US, width=width), expected_buckets(raw, 0, unit))


def test_an_identical_resend_is_no_conflict(store: TimeSeriesStore) -> None:
    batch = series(tags=2, seconds=600)
    assert store.write(batch) == Written(new=len(batch), conflicts=0)
    assert store.write(batch) == Written(new=0, conflicts=0)
    assert store.revisions([1, 2], T0, T0 + HOUR_US).num_rows == 0


def test_keep_first_refuses_the_other_value_and_keeps_it(store: TimeSeriesStore) -> None:
    batch = series(tags=2, seconds=600)
    store.append(batch)
    resend = corrected(batch, every=10)
    assert store.write(resend) == Written(new=0, conflicts=len(batch.value[::10]))
    pd.testing.assert_frame_equal(frame(store.read([1, 2], T0, T0 + HOUR_US)), by_tag(batch))
    revisions = store.revisions([1, 2], T0, T0 + HOUR_US)
    assert set(revisions.column("outcome").to_pylist()) == {"refused"}
    assert sorted(revisions.column("value").to_pylist()) == sorted(resend.value[::10].tolist())


def test_overwrite_replaces_the_value_and_rollups_and_latest_follow(store: TimeSeriesStore) -> None:
    store.corrections = lambda tags: dict.fromkeys(tags, "overwrite")
    batch = series(tags=3, seconds=3 * 3600, step_s=5)
    store.append(batch)
    resend = corrected(batch, every=7, by=-30.0)
    last = Batch.from_columns([1], [int(batch.ts_us[batch.tag_id == 1].max())], [999.0])  # the latest point too
    assert store.write(resend).conflicts == len(batch.value[::7])
    assert store.write(last).conflicts == 1
    held = frame(store.read([1, 2, 3], T0, T0 + 4 * HOUR_US))
    expected = by_tag(resend)
    expected.loc[(expected.tag_id == 1) & (expected.ts == last.ts_us[0]), "value"] = 999.0
    pd.testing.assert_frame_equal(held, expected)
    assert_rollups_match_raw(store, [1, 2, 3])
    assert store.latest([1]).column("value").to_pylist() == [999.0]
    replaced = store.revisions([1, 2, 3], T0, T0 + 4 * HOUR_US)
    assert set(replaced.column("outcome").to_pylist()) == {"replaced"}
    assert sorted(replaced.column("value").to_pylist()) == sorted([*batch.value[::7].tolist(), *[
        float(v) for v in resend.value[(resend.tag_id == 1) & (resend.ts_us == last.ts_us[0])]]])  # fmt: skip


def test_keep_both_flags_the_correction_and_each_firm_gets_its_own_policy(store: TimeSeriesStore) -> None:
    store.corrections = lambda tags: {tag: "keep_both" if tag == 1 else "overwrite" for tag in tags if tag != 3}
    batch = Batch.from_columns([1, 2, 3], [T0, T0, T0], [1.0, 2.0, 3.0])
    store.append(batch)
    assert store.write(Batch.from_columns([1, 2, 3], [T0, T0, T0], [1.5, 2.5, 3.5])).conflicts == 3
    assert store.read([1, 2, 3], T0, T0 + SECOND).value.tolist() == [1.0, 2.5, 3.0]
    revisions = store.revisions([1, 2, 3], T0, T0 + SECOND).to_pandas().sort_values("tag_id")
    assert revisions[["tag_id", "value", "outcome"]].values.tolist() == [
        [1, 1.5, "correction"], [2, 2.0, "replaced"], [3, 3.5, "refused"]]  # fmt: skip
    assert store.rollup([2], T0, T0 + MINUTE_US).column("avg").to_pylist() == [2.5]


def test_a_changed_quality_is_a_conflict_and_a_group_commit_settles_it(store: TimeSeriesStore) -> None:
    store.corrections = lambda tags: dict.fromkeys(tags, "overwrite")
    store.append(Batch.from_columns([4], [T0], [7.0], [192]))
    # accepted batches are stored together by the writer (the ingest log path): the conflict is still settled
    store.accept(Batch.from_columns([4, 4], [T0, T0 + SECOND], [7.0, 8.0], [0, 192]))
    held = store.read([4], T0, T0 + 2 * SECOND)
    assert held.quality.tolist() == [0, 192] and held.value.tolist() == [7.0, 8.0]
    assert store.revisions([4], T0, T0 + 2 * SECOND).column("quality").to_pylist() == [192]


def test_revisions_older_than_the_retention_cut_go(store: TimeSeriesStore) -> None:
    store.append(Batch.from_columns([1, 1], [T0, T0 + HOUR_US], [1.0, 2.0]))
    store.write(Batch.from_columns([1, 1], [T0, T0 + HOUR_US], [1.1, 2.1]))
    store.retention(T0 + MINUTE_US)
    assert store.revisions([1], T0, T0 + 2 * HOUR_US).column("value").to_pylist() == [2.1]
