"""A machine tag's SPC chart from the store: 1-minute means, control limits from a baseline period, run-rule
violations in words and process capability when specification limits are given.

The points are the store's 1-minute means (a shop-floor tag samples every second or faster, and a chart
of individuals needs roughly independent points); with ``running_only`` only minutes in which the machine
ran the whole minute count, because idle minutes are another process. I-MR charts the means one by one;
X̄-R and X̄-S group ``n`` consecutive means into a subgroup. The limits come from the baseline period only
(phase I) and are applied to the whole window (phase II).

Without a baseline from the user, one is chosen: windows of a quarter of the plotted points (at least
:data:`AUTO_MIN_POINTS`, as phase I asks for 20–25) slide across the data, and of those in control against
their own limits (no point out, no run rule broken) the one whose limits flag the fewest points elsewhere
wins, the latest on a tie: the stable period that best describes the rest. A ramp or a level change inside
a window breaks its own rules, so it is never the baseline. The page says which period it chose, and when
the baseline is not in control itself it says so instead of listing rule violations against it.

Under the Shewhart chart the same points go through an EWMA and a tabular CUSUM chart, with the baseline's
centre and the plotted statistic's σ: they signal a small sustained shift (a tool wearing, a heater drifting)
long before a point crosses 3σ. Their settings are the textbook ones (Montgomery): λ 0.2 and L 3; k 0.5σ
and h 5σ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from smart365.analytics import spc
from smart365.core.errors import Invalid
from smart365.core.i18n import N_, gettext
from smart365.monitoring.oee import KST
from smart365.telemetry.store import TimeSeriesStore

ChartKind = Literal["I-MR", "Xbar-R", "Xbar-S"]
RuleFamily = Literal["nelson", "western_electric"]
MIN_BASELINE = 2
AUTO_MIN_POINTS = 20  # the smallest automatic baseline, in plotted points
AUTO_SHARE = 4  # an automatic baseline spans a quarter of the plotted points (when that is more)
FITS = {"I-MR": spc.imr, "Xbar-R": spc.xbar_r, "Xbar-S": spc.xbar_s}  # chart kind → limits from a baseline
EWMA_LAMBDA, EWMA_WIDTH = 0.2, 3.0
CUSUM_K, CUSUM_H = 0.5, 5.0
_EWMA_SIGNAL = N_("EWMA (λ {lam}, L {width}): {count} points beyond its limits, the first at {first} ({way}).")
_EWMA_QUIET = N_("EWMA (λ {lam}, L {width}): no signal, no small sustained shift.")
_CUSUM_UP = N_("CUSUM (k {k}σ, h {h}σ): an upward shift from {first} ({count} points past H).")
_CUSUM_DOWN = N_("CUSUM (k {k}σ, h {h}σ): a downward shift from {first} ({count} points past H).")
_CUSUM_QUIET = N_("CUSUM (k {k}σ, h {h}σ): no shift signalled.")


class NoData(Invalid):
    """The tag has too little data in the window: the page says so instead of drawing a chart."""


@dataclass
class SpcRequest:
    """What the page asks for (already parsed): the window, the baseline inside it, the chart, the limits."""

    start: datetime
    end: datetime
    baseline_from: datetime | None = None
    baseline_to: datetime | None = None
    chart: ChartKind = "I-MR"
    n: int = 5
    rules: RuleFamily = "nelson"
    lsl: float | None = None
    usl: float | None = None
    running_only: bool = True


@dataclass
class SpcView:
    """Everything the page draws and lists."""

    times: list[str]
    location: list[float | None]
    spread: list[float | None]
    chart: spc.ControlChart
    result: spc.ChartResult
    baseline: tuple[str, str]
    baseline_span: tuple[int, int]  # first and last plotted point inside the baseline
    baseline_points: int
    baseline_auto: bool  # chosen by :func:`auto_baseline`, not by the user
    baseline_in_control: bool  # no point out and no rule broken inside the baseline itself
    ewma: spc.EwmaResult
    cusum: spc.CusumResult
    violations: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    capability: spc.Capability | None = None

    def chart_json(self) -> dict[str, Any]:
        """The series and limits for the chart script."""
        loc, spr = self.chart.location, self.chart.spread
        return {
            "times": self.times, "location": self.location, "spread": self.spread,
            "limits": {"center": loc.center, "ucl": loc.ucl, "lcl": loc.lcl},
            "spread_limits": {"center": spr.center, "ucl": spr.ucl, "lcl": spr.lcl},
            "flagged": self.flagged, "spread_out": self.result.spread_out.tolist(),
            "baseline": list(self.baseline_span),
            "ewma": {"z": _clean(self.ewma.z), "ucl": _clean(self.ewma.ucl), "lcl": _clean(self.ewma.lcl),
                     "center": self.ewma.center, "signals": self.ewma.signals.tolist()},
            "cusum": {"up": _clean(self.cusum.c_plus), "down": _clean(-self.cusum.c_minus), "h": self.cusum.h,
                      "signals_up": self.cusum.signals_up.tolist(), "signals_down": self.cusum.signals_down.tolist()},
        }  # fmt: skip

    def shifts(self) -> list[str]:
        """What the EWMA and CUSUM charts say, in the current locale: no signal, or since when and which way."""
        ewma = {"lam": f"{EWMA_LAMBDA:g}", "width": f"{EWMA_WIDTH:g}"}
        cusum = {"k": f"{CUSUM_K:g}", "h": f"{CUSUM_H:g}"}
        if len(self.ewma.signals):
            first = int(self.ewma.signals[0])
            way = gettext(N_("upward") if self.ewma.z[first] > self.ewma.center else N_("downward"))
            count = len(self.ewma.signals)
            out = [gettext(_EWMA_SIGNAL).format(**ewma, count=count, first=self.times[first], way=way)]
        else:
            out = [gettext(_EWMA_QUIET).format(**ewma)]
        for signals, text in ((self.cusum.signals_up, _CUSUM_UP), (self.cusum.signals_down, _CUSUM_DOWN)):
            if len(signals):
                out.append(gettext(text).format(**cusum, first=self.times[int(signals[0])], count=len(signals)))
        if len(out) == 1:
            out.append(gettext(_CUSUM_QUIET).format(**cusum))
        return out


def minute_means(
    store: TimeSeriesStore, tag_id: int, start: datetime, end: datetime, gate_tag_id: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(minute start as datetime64[us], mean) of a tag, left out the minutes the gate tag was not 1 throughout."""
    table = store.rollup(tag_id, start, end, "1m")
    buckets = np.asarray(table.column("bucket").to_numpy(), dtype="datetime64[us]")
    means = np.asarray(table.column("avg").to_numpy(zero_copy_only=False), dtype=float)
    if gate_tag_id is not None and len(buckets):
        gate = store.rollup(gate_tag_id, start, end, "1m")
        running = {
            b for b, lo, hi in zip(
                np.asarray(gate.column("bucket").to_numpy(), dtype="datetime64[us]").tolist(),
                gate.column("min").to_pylist(), gate.column("max").to_pylist(), strict=True,
            ) if lo == 1 and hi == 1
        }  # fmt: skip
        keep = np.array([b in running for b in buckets.tolist()], dtype=bool)
        buckets, means = buckets[keep], means[keep]
    return buckets, means


