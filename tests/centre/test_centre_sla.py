"""Business hours across weekends, 설날, 추석 and substitute holidays, computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from smart365.centre.sla import SEOUL, BusinessCalendar, SlaStatus, sla_clock, ticket_sla
from smart365.core.errors import Invalid

CAL = BusinessCalendar()


def kst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL)


def test_weekend_is_skipped() -> None:
    # Fri 2025-03-07 16:00 + 4 h: 16–18 Friday (2 h), Monday 09–11 (2 h).
    assert CAL.due(kst(2025, 3, 7, 16, 0), 4) == kst(2025, 3, 10, 11, 0)
    assert CAL.elapsed_business_hours(kst(2025, 3, 7, 16, 0), kst(2025, 3, 10, 11, 0)) == 4.0


def test_chuseok_2025_with_its_substitute_holiday_and_neighbours() -> None:
    # Thu 10-02 17:00 + 2 h: 17–18 (1 h); 10-03 개천절, 10-04/05 weekend (05 = day before 추석), 10-06 추석,
    # 10-07 day after, 10-08 대체공휴일 (추석 eve fell on Sunday), 10-09 한글날; Fri 10-10 09–10 (1 h).
    assert CAL.due(kst(2025, 10, 2, 17, 0), 2) == kst(2025, 10, 10, 10, 0)
    for day in (3, 6, 7, 8, 9):
        assert not CAL.is_business_day(date(2025, 10, day))


def test_seollal_2024_with_its_substitute_holiday() -> None:
    # Thu 02-08 16:00 + 4 h: 16–18 (2 h); 02-09 설 전날 (Fri), 02-10/11 weekend (설날, 설 다음날),
    # 02-12 대체공휴일 (Mon); Tue 02-13 09–11 (2 h).
    assert CAL.due(kst(2024, 2, 8, 16, 0), 4) == kst(2024, 2, 13, 11, 0)


def test_seollal_2026_midweek() -> None:
    # Fri 02-13 17:00 + 3 h: 1 h Friday; weekend; 02-16..18 설날 연휴; Thu 02-19 09–11 (2 h).
    assert CAL.due(kst(2026, 2, 13, 17, 0), 3) == kst(2026, 2, 19, 11, 0)


def test_substitute_holiday_for_childrens_day_2024() -> None:
    # 어린이날 Sun 2024-05-05 → 대체공휴일 Mon 05-06. Fri 05-03 17:00 + 1.5 h → Tue 05-07 09:30.
    assert CAL.due(kst(2024, 5, 3, 17, 0), 1.5) == kst(2024, 5, 7, 9, 30)


def test_elapsed_across_seollal_2025_with_the_temporary_holiday() -> None:
    # Fri 01-24 17:00 → Fri 01-31 10:30: 1 h + (01-27 임시공휴일, 01-28..30 설날) + 1.5 h.
    assert CAL.elapsed_business_hours(kst(2025, 1, 24, 17, 0), kst(2025, 1, 31, 10, 30)) == 2.5


def test_clock_starts_at_the_next_opening_and_can_end_exactly_at_closing() -> None:
    assert CAL.due(kst(2025, 3, 8, 11, 0), 1) == kst(2025, 3, 10, 10, 0)  # Saturday → Monday 10:00
    assert CAL.due(kst(2025, 3, 10, 7, 30), 1) == kst(2025, 3, 10, 10, 0)  # before opening
    assert CAL.due(kst(2025, 3, 10, 19, 0), 1) == kst(2025, 3, 11, 10, 0)  # after closing
    assert CAL.due(kst(2025, 3, 10, 9, 0), 9) == kst(2025, 3, 10, 18, 0)  # a full day, not next morning
    assert CAL.due(kst(2025, 3, 8, 11, 0), 0) == kst(2025, 3, 10, 9, 0)


def test_elapsed_is_zero_outside_business_time_and_for_reversed_intervals() -> None:
    assert CAL.elapsed_business_hours(kst(2025, 3, 8, 9, 0), kst(2025, 3, 9, 20, 0)) == 0.0
    assert CAL.elapsed_business_hours(kst(2025, 3, 10, 12, 0), kst(2025, 3, 10, 11, 0)) == 0.0


def test_other_time_zones_are_converted() -> None:
    start = datetime(2025, 3, 7, 7, 0, tzinfo=UTC)  # 16:00 in Seoul
    assert CAL.due(start, 4) == kst(2025, 3, 10, 11, 0)


def test_naive_times_and_negative_hours_are_refused() -> None:
    with pytest.raises(Invalid):
        CAL.due(datetime(2025, 3, 10, 9, 0), 1)
    with pytest.raises(Invalid):
        CAL.due(kst(2025, 3, 10, 9, 0), -1)


def test_due_and_elapsed_are_inverse() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        start = kst(2024, 1, 1) + timedelta(minutes=int(rng.integers(0, 3 * 365 * 24 * 60)))
        hours = float(rng.integers(0, 400)) / 4
        assert CAL.elapsed_business_hours(start, CAL.due(start, hours)) == pytest.approx(hours)


def test_centre_closures_and_extra_open_days() -> None:
    closed = BusinessCalendar(closed=frozenset({date(2025, 3, 10)}))
    assert closed.due(kst(2025, 3, 7, 17, 0), 2) == kst(2025, 3, 11, 10, 0)
    opened = BusinessCalendar(opened=frozenset({date(2025, 3, 8)}))  # a working Saturday
    assert opened.due(kst(2025, 3, 7, 17, 0), 2) == kst(2025, 3, 8, 10, 0)


def test_status_ok_then_warning_at_80_percent_then_breached() -> None:
    opened = kst(2025, 3, 11, 9, 0)  # Tue; target 10 h → due Wed 10:00
    assert sla_clock(CAL, opened, 10, now=kst(2025, 3, 11, 16, 59)).status is SlaStatus.OK
    assert sla_clock(CAL, opened, 10, now=kst(2025, 3, 11, 17, 0)).status is SlaStatus.WARNING  # 8 h = 80 %
    clock = sla_clock(CAL, opened, 10, now=kst(2025, 3, 12, 10, 0))
    assert (clock.status, clock.used, clock.due) == (SlaStatus.WARNING, 1.0, kst(2025, 3, 12, 10, 0))
    assert sla_clock(CAL, opened, 10, now=kst(2025, 3, 12, 10, 1)).status is SlaStatus.BREACHED


def test_a_stopped_clock_is_ok_or_breached() -> None:
    opened = kst(2025, 3, 11, 9, 0)
    late_now = kst(2025, 4, 1, 9, 0)
    in_time = sla_clock(CAL, opened, 10, now=late_now, done_at=kst(2025, 3, 11, 17, 30))
    assert (in_time.status, in_time.done, in_time.elapsed_hours) == (SlaStatus.OK, True, 8.5)
    late = sla_clock(CAL, opened, 10, now=late_now, done_at=kst(2025, 3, 12, 11, 0))
    assert late.status is SlaStatus.BREACHED


def test_ticket_targets_come_from_the_categories_file() -> None:
    opened = kst(2025, 3, 11, 9, 0)
    sla = ticket_sla(
        "security", "urgent", opened, now=kst(2025, 3, 11, 9, 30), first_response_at=kst(2025, 3, 11, 9, 20)
    )
    assert (sla.first_response.target_hours, sla.resolution.target_hours) == (1.0, 8.0)
    assert sla.first_response.status is SlaStatus.OK and sla.first_response.done
    assert sla.resolution.due == kst(2025, 3, 11, 17, 0)
    assert SlaStatus.BREACHED.label == "Breached"
