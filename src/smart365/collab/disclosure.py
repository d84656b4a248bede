"""The disclosure rules of the peer benchmarks: what one cell (a group, a KPI) may say, and which rule said it.

In order, on the values of the firms of the group that have the KPI (each clamped to the KPI's fixed bounds):

1. fewer than :data:`MIN_FIRMS` (5) firms: **suppressed**, nothing but that it is;
2. one firm holds more than :data:`DOMINANCE_SHARE` (25 %) of the sum: **dominance**, no mean, only the
   asking firm's quartile position;
3. ``n · ε`` below :data:`MIN_N_EPSILON` (50): **quartile only**, a mean that noisy would say nothing useful
   and a mean without noise would give away a firm's value to whoever sees two releases;
4. a firm of the group has spent its privacy budget for the KPI: **budget spent**, quartile only;
5. otherwise **differential privacy**: the clamped mean with Laplace noise for ε (:mod:`smart365.collab.dp`),
   drawn once per release and stored, so asking again returns the same draw.

No cell ever carries a firm's own value, an order statistic (a quartile boundary is some firm's value) or a
minimum or maximum; the quartile position is the asking firm's own, coarse place in the group.

>>> cell = decide(KPIS["oee"], [0.6, 0.7, 0.65, 0.8], budget_ok=True)
>>> cell.rule, cell.value
('suppressed', None)
>>> decide(KPIS["oee"], [0.9, 0.1, 0.1, 0.1, 0.1], budget_ok=True).rule
'dominance'
>>> decide(KPIS["oee"], [0.6, 0.7, 0.65, 0.8, 0.75], budget_ok=True).rule
'quartile'
>>> big = decide(KPIS["oee"], [0.6 + 0.002 * i for i in range(60)], budget_ok=True)
>>> big.rule, big.n, big.epsilon, 0.0 <= big.value <= 1.0
('dp', 60, 1.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from smart365.collab import dp
from smart365.core.i18n import N_

MIN_FIRMS = 5
DOMINANCE_SHARE = 0.25
#: ε spent on one DP cell, per firm of the group.
EPSILON = 1.0
#: A DP mean is released only where n · ε reaches this (with ε = 1: 50 firms; the noise is then at most 2 % of
#: the KPI's range, one scale).
MIN_N_EPSILON = 50.0
#: Each firm's privacy budget per KPI, over all releases that use its figure: three fresh DP means.
BUDGET_PER_KPI = 3.0


class Rule(StrEnum):
    SUPPRESSED = "suppressed"
    DOMINANCE = "dominance"
    QUARTILE = "quartile"
    BUDGET = "budget"
    DP = "dp"


RULE_LABELS: dict[str, str] = {
    Rule.SUPPRESSED: N_("Suppressed: fewer than 5 firms"),
    Rule.DOMINANCE: N_("Dominance: one firm holds over a quarter of the sum, quartile position only"),
    Rule.QUARTILE: N_("Small group: quartile position only (n·ε under 50)"),
    Rule.BUDGET: N_("Privacy budget spent: quartile position only"),
    Rule.DP: N_("Differential privacy: Laplace noise on the clamped mean"),
}


@dataclass(frozen=True)
class Kpi:
    """A benchmarked figure: code, label (msgid), unit, fixed bounds for clamping, and which way is better."""

    code: str
    label: str
    unit: str
    lo: float
    hi: float
    higher_is_better: bool = True

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.lo, self.hi)

    def shown(self, value: float | None) -> str:
        """The value as the page writes it.

        >>> KPIS["oee"].shown(0.6543), KPIS["cpk"].shown(1.333), KPIS["oee"].shown(None)
        ('65.4 %', '1.33', '–')
        """
        if value is None:
            return "–"
        if self.unit == "%":
            return f"{value * 100:.1f} %"
        if self.unit == "pt":
            return f"{value:.1f}"
        return f"{value:.2f}" + (f" {self.unit}" if self.unit else "")


_PLANT = (
    Kpi("oee", N_("OEE"), "%", 0.0, 1.0),
    Kpi("availability", N_("Availability"), "%", 0.0, 1.0),
    Kpi("performance", N_("Performance"), "%", 0.0, 1.0),
    Kpi("quality", N_("Quality rate"), "%", 0.0, 1.0),
    Kpi("fpy", N_("First-pass yield"), "%", 0.0, 1.0),
    Kpi("cpk", N_("Cpk"), "", 0.0, 3.0),
    Kpi("unplanned_downtime", N_("Unplanned downtime (share of planned time)"), "%", 0.0, 1.0, False),
    Kpi("energy_per_part", N_("Energy per part"), "kWh", 0.0, 20.0, False),
)
KPIS: dict[str, Kpi] = {k.code: k for k in _PLANT}
MATURITY_PREFIX = "maturity:"


def maturity_kpi(domain_id: str, label: str) -> Kpi:
    """A maturity domain's score (0–100 points) as a KPI.

    >>> maturity_kpi("D1", "생산계획").code
    'maturity:D1'
    """
    return Kpi(MATURITY_PREFIX + domain_id, label, "pt", 0.0, 100.0)


@dataclass(frozen=True)
class Cell:
    """What a release says about one KPI of one group: the rule, how many firms, and the DP mean where allowed."""

    kpi: str
    rule: str
    n: int
    value: float | None = None
    epsilon: float | None = None
    scale: float | None = None

    def as_data(self) -> dict[str, object]:
        return {"kpi": self.kpi, "rule": self.rule, "n": self.n, "value": self.value, "epsilon": self.epsilon,
                "scale": self.scale}  # fmt: skip


def clamp(kpi: Kpi, value: float) -> float:
    """
    >>> clamp(KPIS["cpk"], 4.2), clamp(KPIS["oee"], -0.1)
    (3.0, 0.0)
    """
    return min(kpi.hi, max(kpi.lo, float(value)))


def dominated(kpi: Kpi, values: Sequence[float]) -> bool:
    """Whether one firm holds more than 25 % of the (clamped, shifted to the lower bound) sum.

    >>> dominated(KPIS["oee"], [0.5] * 5), dominated(KPIS["oee"], [0.9, 0.1, 0.1, 0.1, 0.1])
    (False, True)
    """
    shifted = [clamp(kpi, v) - kpi.lo for v in values]
    total = sum(shifted)
    return total > 0 and max(shifted) > DOMINANCE_SHARE * total


def decide(kpi: Kpi, values: Sequence[float], *, budget_ok: bool, epsilon: float = EPSILON) -> Cell:
    """The cell for ``values`` (one per firm of the group having the KPI): the first rule that applies, and the DP
    mean only under the last. ``budget_ok``: every firm of the group has ``epsilon`` left for this KPI."""
    n = len(values)
    if n < MIN_FIRMS:
        return Cell(kpi.code, str(Rule.SUPPRESSED), n)
    if dominated(kpi, values):
        return Cell(kpi.code, str(Rule.DOMINANCE), n)
    if n * epsilon < MIN_N_EPSILON:
        return Cell(kpi.code, str(Rule.QUARTILE), n)
    if not budget_ok:
        return Cell(kpi.code, str(Rule.BUDGET), n)
    mean = dp.laplace_mean(values, kpi.bounds, epsilon)
    return Cell(kpi.code, str(Rule.DP), n, mean.value, mean.epsilon, mean.scale)


def quartile(kpi: Kpi, own: float, values: Sequence[float]) -> int:
    """The asking firm's quartile in the group, 1 the best quarter and 4 the last (ties count in its favour).

    >>> quartile(KPIS["oee"], 0.9, [0.5, 0.6, 0.7, 0.8, 0.9]), quartile(KPIS["oee"], 0.5, [0.5, 0.6, 0.7, 0.8, 0.9])
    (1, 4)
    >>> quartile(KPIS["unplanned_downtime"], 0.01, [0.01, 0.05, 0.1, 0.2, 0.3])
    1
    """
    mine = clamp(kpi, own)
    better = sum(1 for v in values if (clamp(kpi, v) > mine if kpi.higher_is_better else clamp(kpi, v) < mine))
    return min(4, 1 + int(4 * better / max(1, len(values))))
