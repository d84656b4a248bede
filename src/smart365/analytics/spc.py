"""Statistical process control: control charts, run rules and process capability.

Shewhart charts are fitted on a *baseline* (phase I) and applied to later data (phase II):

>>> chart = imr([10.0, 12.0, 11.0, 13.0, 12.0])
>>> round(chart.location.center, 2), round(chart.location.ucl, 3), round(chart.spread.ucl, 3)
(11.6, 15.588, 4.9)
>>> chart.apply([11.0, 16.0]).location_out.tolist()
[1]

Also EWMA (time-varying limits), tabular CUSUM, the Western Electric and Nelson run rules, and Cp, Cpk,
Pp, Ppk with confidence intervals. Everything is vectorised with NumPy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smart365.core.errors import Invalid
from smart365.core.i18n import N_, gettext
from smart365.core.lazy import lazy

if TYPE_CHECKING:
    import scipy.special as sp_special
    from scipy import signal, stats
else:
    signal = lazy("scipy.signal")
    sp_special = lazy("scipy.special")
    stats = lazy("scipy.stats")

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]
ChartKind = Literal["I-MR", "Xbar-R", "Xbar-S"]

MIN_N, MAX_N = 2, 25
# d2 = E[R]/σ and d3 = sd(R)/σ for the range R of n independent normals, n = 2..25, by numerical
# integration of the range distribution (Tippett 1925): d2 = ∫ 1 − Φ(x)^n − (1 − Φ(x))^n dx and
# E[R²] = 2∬_{x<y} 1 − Φ(y)^n − (1 − Φ(x))^n + (Φ(y) − Φ(x))^n dx dy. They agree with the ASTM
# E2587 / Montgomery tables to their printed digits; tests check them against fresh integration.
_D2 = (1.128379, 1.692569, 2.058751, 2.325929, 2.534413, 2.704357, 2.847201, 2.970026, 3.077505,
       3.172873, 3.258455, 3.335980, 3.406763, 3.471827, 3.531983, 3.587884, 3.640064, 3.688963,
       3.734950, 3.778336, 3.819385, 3.858323, 3.895348, 3.930629)  # fmt: skip
_D3 = (0.852502, 0.888368, 0.879808, 0.864082, 0.848040, 0.833205, 0.819831, 0.807834, 0.797051,
       0.787315, 0.778478, 0.770416, 0.763023, 0.756211, 0.749908, 0.744052, 0.738591, 0.733481,
       0.728686, 0.724173, 0.719915, 0.715887, 0.712068, 0.708441)  # fmt: skip


@dataclass(frozen=True)
class Constants:
    """Control-chart constants for subgroup size ``n``.

    >>> k = constants(5)
    >>> round(k.A2, 3), round(k.D4, 3), round(k.A3, 3), round(k.B4, 3), round(k.c4, 4)
    (0.577, 2.114, 1.427, 2.089, 0.94)
    """

    n: int
    d2: float
    d3: float
    c4: float
    A2: float
    A3: float
    D3: float
    D4: float
    B3: float
    B4: float


def c4(n: int) -> float:
    """Bias of the sample standard deviation, E[s] = c4·σ: √(2/(n−1))·Γ(n/2)/Γ((n−1)/2).

    >>> round(c4(2), 4), round(c4(10), 4)
    (0.7979, 0.9727)
    """
    return float(np.sqrt(2.0 / (n - 1)) * np.exp(sp_special.gammaln(n / 2) - sp_special.gammaln((n - 1) / 2)))


def constants(n: int) -> Constants:
    """The constants d2, d3, c4, A2, A3, D3, D4, B3, B4 for a subgroup size ``n`` in 2..25."""
    if not MIN_N <= n <= MAX_N:
        raise Invalid(N_("Subgroup size must be between {low} and {high}."), low=MIN_N, high=MAX_N)
    d2, d3, cc = _D2[n - 2], _D3[n - 2], c4(n)
    s_spread = 3 * np.sqrt(1 - cc * cc) / cc
    return Constants(
        n=n, d2=d2, d3=d3, c4=cc,
        A2=float(3 / (d2 * np.sqrt(n))), A3=float(3 / (cc * np.sqrt(n))),
        D3=max(0.0, 1 - 3 * d3 / d2), D4=1 + 3 * d3 / d2,
        B3=float(max(0.0, 1 - s_spread)), B4=float(1 + s_spread),
    )  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Centre line and control limits of one chart; ``sigma`` is the plotted statistic's sd."""

    center: float
    lcl: float
    ucl: float
    sigma: float

    def beyond(self, values: ArrayLike) -> IndexArray:
        """Indices of the points strictly outside the limits.

        >>> Limits(0.0, -3.0, 3.0, 1.0).beyond([0.0, 3.0, 3.1, -4.0]).tolist()
        [2, 3]
        """
        v = np.asarray(values, dtype=float)
        return np.flatnonzero((v > self.ucl) | (v < self.lcl))


