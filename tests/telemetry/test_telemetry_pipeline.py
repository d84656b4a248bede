"""Validation, unit scaling, in-batch dedupe and dead-letter reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from smart365.core.i18n import use_locale
from smart365.telemetry.batch import NAT_US, UNKNOWN_TAG, Batch
from smart365.telemetry.pipeline import REASON_CODES, Pipeline, TagSpec, TagTable, process_group, reason_text

NOW = datetime(2024, 6, 1, tzinfo=UTC)
NOW_US = 1_717_200_000_000_000
SPECS = {1: TagSpec(min_value=0.0, max_value=100.0), 2: TagSpec(scale=0.1, offset=-40.0, max_value=200.0)}


def pipeline(**kwargs: object) -> Pipeline:
    return Pipeline(SPECS, now=lambda: NOW, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag_id", "ts_us", "value", "reason"),
    [
        (99, NOW_US, 1.0, "unknown_tag"),
        (UNKNOWN_TAG, NOW_US, 1.0, "unknown_tag"),
        (1, NAT_US, 1.0, "ts_missing"),
        (1, 946_684_799_999_999, 1.0, "ts_too_old"),  # one µs before 2000-01-01
        (1, NOW_US + 6 * 60_000_000, 1.0, "ts_future"),
        (1, NOW_US, np.nan, "not_numeric"),
        (1, NOW_US, np.inf, "not_numeric"),
        (1, NOW_US, -0.5, "below_min"),
        (1, NOW_US, 100.5, "above_max"),
        (2, NOW_US, 2500.0, "above_max"),  # 2500 raw × 0.1 − 40 = 210 > 200
    ],
)
def test_each_validation_failure_is_dead_lettered_with_its_reason(
    tag_id: int, ts_us: int, value: float, reason: str
) -> None:
    good = Batch.from_columns([1], [NOW_US], [50.0])
    bad = Batch.from_columns([tag_id], [ts_us], [value])
    result = pipeline().process(Batch.concat([good, bad]))

    assert len(result.accepted) == 1
    assert result.dead.reason_codes().tolist() == [reason]
    row = result.dead.to_arrow().to_pylist()[0]
    assert row["reason"] == reason
    assert row["message_en"] == reason_text(reason, "en")
    assert row["message_ko"] == reason_text(reason, "ko")
    assert row["message_ko"] != row["message_en"]  # the Korean catalog is really used
    assert row["tag_id"] == tag_id


def test_every_reason_has_a_korean_translation() -> None:
    for code in REASON_CODES:
        assert reason_text(code, "ko") != reason_text(code, "en"), code
    with use_locale("ko"):
        assert reason_text("unknown_tag") == "등록되지 않은 태그입니다."


def test_the_first_failing_check_names_the_reason() -> None:
    result = pipeline().process(Batch.from_columns([99, 1], [NAT_US, NAT_US], [np.nan, 500.0]))
    assert result.dead.reason_codes().tolist() == ["unknown_tag", "ts_missing"]


def test_values_are_scaled_before_the_range_check_and_dead_letters_keep_the_raw_value() -> None:
    result = pipeline().process(Batch.from_columns([2, 2], [NOW_US, NOW_US + 1], [1000.0, 2500.0]))
    assert result.accepted.value.tolist() == [60.0]  # 1000 × 0.1 − 40
    assert result.dead.rows.value.tolist() == [2500.0]


def test_timestamps_just_inside_the_window_are_accepted() -> None:
    edge = [946_684_800_000_000, NOW_US + 5 * 60_000_000]
    result = pipeline().process(Batch.from_columns([1, 1], edge, [1.0, 2.0]))
    assert len(result.accepted) == 2
    tighter = pipeline(max_future=timedelta(minutes=1)).process(Batch.from_columns([1, 1], edge, [1.0, 2.0]))
    assert tighter.dead.reason_codes().tolist() == ["ts_future"]


def test_duplicates_in_a_batch_keep_the_last_row_and_dead_letter_the_others() -> None:
    batch = Batch.from_columns([1, 1, 1, 1], [NOW_US, NOW_US, NOW_US + 1, NOW_US], [10.0, 20.0, 30.0, 40.0])
    result = pipeline().process(batch)
    assert sorted(zip(result.accepted.ts_us.tolist(), result.accepted.value.tolist(), strict=True)) == [
        (NOW_US, 40.0),
        (NOW_US + 1, 30.0),
    ]
    assert result.dead.counts() == {"duplicate": 2}
    assert sorted(result.dead.rows.value.tolist()) == [10.0, 20.0]


def test_an_invalid_later_twin_does_not_displace_a_valid_row() -> None:
    batch = Batch.from_columns([1, 1], [NOW_US, NOW_US], [10.0, 1000.0])
    result = pipeline().process(batch)
    assert result.accepted.value.tolist() == [10.0]
    assert result.dead.reason_codes().tolist() == ["above_max"]


def test_no_row_is_lost_between_accepted_and_dead_letters() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    ts = NOW_US + rng.integers(-2_000, 400, n) * 1_000_000  # some future, many repeated (tag, ts)
    ts[rng.random(n) < 0.01] = NAT_US
    batch = Batch.from_columns(rng.integers(0, 4, n), ts, rng.normal(50, 60, n))
    result = pipeline().process(batch)
    assert len(result.accepted) + len(result.dead) == n
    expected = {"unknown_tag", "ts_missing", "ts_future", "below_min", "above_max", "duplicate"}
    assert set(result.dead.counts()) == expected
    assert result.accepted.unique_mask().all()


def test_without_a_tag_table_every_readable_tag_is_accepted_unscaled() -> None:
    batch = Batch.from_columns([5, UNKNOWN_TAG], [NOW_US, NOW_US], [1e9, 1.0])
    result = Pipeline(now=lambda: NOW).process(batch)
    assert result.accepted.value.tolist() == [1e9]
    assert result.dead.reason_codes().tolist() == ["unknown_tag"]


def test_tag_table_from_arrays_matches_specs() -> None:
    table = TagTable([7, 3], min_value=[np.nan, 0.0], max_value=[10.0, np.nan], scale=[2.0, 1.0])
    result = Pipeline(table, now=lambda: NOW).process(Batch.from_columns([7, 7, 3, 4], [NOW_US] * 4, [4, 6, -1, 0]))
    assert result.accepted.value.tolist() == [8.0]
    assert result.dead.reason_codes().tolist() == ["above_max", "below_min", "unknown_tag"]
    with pytest.raises(ValueError, match="unique"):
        TagTable([1, 1])


@pytest.mark.parametrize("repeats", [False, True])
def test_a_group_of_batches_gives_what_they_give_one_by_one_the_earlier_row_winning(repeats: bool) -> None:
    rng = np.random.default_rng(7)
    batches = []
    for k in range(5):
        ts = NOW_US - 10**9 + (rng.integers(0, 40, 30) if repeats else np.arange(k * 30, k * 30 + 30)) * 10**6
        values = rng.uniform(-20, 400, 30)  # some out of range: dead letters
        batches.append(Batch.from_columns(rng.integers(1, 3, 30), ts, values))
    accepted, dead, kept, rejected = process_group(pipeline(), batches)

    one_by_one = [pipeline().process(b) for b in batches]
    held: dict[tuple[int, int], float] = {}
    for result in one_by_one:
        for key, value in as_dict(result.accepted).items():
            held.setdefault(key, value)  # the store keeps the first value it got
    got = as_dict(accepted)
    assert len(got) == len(accepted) and got == held
    assert rejected == [len(r.dead) for r in one_by_one]
    assert sum(len(d) for d in dead) == sum(rejected)
    assert sum(kept) == len(accepted)
    if not repeats:
        assert kept == [len(r.accepted) for r in one_by_one]


def as_dict(batch: Batch) -> dict[tuple[int, int], float]:
    keys = zip(batch.tag_id.tolist(), batch.ts_us.tolist(), strict=True)
    return dict(zip(keys, batch.value.tolist(), strict=True))