def build(store: TimeSeriesStore, tag_id: int, request: SpcRequest, gate_tag_id: int | None = None) -> SpcView:
    """The chart of ``tag_id`` over the request's window; bad choices are :class:`Invalid` with a reason."""
    if request.lsl is not None and request.usl is not None and request.usl <= request.lsl:
        raise Invalid(N_("The upper specification limit must be above the lower one."))
    gate = gate_tag_id if request.running_only else None
    buckets, means = minute_means(store, tag_id, request.start, request.end, gate)
    if len(means) < 2 * MIN_BASELINE:
        raise NoData(N_("This tag has too little data in the chosen period for a control chart."))
    group = 1 if request.chart == "I-MR" else request.n
    if request.chart != "I-MR" and not spc.MIN_N <= request.n <= spc.MAX_N:
        raise Invalid(N_("Subgroup size must be between {low} and {high}."), low=spc.MIN_N, high=spc.MAX_N)
    usable = len(means) // group * group
    buckets, means = buckets[:usable], means[:usable]
    data = means if group == 1 else means.reshape(-1, group)
    times = buckets[::group]
    auto = request.baseline_from is None and request.baseline_to is None
    if auto:
        inside = auto_baseline(data, request.chart, request.rules)
    else:
        base_from = request.baseline_from or _as_dt(buckets[0])
        base_to = request.baseline_to or _as_dt(buckets[len(buckets) // 2])
        if base_from >= base_to:
            raise Invalid(N_("The baseline must start before it ends."))
        in_base = (buckets >= _np(base_from)) & (buckets < _np(base_to))
        inside = np.asarray(in_base.reshape(-1, group).all(axis=1), dtype=bool)  # a subgroup: wholly inside
    base_values = data[inside]
    if len(base_values) < MIN_BASELINE:
        raise Invalid(
            N_("The baseline period holds {count} points of this tag; choose a period inside the data."),
            count=len(base_values),
        )
    if auto:
        first, last = np.flatnonzero(inside)[[0, -1]]
        base_from, base_to = _as_dt(times[first]), _as_dt(buckets[(last + 1) * group - 1]) + timedelta(minutes=1)
    fit = FITS[request.chart]
    chart = fit(base_values)
    if chart.location.sigma <= 0:
        raise Invalid(N_("The baseline has no variation; control limits are undefined."))
    result = chart.apply(data, rules=request.rules)
    in_control = not np.any(inside[_flagged(result)])
    loc = chart.location
    ewma = spc.ewma(result.location, loc.center, loc.sigma, EWMA_LAMBDA, EWMA_WIDTH)
    cusum = spc.cusum(result.location, loc.center, loc.sigma, CUSUM_K, CUSUM_H)
    capability = None
    if request.lsl is not None or request.usl is not None:
        capability = spc.capability(base_values, request.lsl, request.usl)
    labels = [_local(t) for t in times.tolist()]
    violations = [
        {"rule": v.rule, "text": v.description, "count": len(v.indices),
         "at": [labels[i] for i in v.indices[:5].tolist()]}
        for v in result.violations
    ]  # fmt: skip
    flagged = sorted({int(i) for v in result.violations for i in v.indices} | set(result.location_out.tolist()))
    return SpcView(
        times=labels,
        location=_clean(result.location),
        spread=_clean(result.spread),
        chart=chart,
        result=result,
        baseline=(_local(base_from), _local(base_to)),
        baseline_span=(int(np.argmax(inside)), int(len(inside) - 1 - np.argmax(inside[::-1]))),
        baseline_points=len(base_values),
        baseline_auto=auto,
        baseline_in_control=in_control,
        ewma=ewma,
        cusum=cusum,
        violations=violations,
        flagged=flagged,
        capability=capability,
    )


def auto_baseline(data: np.ndarray, chart: ChartKind, rules: RuleFamily) -> np.ndarray:
    """Which plotted points form the automatic baseline (see the module docstring): a boolean mask.

    >>> rng = np.random.default_rng(3)
    >>> ramp_then_steady = np.concatenate([np.linspace(45, 80, 60), 80 + rng.normal(0, 1, 200)])
    >>> mask = auto_baseline(ramp_then_steady, "I-MR", "nelson")
    >>> int(np.flatnonzero(mask)[0]) >= 60, int(mask.sum())  # never the ramp; a quarter of the points
    (True, 65)
    """
    fit = FITS[chart]
    count = len(data)
    width = min(count, max(AUTO_MIN_POINTS, count // AUTO_SHARE))
    starts = sorted({*range(0, count - width + 1, max(1, width // 2)), count - width})
    best: tuple[int, int, int] | None = None  # (flagged inside, flagged elsewhere, -start)
    for start in starts:
        window = np.zeros(count, dtype=bool)
        window[start : start + width] = True
        candidate = fit(data[window])
        if candidate.location.sigma <= 0:
            continue  # a flat stretch has no limits
        flagged = _flagged(candidate.apply(data, rules=rules))
        rank = (int(window[flagged].sum()), int((~window[flagged]).sum()), -start)
        best = rank if best is None or rank < best else best
    chosen = np.zeros(count, dtype=bool)
    start = -best[2] if best is not None else 0
    chosen[start : start + width] = True
    return chosen


def _flagged(result: spc.ChartResult) -> np.ndarray:
    """Every plotted point out of its limits (either chart) or in a broken run rule."""
    marks = {int(i) for v in result.violations for i in v.indices}
    marks |= {int(i) for i in result.location_out.tolist()} | {int(i) for i in result.spread_out.tolist()}
    return np.asarray(sorted(marks), dtype=np.int64)


def rules_title(family: RuleFamily) -> str:
    """The rule family's name in the current locale."""
    return gettext(N_("Nelson rules") if family == "nelson" else N_("Western Electric rules"))


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values.tolist()]


def _np(moment: datetime) -> np.datetime64:
    return np.datetime64(int(moment.timestamp() * 1_000_000), "us")


def _as_dt(value: np.datetime64) -> datetime:
    return _utc(value.astype("datetime64[us]").astype(datetime))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _local(moment: datetime) -> str:
    return _utc(moment).astimezone(KST).strftime("%m-%d %H:%M")