@dataclass(frozen=True)
class Violation:
    """A run rule broken: ``rule`` id within ``family`` and the indices of the points that complete it."""

    family: Literal["nelson", "western_electric"]
    rule: int
    indices: IndexArray

    @property
    def description(self) -> str:
        """The rule in words, in the current locale."""
        table = NELSON_RULES if self.family == "nelson" else WESTERN_ELECTRIC_RULES
        return gettext(table[self.rule])


@dataclass(frozen=True)
class ChartResult:
    """A chart applied to data: the plotted statistics, points out of limits, run-rule violations."""

    location: FloatArray
    spread: FloatArray
    location_out: IndexArray
    spread_out: IndexArray
    violations: list[Violation]


CHART_TITLES: dict[str, str] = {
    "I-MR": N_("Individuals and moving range (I-MR)"),
    "Xbar-R": N_("Subgroup mean and range (X̄-R)"),
    "Xbar-S": N_("Subgroup mean and standard deviation (X̄-S)"),
}


@dataclass(frozen=True)
class ControlChart:
    """A Shewhart chart pair (I-MR, X̄-R or X̄-S) with limits fixed from a baseline period.

    ``sigma`` is the within-process standard deviation estimated from the baseline.
    """

    kind: ChartKind
    n: int
    sigma: float
    location: Limits
    spread: Limits

    @property
    def title(self) -> str:
        """The chart's name in the current locale."""
        return gettext(CHART_TITLES[self.kind])

    def statistics(self, data: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """The plotted statistics: (x, MR) for I-MR (MR[0] is NaN), else subgroup (mean, R or s)."""
        if self.kind == "I-MR":
            x = _as_1d(data)
            return x, np.concatenate(([np.nan], np.abs(np.diff(x))))
        groups = _as_subgroups(data, self.n)
        spread = np.ptp(groups, axis=1) if self.kind == "Xbar-R" else groups.std(axis=1, ddof=1)
        return groups.mean(axis=1), spread

    def apply(self, data: ArrayLike, rules: Literal["nelson", "western_electric"] = "nelson") -> ChartResult:
        """Plot ``data`` against these (baseline) limits; run the rules on the location chart."""
        loc, spread = self.statistics(data)
        check = nelson_rules if rules == "nelson" else western_electric_rules
        return ChartResult(
            location=loc,
            spread=spread,
            location_out=self.location.beyond(loc),
            spread_out=self.spread.beyond(spread),
            violations=check(loc, self.location.center, self.location.sigma),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (for storing the limits with a tag)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControlChart:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            kind=data["kind"], n=int(data["n"]), sigma=float(data["sigma"]),
            location=Limits(**data["location"]), spread=Limits(**data["spread"]),
        )  # fmt: skip


def _as_1d(data: ArrayLike) -> FloatArray:
    x = np.asarray(data, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise Invalid(N_("Expected a non-empty series of individual values."))
    return x


def _as_subgroups(data: ArrayLike, n: int | None = None) -> FloatArray:
    groups = np.asarray(data, dtype=float)
    if groups.ndim != 2 or groups.shape[0] == 0 or (n is not None and groups.shape[1] != n):
        raise Invalid(N_("Expected a table of subgroups, one row per subgroup of equal size."))
    return groups


def _finite(values: FloatArray) -> FloatArray:
    if not np.all(np.isfinite(values)):
        raise Invalid(N_("The baseline contains missing or infinite values."))
    return values


def imr(baseline: ArrayLike) -> ControlChart:
    """Individuals and moving-range chart: limits x̄ ± 3·MR̄/d2, MR chart [D3·MR̄, D4·MR̄], n = 2.

    >>> c = imr([1.0, 3.0, 2.0])
    >>> c.sigma == 1.5 / 1.128379, round(c.spread.ucl, 4)
    (True, 4.8998)
    """
    x = _finite(_as_1d(baseline))
    if x.size < 2:
        raise Invalid(N_("The baseline needs at least two points."))
    k = constants(2)
    mr_bar = float(np.mean(np.abs(np.diff(x))))
    sigma = mr_bar / k.d2
    center = float(x.mean())
    location = Limits(center, center - 3 * sigma, center + 3 * sigma, sigma)
    spread = Limits(mr_bar, k.D3 * mr_bar, k.D4 * mr_bar, k.d3 * sigma)
    return ControlChart("I-MR", 1, sigma, location, spread)


def xbar_r(baseline: ArrayLike) -> ControlChart:
    """X̄-R chart from subgroups (rows): X̄̄ ± A2·R̄ and [D3·R̄, D4·R̄]; σ̂ = R̄/d2.

    >>> c = xbar_r([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    >>> c.location.center, c.spread.center, round(c.location.ucl, 3)
    (2.5, 2.0, 4.547)
    """
    groups = _finite(_as_subgroups(baseline))
    k = constants(groups.shape[1])
    r_bar = float(np.ptp(groups, axis=1).mean())
    center = float(groups.mean())
    sigma = r_bar / k.d2
    location = Limits(center, center - k.A2 * r_bar, center + k.A2 * r_bar, sigma / k.n**0.5)
    spread = Limits(r_bar, k.D3 * r_bar, k.D4 * r_bar, k.d3 * sigma)
    return ControlChart("Xbar-R", k.n, sigma, location, spread)


def xbar_s(baseline: ArrayLike) -> ControlChart:
    """X̄-S chart from subgroups (rows): X̄̄ ± A3·s̄ and [B3·s̄, B4·s̄]; σ̂ = s̄/c4.

    >>> c = xbar_s([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    >>> c.spread.center, round(c.location.ucl, 3)
    (1.5, 5.932)
    """
    groups = _finite(_as_subgroups(baseline))
    k = constants(groups.shape[1])
    s_bar = float(groups.std(axis=1, ddof=1).mean())
    center = float(groups.mean())
    sigma = s_bar / k.c4
    location = Limits(center, center - k.A3 * s_bar, center + k.A3 * s_bar, sigma / k.n**0.5)
    spread = Limits(s_bar, k.B3 * s_bar, k.B4 * s_bar, sigma * float(np.sqrt(1 - k.c4**2)))
    return ControlChart("Xbar-S", k.n, sigma, location, spread)


# --- EWMA and CUSUM ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EwmaResult:
    """EWMA statistic z with its time-varying limits; ``signals`` are the indices outside them."""

    z: FloatArray
    lcl: FloatArray
    ucl: FloatArray
    center: float
    signals: IndexArray


def ewma(x: ArrayLike, target: float, sigma: float, lam: float = 0.2, width: float = 3.0) -> EwmaResult:
    """EWMA chart: zᵢ = λxᵢ + (1−λ)zᵢ₋₁, z₀ = target; limits target ± L·σ·√(λ/(2−λ)·(1−(1−λ)^{2i})).

    ``sigma`` is the standard deviation of the plotted values (σ/√n for subgroup means).

    >>> r = ewma([10.0, 12.0], target=10.0, sigma=1.0, lam=0.5)
    >>> r.z.tolist(), round(float(r.ucl[0]), 4)
    ([10.0, 11.0], 11.5)
    """
    values = _as_1d(x)
    if not 0 < lam <= 1 or sigma <= 0:
        raise Invalid(N_("EWMA needs 0 < λ ≤ 1 and a positive sigma."))
    weights = (1 - lam) ** np.arange(1, values.size + 1)  # weight left on z₀ after i steps
    z = signal.lfilter([lam], [1.0, lam - 1.0], values, zi=[(1 - lam) * target])[0]
    half = width * sigma * np.sqrt(lam / (2 - lam) * (1 - weights**2))
    lcl, ucl = target - half, target + half
    return EwmaResult(z, lcl, ucl, target, np.flatnonzero((z > ucl) | (z < lcl)))


@dataclass(frozen=True)
class CusumResult:
    """Tabular CUSUM: upper and lower sums and the decision interval H (in data units)."""

    c_plus: FloatArray
    c_minus: FloatArray
    h: float
    signals_up: IndexArray
    signals_down: IndexArray

    @property
    def signals(self) -> IndexArray:
        """Indices where either side exceeds H."""
        return np.union1d(self.signals_up, self.signals_down)


def cusum(x: ArrayLike, target: float, sigma: float, k: float = 0.5, h: float = 5.0) -> CusumResult:
    """Tabular CUSUM (no reset): C⁺ᵢ = max(0, xᵢ − (μ₀+K) + C⁺ᵢ₋₁), C⁻ᵢ = max(0, (μ₀−K) − xᵢ + C⁻ᵢ₋₁).

    K = k·σ and H = h·σ. Vectorised as Sᵢ − min(0, min_{j≤i} Sⱼ) with Sᵢ the running sum of increments.

    >>> r = cusum([11.0, 12.0, 9.0], target=10.0, sigma=1.0, k=0.5, h=2.0)
    >>> r.c_plus.tolist(), r.c_minus.tolist(), r.signals_up.tolist()
    ([0.5, 2.0, 0.5], [0.0, 0.0, 0.5], [])
    """
    values = _as_1d(x)
    if sigma <= 0:
        raise Invalid(N_("CUSUM needs a positive sigma."))
    big_k, big_h = k * sigma, h * sigma
    c_plus = _lindley(values - target - big_k)
    c_minus = _lindley(target - big_k - values)
    return CusumResult(c_plus, c_minus, big_h, np.flatnonzero(c_plus > big_h), np.flatnonzero(c_minus > big_h))


def _lindley(increments: FloatArray) -> FloatArray:
    """Cᵢ = max(0, Cᵢ₋₁ + yᵢ), C₀ = 0, without a Python loop."""
    s = np.cumsum(increments)
    return np.asarray(s - np.minimum(np.minimum.accumulate(s), 0.0), dtype=float)


# --- Run rules -----------------------------------------------------------------------------------

NELSON_RULES: dict[int, str] = {
    1: N_("One point more than 3σ from the centre line"),
    2: N_("Nine points in a row on the same side of the centre line"),
    3: N_("Six points in a row steadily increasing or decreasing"),
    4: N_("Fourteen points in a row alternating up and down"),
    5: N_("Two out of three points in a row more than 2σ from the centre line, same side"),
    6: N_("Four out of five points in a row more than 1σ from the centre line, same side"),
    7: N_("Fifteen points in a row within 1σ of the centre line"),
    8: N_("Eight points in a row more than 1σ from the centre line, on both sides"),
}
WESTERN_ELECTRIC_RULES: dict[int, str] = {
    1: NELSON_RULES[1],
    2: NELSON_RULES[5],
    3: NELSON_RULES[6],
    4: N_("Eight points in a row on the same side of the centre line"),
}


def _window_count(cond: NDArray[np.bool_], k: int) -> NDArray[np.int64]:
    """How many of the last ``k`` entries are true, at each index (0 before a full window)."""
    c = np.concatenate(([0], np.cumsum(cond, dtype=np.int64)))
    out = np.zeros(cond.size, dtype=np.int64)
    if cond.size >= k:
        out[k - 1 :] = c[k:] - c[: cond.size - k + 1]
    return out


def _runs(cond: NDArray[np.bool_], k: int) -> IndexArray:
    """Indices ending a run of ``k`` consecutive true entries."""
    return np.flatnonzero(_window_count(cond, k) == k)


def _at_least(cond: NDArray[np.bool_], k: int, m: int) -> IndexArray:
    """Indices ending a window of ``k`` entries of which at least ``m`` are true."""
    return np.flatnonzero(_window_count(cond, k) >= m)


def _both_sides(z: FloatArray, k: int, m: int, level: float) -> IndexArray:
    return np.union1d(_at_least(z > level, k, m), _at_least(z < -level, k, m))


def _trend(x: FloatArray, points: int) -> IndexArray:
    d = np.diff(x)
    ups, downs = _runs(d > 0, points - 1), _runs(d < 0, points - 1)
    return np.union1d(ups, downs) + 1


def _alternating(x: FloatArray, points: int) -> IndexArray:
    s = np.sign(np.diff(x))
    flips = (s[1:] * s[:-1]) < 0  # flips[j]: diff j+1 reverses diff j
    return _runs(flips, points - 2) + 2


def nelson_rule(rule: int, values: ArrayLike, center: float, sigma: float) -> IndexArray:
    """Indices of the points that complete a breach of Nelson rule ``rule`` (1–8).

    The flagged index is the last point of the run or window. A point on the centre line breaks a
    same-side run; equal neighbours break a trend or an alternation.

    >>> nelson_rule(1, [0.0, 3.5, -1.0], center=0.0, sigma=1.0).tolist()
    [1]
    >>> nelson_rule(3, [1, 2, 3, 4, 5, 6, 7], center=0.0, sigma=1.0).tolist()
    [5, 6]
    """
    x = np.asarray(values, dtype=float)
    if sigma <= 0:
        raise Invalid(N_("Run rules need a positive sigma."))
    z = (x - center) / sigma
    checks = {
        1: lambda: np.flatnonzero(np.abs(z) > 3),
        2: lambda: _both_sides(z, 9, 9, 0.0),
        3: lambda: _trend(x, 6),
        4: lambda: _alternating(x, 14),
        5: lambda: _both_sides(z, 3, 2, 2.0),
        6: lambda: _both_sides(z, 5, 4, 1.0),
        7: lambda: _runs(np.abs(z) < 1, 15),
        8: lambda: np.intersect1d(_runs(np.abs(z) > 1, 8), np.intersect1d(
            _at_least(z > 1, 8, 1), _at_least(z < -1, 8, 1))),
    }  # fmt: skip
    if rule not in checks:
        raise Invalid(N_("Unknown rule {rule}."), rule=rule)
    return np.asarray(checks[rule](), dtype=np.intp)


def western_electric_rule(rule: int, values: ArrayLike, center: float, sigma: float) -> IndexArray:
    """Western Electric rules 1–4: beyond 3σ; 2 of 3 beyond 2σ; 4 of 5 beyond 1σ; 8 on one side.

    >>> western_electric_rule(4, [1.0] * 8, center=0.0, sigma=1.0).tolist()
    [7]
    """
    if rule == 4:
        z = (np.asarray(values, dtype=float) - center) / sigma
        return _both_sides(z, 8, 8, 0.0)
    if rule not in (1, 2, 3):
        raise Invalid(N_("Unknown rule {rule}."), rule=rule)
    return nelson_rule({1: 1, 2: 5, 3: 6}[rule], values, center, sigma)


def nelson_rules(values: ArrayLike, center: float, sigma: float) -> list[Violation]:
    """Every Nelson rule that ``values`` break, with the indices that complete each breach."""
    found = ((r, nelson_rule(r, values, center, sigma)) for r in NELSON_RULES)
    return [Violation("nelson", r, idx) for r, idx in found if idx.size]


def western_electric_rules(values: ArrayLike, center: float, sigma: float) -> list[Violation]:
    """Every Western Electric rule that ``values`` break."""
    found = ((r, western_electric_rule(r, values, center, sigma)) for r in WESTERN_ELECTRIC_RULES)
    return [Violation("western_electric", r, idx) for r, idx in found if idx.size]


# --- Capability ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Capability:
    """Cp/Cpk (within-subgroup σ) and Pp/Ppk (overall σ); Cp and Pp need both limits."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: Interval | None
    cpk: Interval
    pp: Interval | None
    ppk: Interval
    confidence: float


def _ratio_ci(value: float, n: int, confidence: float) -> Interval:
    """Chi-square interval for Cp or Pp: value·√(χ²_{α/2,n−1}/(n−1)) .. value·√(χ²_{1−α/2,n−1}/(n−1))."""
    alpha = 1 - confidence
    lo, hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], n - 1)
    return Interval(value, value * float(np.sqrt(lo / (n - 1))), value * float(np.sqrt(hi / (n - 1))))


def _bissell_ci(value: float, n: int, confidence: float) -> Interval:
    """Bissell (1990): Cpk ± z_{α/2}·√(1/(9n) + Cpk²/(2(n−1)))."""
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    half = z * float(np.sqrt(1 / (9 * n) + value**2 / (2 * (n - 1))))
    return Interval(value, value - half, value + half)


def _index_k(mean: float, sigma: float, lsl: float | None, usl: float | None) -> float:
    sides = [(usl - mean) if usl is not None else np.inf, (mean - lsl) if lsl is not None else np.inf]
    return float(min(sides) / (3 * sigma))


def capability(
    data: ArrayLike,
    lsl: float | None = None,
    usl: float | None = None,
    sigma_within: float | None = None,
    confidence: float = 0.95,
) -> Capability:
    """Process capability with confidence intervals.

    ``data`` is a series of individuals (σ_within defaults to MR̄/d2) or a table of subgroups
    (σ_within defaults to s̄/c4). σ_overall is the sample standard deviation of all values. A one-sided
    specification gives Cpk = Cpu or Cpl and no Cp.

    >>> c = capability([9.0, 11.0] * 25, lsl=4.0, usl=16.0, sigma_within=1.0)
    >>> c.cp.estimate, c.cpk.estimate, round(c.cp.low, 3), round(c.cpk.low, 3)
    (2.0, 2.0, 1.605, 1.593)
    """
    if lsl is None and usl is None:
        raise Invalid(N_("Give at least one specification limit."))
    if lsl is not None and usl is not None and usl <= lsl:
        raise Invalid(N_("The upper specification limit must be above the lower one."))
    arr = _finite(np.asarray(data, dtype=float))
    values = arr.ravel()
    if values.size < 2:
        raise Invalid(N_("Capability needs at least two values."))
    if sigma_within is None:
        sigma_within = imr(values).sigma if arr.ndim == 1 else xbar_s(arr).sigma
    n, mean = values.size, float(values.mean())
    sigma_overall = float(values.std(ddof=1))
    if sigma_within <= 0 or sigma_overall <= 0:
        raise Invalid(N_("The data have no variation; capability is undefined."))
    width = usl - lsl if usl is not None and lsl is not None else None
    cp = _ratio_ci(width / (6 * sigma_within), n, confidence) if width is not None else None
    pp = _ratio_ci(width / (6 * sigma_overall), n, confidence) if width is not None else None
    cpk = _bissell_ci(_index_k(mean, sigma_within, lsl, usl), n, confidence)
    ppk = _bissell_ci(_index_k(mean, sigma_overall, lsl, usl), n, confidence)
    return Capability(n, mean, sigma_within, sigma_overall, cp, cpk, pp, ppk, confidence)
