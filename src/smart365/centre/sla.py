"""Business-hours calendar and SLA clocks of the centre.

Business time is Monday–Friday 09:00–18:00 Asia/Seoul, except Korean public holidays — taken from
``holidays.KR``, which includes 설날 and 추석 (three days each), substitute holidays (대체공휴일) and election
days — plus any closures the centre adds. A ticket opened outside business time starts its clock at the next
opening.

>>> from datetime import datetime
>>> cal = BusinessCalendar()
>>> thursday_5pm = datetime(2025, 10, 2, 17, 0, tzinfo=SEOUL)  # before 개천절, 추석 + 대체공휴일, 한글날
>>> cal.due(thursday_5pm, 2).isoformat()
'2025-10-10T10:00:00+09:00'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from smart365.centre.categories import Priority, get_category
from smart365.core.errors import Invalid
from smart365.core.i18n import N_

SEOUL = ZoneInfo("Asia/Seoul")
#: Share of the target after which a running clock shows a warning.
WARNING_RATIO = 0.8
HOUR = timedelta(hours=1)


@cache
def korean_holidays(year: int) -> frozenset[date]:
    """Korean public holidays of ``year`` (including substitute and election days), per ``holidays.KR``.

    >>> date(2024, 2, 12) in korean_holidays(2024)  # substitute holiday for 설날 (Sunday 11 Feb)
    True
    """
    return frozenset(holidays.country_holidays("KR", years=year).keys())


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours, working weekdays (0 = Monday), and dates closed or opened on top of public holidays."""

    tz: ZoneInfo = SEOUL
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    workdays: frozenset[int] = frozenset(range(5))
    closed: frozenset[date] = field(default_factory=frozenset)
    opened: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise Invalid(N_("Opening time must be before closing time."))
        if not self.workdays:
            raise Invalid(N_("At least one working day is needed."))

    def is_business_day(self, day: date) -> bool:
        """A working weekday that is not a holiday or a closure (or a date explicitly opened).

        >>> BusinessCalendar().is_business_day(date(2025, 10, 8))  # 추석 대체공휴일
        False
        """
        if day in self.opened:
            return True
        return day.weekday() in self.workdays and day not in self.closed and day not in korean_holidays(day.year)

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if it is business time, else the next opening."""
        local = _local(moment, self.tz)
        day = local.date()
        if self.is_business_day(day) and local < _at(day, self.closes, self.tz):
            return max(local, _at(day, self.opens, self.tz))
        return _at(self._next_business_day(day), self.opens, self.tz)

    def due(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` business hours after ``start``.

        >>> cal = BusinessCalendar()
        >>> cal.due(datetime(2024, 2, 8, 16, 0, tzinfo=SEOUL), 4).isoformat()  # 설날 + 대체공휴일
        '2024-02-13T11:00:00+09:00'
        """
        if hours < 0:
            raise Invalid(N_("The number of hours must not be negative."))
        current, remaining = self.next_open(start), timedelta(hours=hours)
        while True:
            closing = _at(current.date(), self.closes, self.tz)
            if remaining <= closing - current:
                return current + remaining
            remaining -= closing - current
            current = _at(self._next_business_day(current.date()), self.opens, self.tz)

    def elapsed_business_hours(self, start: datetime, end: datetime) -> float:
        """Business hours between ``start`` and ``end`` (0 when ``end`` is not after ``start``).

        >>> cal = BusinessCalendar()
        >>> cal.elapsed_business_hours(datetime(2025, 1, 24, 17, 0, tzinfo=SEOUL),  # Fri, then 설날 week
        ...                            datetime(2025, 1, 31, 10, 30, tzinfo=SEOUL))
        2.5
        """
        start, end = _local(start, self.tz), _local(end, self.tz)
        total = timedelta(0)
        for day in _days(start.date(), end.date()):
            if self.is_business_day(day):
                lo = max(start, _at(day, self.opens, self.tz))
                hi = min(end, _at(day, self.closes, self.tz))
                total += max(hi - lo, timedelta(0))
        return total / HOUR

    def _next_business_day(self, day: date) -> date:
        for _ in range(366 * 2):
            day += timedelta(days=1)
            if self.is_business_day(day):
                return day
        raise Invalid(N_("The calendar has no business day within two years."))


def _at(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid(N_("Times must carry a time zone."))
    return moment.astimezone(tz)


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


class SlaStatus(StrEnum):
    """State of one SLA clock."""

    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"

    @property
    def label(self) -> str:
        """English msgid for display (translate with ``_``)."""
        return {"ok": N_("On track"), "warning": N_("At risk"), "breached": N_("Breached")}[self.value]


@dataclass(frozen=True)
class SlaClock:
    """One clock (first response or resolution): target, business hours used, due moment and status."""

    target_hours: float
    elapsed_hours: float
    due: datetime
    status: SlaStatus
    done: bool

    @property
    def used(self) -> float:
        """Share of the target used (1.0 = due now)."""
        return self.elapsed_hours / self.target_hours


def sla_clock(
    calendar: BusinessCalendar,
    start: datetime,
    target_hours: float,
    now: datetime,
    done_at: datetime | None = None,
    warning_ratio: float = WARNING_RATIO,
) -> SlaClock:
    """The clock from ``start`` with ``target_hours``: breached once past due; a running clock shows a warning
    from ``warning_ratio`` of its target; a stopped one (``done_at``) is ok or breached.

    >>> cal = BusinessCalendar()
    >>> opened = datetime(2025, 3, 4, 9, 0, tzinfo=SEOUL)
    >>> sla_clock(cal, opened, 8, now=datetime(2025, 3, 4, 16, 0, tzinfo=SEOUL)).status.value
    'warning'
    """
    if target_hours <= 0:
        raise Invalid(N_("An SLA target must be a positive number of hours."))
    due = calendar.due(start, target_hours)
    end = done_at or now
    elapsed = calendar.elapsed_business_hours(start, end)
    if _local(end, calendar.tz) > due:
        status = SlaStatus.BREACHED
    elif done_at is None and elapsed >= warning_ratio * target_hours - 1e-9:
        status = SlaStatus.WARNING
    else:
        status = SlaStatus.OK
    return SlaClock(target_hours, elapsed, due, status, done_at is not None)


@dataclass(frozen=True)
class TicketSla:
    """Both clocks of a ticket."""

    first_response: SlaClock
    resolution: SlaClock


def ticket_sla(
    category: str,
    priority: Priority,
    opened_at: datetime,
    now: datetime,
    *,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    calendar: BusinessCalendar | None = None,
) -> TicketSla:
    """First-response and resolution clocks of a ticket, with targets from ``data/categories.yaml``.

    >>> opened = datetime(2025, 3, 4, 9, 0, tzinfo=SEOUL)
    >>> sla = ticket_sla("security", "urgent", opened, now=datetime(2025, 3, 4, 11, 0, tzinfo=SEOUL))
    >>> sla.first_response.status.value, sla.resolution.status.value
    ('breached', 'ok')
    """
    calendar = calendar or BusinessCalendar()
    target = get_category(category).sla.get(priority)
    if target is None:
        raise Invalid(N_("Unknown priority: {priority}."), priority=priority)
    return TicketSla(
        first_response=sla_clock(calendar, opened_at, target.first_response, now, first_response_at),
        resolution=sla_clock(calendar, opened_at, target.resolution, now, resolved_at),
    )
