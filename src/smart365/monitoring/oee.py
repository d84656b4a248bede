"""OEE (설비종합효율) from machine state, part counts and the ideal cycle time: pure functions, no I/O.

- **Availability** = running time / planned time (the time the machine's state is known: run + idle + down).
- **Performance** = ideal cycle time × parts made / running time (capped at 100 %: a higher value means the
  ideal cycle time is set too slow).
- **Quality** = good parts / parts made.
- **OEE** = availability × performance × quality.

Inputs are the raw samples of a state tag (0 idle, 1 run, 2 down), an optional stop-reason tag, and two
counters (parts made, defects). A state holds from its sample until the next one; counters may reset
(a drop counts from zero again).

>>> h = 3_600_000_000  # one hour in µs
>>> times = StateTimes.from_samples([0, h // 2, h // 2 + h // 6], [1, 2, 1], 0, h, [0, h // 2], [0, 4])
>>> times.run_s, times.down_s, times.stops_by_reason
(3000.0, 600.0, {4: 600.0})
>>> result = compute(times, total=100, good=95, ideal_cycle_s=20)
>>> round(result.availability, 3), round(result.performance, 3), result.quality, round(result.oee, 3)
(0.833, 0.667, 0.95, 0.528)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import numpy as np

from smart365.core.i18n import N_, _

IDLE, RUN, DOWN = 0, 1, 2
#: Stop reason codes as machines send them (the simulator's ``REASON_CODES``) → label msgids.
REASONS = {1: N_("material wait"), 2: N_("mould change"), 3: N_("tool change"), 4: N_("breakdown")}
KST = timezone(timedelta(hours=9), "KST")
SHIFTS = ((N_("Day shift"), time(8), 12), (N_("Night shift"), time(20), 12))
"""Two 12-hour shifts in Korean time: (name msgid, start, hours)."""


def step_values(ts: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The value of a step signal (each sample holds until the next) at times ``at``; NaN before the first.

    >>> step_values(np.array([10, 20]), np.array([1.0, 2.0]), np.array([5, 10, 15, 25])).tolist()
    [nan, 1.0, 1.0, 2.0]
    >>> step_values(np.array([]), np.array([]), np.array([5])).tolist()  # a machine with no data yet
    [nan]
    """
    if not len(ts):
        return np.full(len(at), np.nan)
    pos = np.searchsorted(ts, at, side="right") - 1
    return np.where(pos >= 0, np.asarray(values, dtype=float)[np.maximum(pos, 0)], np.nan)


@dataclass(frozen=True)
class StateTimes:
    """Seconds spent running, idle and down in a window, and stopped seconds per reason code."""

    run_s: float = 0.0
    idle_s: float = 0.0
    down_s: float = 0.0
    stops_by_reason: dict[int, float] = field(default_factory=dict)

    @property
    def planned_s(self) -> float:
        """The time the state was known."""
        return self.run_s + self.idle_s + self.down_s

    @property
    def stopped_s(self) -> float:
        return self.idle_s + self.down_s

    @classmethod
    def from_samples(
        cls,
        state_ts: Sequence[int] | np.ndarray,
        states: Sequence[float] | np.ndarray,
        start_us: int,
        end_us: int,
        reason_ts: Sequence[int] | np.ndarray = (),
        reasons: Sequence[float] | np.ndarray = (),
    ) -> StateTimes:
        """Time in each state over ``[start_us, end_us)``; samples before the start set the initial state."""
        s_ts, s_val = np.asarray(state_ts, dtype=np.int64), np.asarray(states, dtype=float)
        r_ts, r_val = np.asarray(reason_ts, dtype=np.int64), np.asarray(reasons, dtype=float)
        inside = np.concatenate((s_ts, r_ts))
        cuts = np.unique(np.concatenate(([start_us], inside[(inside > start_us) & (inside < end_us)], [end_us])))
        seconds = np.diff(cuts) / 1e6
        state = step_values(s_ts, s_val, cuts[:-1])
        reason = step_values(r_ts, r_val, cuts[:-1]) if len(r_ts) else np.zeros(len(seconds))
        stopped = (state == IDLE) | (state == DOWN)
        by_reason: dict[int, float] = {}
        for code in np.unique(np.nan_to_num(reason[stopped], nan=0).astype(int)):
            mask = stopped & (np.nan_to_num(reason, nan=0).astype(int) == code)
            by_reason[int(code)] = float(seconds[mask].sum())
        return cls(
            run_s=float(seconds[state == RUN].sum()),
            idle_s=float(seconds[state == IDLE].sum()),
            down_s=float(seconds[state == DOWN].sum()),
            stops_by_reason=by_reason,
        )


