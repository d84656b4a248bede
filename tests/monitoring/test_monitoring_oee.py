"""OEE against a case worked out by hand, with its explanation in Korean and English."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smart365.core.i18n import use_locale
from smart365.monitoring.oee import (
    KST,
    StateTimes,
    combine,
    compute,
    counter_increase,
    recent_shifts,
    shift_at,
    state_segments,
)

MIN = 60_000_000  # one minute in µs


def test_an_eight_hour_window_worked_out_by_hand() -> None:
    # 480 min: run 0-100, material wait 100-122 (22 min), run 122-300, breakdown 300-340 (40 min), run 340-480
    state_ts = [0, 100 * MIN, 122 * MIN, 300 * MIN, 340 * MIN]
    states = [1, 0, 1, 2, 1]
    reasons = [0, 1, 0, 4, 0]
    times = StateTimes.from_samples(state_ts, states, 0, 480 * MIN, state_ts, reasons)
    assert (times.run_s, times.idle_s, times.down_s) == (418 * 60, 22 * 60, 40 * 60)
    assert times.stops_by_reason == {1: 22 * 60.0, 4: 40 * 60.0}
    # 418 min running at an ideal 60 s/part could make 418 parts; 380 were made, 19 of them bad
    result = compute(times, total=380, good=361, ideal_cycle_s=60)
    assert result.availability == pytest.approx(418 / 480)  # 0.8708
    assert result.performance == pytest.approx(380 / 418)  # 0.9091
    assert result.quality == pytest.approx(361 / 380)  # 0.95
    assert result.oee == pytest.approx(361 * 60 / (480 * 60))  # good parts × ideal cycle / planned time = 0.7521
    with use_locale("ko"):
        assert result.explain() == [
            "가용률 87%: 비가동 62분 중 고장 40분",
            "성능 91%: 가동 418분 동안 380개 생산 (이상 사이클 60초 기준 418개)",
            "품질 95%: 380개 중 양품 361개 (불량 19개)",
        ]
    with use_locale("en"):
        assert result.explain()[0] == "Availability 87%: 62 min stopped, breakdown 40 min of it"


def test_the_state_before_the_window_counts_and_unknown_time_does_not() -> None:
    # down since before the window, running from minute 30; nothing known before the first sample otherwise
    times = StateTimes.from_samples([-10 * MIN, 30 * MIN], [2, 1], 0, 60 * MIN)
    assert (times.down_s, times.run_s) == (30 * 60, 30 * 60)
    late = StateTimes.from_samples([20 * MIN], [1], 0, 60 * MIN)
    assert late.planned_s == 40 * 60  # the first 20 minutes are unknown, not idle


def test_counters_grow_across_a_reset_and_undefined_factors_stay_undefined() -> None:
    assert counter_increase([0, 1, 2, 3], [998, 999, 2, 5], start_us=0) == 1 + 2 + 3
    empty = compute(StateTimes(), total=0, good=0, ideal_cycle_s=30)
    assert (empty.availability, empty.performance, empty.quality, empty.oee) == (None, None, None, None)
    assert compute(StateTimes(run_s=60), total=10, good=10, ideal_cycle_s=60).performance == 1.0  # capped


def test_shifts_are_korean_day_and_night() -> None:
    night = shift_at(datetime(2026, 1, 5, 22, 0, tzinfo=UTC))  # 07:00 KST on the 6th
    assert (night.name, night.start, night.end) == (
        "Night shift",
        datetime(2026, 1, 5, 20, 0, tzinfo=KST),
        datetime(2026, 1, 6, 8, 0, tzinfo=KST),
    )
    names = [s.name for s in recent_shifts(datetime(2026, 1, 6, 3, 0, tzinfo=UTC), 3)]  # 12:00 KST
    assert names == ["Day shift", "Night shift", "Day shift"]


def test_a_line_combines_its_machines_by_time_and_parts_not_by_averaging() -> None:
    fast = compute(StateTimes(run_s=3000, idle_s=600), total=90, good=90, ideal_cycle_s=30)  # 83% · 90% · 100%
    slow = compute(StateTimes(run_s=3600), total=50, good=40, ideal_cycle_s=60)  # 100% · 83% · 80%
    line = combine([fast, slow])
    assert line is not None and combine([]) is None
    assert line.availability == pytest.approx(6600 / 7200)
    assert line.performance == pytest.approx((30 * 90 + 60 * 50) / 6600)
    assert line.quality == pytest.approx(130 / 140)
    assert line.oee == pytest.approx(130 / 140 * (30 * 90 + 60 * 50) / 7200)


def test_state_segments_merge_repeats_and_skip_unknown_time() -> None:
    # unknown until minute 5, then run (reported twice), a stop, running again
    segments = state_segments([5 * MIN, 10 * MIN, 20 * MIN, 25 * MIN], [1, 1, 2, 1], 0, 30 * MIN)
    assert segments == [(5 * MIN, 20 * MIN, 1), (20 * MIN, 25 * MIN, 2), (25 * MIN, 30 * MIN, 1)]