def state_segments(
    state_ts: Sequence[int] | np.ndarray, states: Sequence[float] | np.ndarray, start_us: int, end_us: int
) -> list[tuple[int, int, int]]:
    """The window as ``(start µs, end µs, state)`` runs of one state each (unknown time left out).

    >>> state_segments([-5, 10, 20, 30], [1, 1, 0, 1], 0, 40)
    [(0, 20, 1), (20, 30, 0), (30, 40, 1)]
    """
    s_ts, s_val = np.asarray(state_ts, dtype=np.int64), np.asarray(states, dtype=float)
    inside = s_ts[(s_ts > start_us) & (s_ts < end_us)]
    cuts = np.concatenate(([start_us], inside, [end_us]))
    codes = step_values(s_ts, s_val, cuts[:-1])
    runs: list[tuple[int, int, int]] = []
    for lo, hi, code in zip(cuts[:-1], cuts[1:], codes, strict=True):
        if np.isnan(code) or hi <= lo:
            continue
        if runs and runs[-1][2] == int(code) and runs[-1][1] == lo:
            runs[-1] = (runs[-1][0], int(hi), int(code))
        else:
            runs.append((int(lo), int(hi), int(code)))
    return runs


def counter_increase(ts: Sequence[int] | np.ndarray, values: Sequence[float] | np.ndarray, start_us: int) -> float:
    """How much a counter grew from ``start_us`` on (the last sample before it is the baseline).

    A drop is a reset: the counter counted from zero again, so its new value is all growth.

    >>> counter_increase([0, 10, 20, 30, 40], [100, 105, 112, 3, 8], start_us=5)
    20.0
    """
    t, v = np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=float)
    first = max(int(np.searchsorted(t, start_us, side="left")) - 1, 0)
    v = v[first:]
    if len(v) < 2:
        return 0.0
    steps = np.diff(v)
    return float(np.where(steps >= 0, steps, v[1:]).sum())


@dataclass(frozen=True)
class Oee:
    """The three factors (``None`` where undefined, e.g. no parts yet) and what they came from."""

    availability: float | None
    performance: float | None
    quality: float | None
    times: StateTimes
    total: float
    good: float
    ideal_cycle_s: float

    @property
    def oee(self) -> float | None:
        a, p, q = self.availability, self.performance, self.quality
        return None if a is None or p is None or q is None else a * p * q

    def explain(self) -> list[str]:
        """One sentence per factor in the current language, e.g. '가용률 87%: 비가동 62분 중 고장 40분'."""
        return [self._availability_text(), self._performance_text(), self._quality_text()]

    def _availability_text(self) -> str:
        pct, t = percent(self.availability), self.times
        stops = {k: v for k, v in t.stops_by_reason.items() if v > 0}
        if not stops:
            return _("Availability {pct}: no stops in {planned} min").format(pct=pct, planned=minutes(t.planned_s))
        code, seconds = max(stops.items(), key=lambda item: item[1])
        reason = _(REASONS[code]) if code in REASONS else _("unspecified")
        return _("Availability {pct}: {stop} min stopped, {reason} {minutes} min of it").format(
            pct=pct, stop=minutes(t.stopped_s), reason=reason, minutes=minutes(seconds)
        )

    def _performance_text(self) -> str:
        ideal = int(self.times.run_s // self.ideal_cycle_s) if self.ideal_cycle_s > 0 else 0
        return _(
            "Performance {pct}: {count} made in {run} min running; {ideal} at the ideal cycle of {cycle} s"
        ).format(
            pct=percent(self.performance),
            count=f"{self.total:,.0f}",
            run=minutes(self.times.run_s),
            ideal=f"{ideal:,}",
            cycle=f"{self.ideal_cycle_s:g}",
        )

    def _quality_text(self) -> str:
        return _("Quality {pct}: {good} good of {count} ({bad} defective)").format(
            pct=percent(self.quality),
            good=f"{self.good:,.0f}",
            count=f"{self.total:,.0f}",
            bad=f"{self.total - self.good:,.0f}",
        )


def compute(times: StateTimes, total: float, good: float, ideal_cycle_s: float) -> Oee:
    """OEE from time in state, parts made, good parts and the ideal cycle time (seconds per part).

    >>> o = compute(StateTimes(run_s=3000, idle_s=600), total=0, good=0, ideal_cycle_s=30)
    >>> o.availability, o.performance, o.quality, o.oee
    (0.8333333333333334, 0.0, None, None)
    """
    availability = times.run_s / times.planned_s if times.planned_s > 0 else None
    performance = min(1.0, ideal_cycle_s * total / times.run_s) if times.run_s > 0 else None
    quality = min(1.0, max(0.0, good / total)) if total > 0 else None
    return Oee(availability, performance, quality, times, total, good, ideal_cycle_s)


def combine(results: Sequence[Oee]) -> Oee | None:
    """The OEE of several machines together (a line, a plant): times, parts and ideal time are summed.

    Availability = Σ running / Σ planned, performance = Σ (ideal cycle × parts) / Σ running, quality =
    Σ good / Σ parts; ``None`` for no machines.

    >>> a = compute(StateTimes(run_s=3000, idle_s=600), total=90, good=90, ideal_cycle_s=30)
    >>> b = compute(StateTimes(run_s=3600), total=50, good=40, ideal_cycle_s=60)
    >>> line = combine([a, b]); percent(line.availability), percent(line.performance), percent(line.quality)
    ('92%', '86%', '93%')
    """
    if not results:
        return None
    stops: dict[int, float] = {}
    for r in results:
        for code, seconds in r.times.stops_by_reason.items():
            stops[code] = stops.get(code, 0.0) + seconds
    times = StateTimes(
        run_s=sum(r.times.run_s for r in results),
        idle_s=sum(r.times.idle_s for r in results),
        down_s=sum(r.times.down_s for r in results),
        stops_by_reason=stops,
    )
    total, good = sum(r.total for r in results), sum(r.good for r in results)
    ideal_s = sum(r.ideal_cycle_s * r.total for r in results)
    return compute(times, total, good, ideal_s / total if total else 0.0)


def percent(value: float | None) -> str:
    """'87%' or '–' when undefined.

    >>> percent(0.8712), percent(None)
    ('87%', '–')
    """
    return "–" if value is None else f"{100 * value:.0f}%"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:,.0f}"


@dataclass(frozen=True)
class Shift:
    """A shift: its name msgid and its window."""

    name: str
    start: datetime
    end: datetime


def shift_at(moment: datetime) -> Shift:
    """The shift a moment falls in (day 08–20 KST, night 20–08 KST).

    >>> s = shift_at(datetime(2026, 1, 5, 1, 0, tzinfo=KST)); s.name, s.start.isoformat()
    ('Night shift', '2026-01-04T20:00:00+09:00')
    """
    local = moment.astimezone(KST)
    for day in (local.date(), local.date() - timedelta(days=1)):
        for shift in shifts_of(day):
            if shift.start <= local < shift.end:
                return shift
    raise AssertionError("the shifts cover the day")  # pragma: no cover


def shifts_of(day: date) -> list[Shift]:
    """The shifts that start on ``day`` (Korean time)."""
    result = []
    for name, start, hours in SHIFTS:
        begin = datetime.combine(day, start, KST)
        result.append(Shift(name, begin, begin + timedelta(hours=hours)))
    return result


def recent_shifts(now: datetime, count: int = 3) -> list[Shift]:
    """The current shift and the ones before it, newest first."""
    shifts = [shift_at(now)]
    while len(shifts) < count:
        shifts.append(shift_at(shifts[-1].start - timedelta(seconds=1)))
    return shifts
