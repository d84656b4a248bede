"""Selection within the budget as an optimisation (HiGHS through :func:`scipy.optimize.milp`), its explanation per
firm, and the greedy-by-score baseline.

Given eligible applications ``i`` with total score ``s_i``, request ``r_i`` (won), a 소부장 flag ``b_i`` and a
region, choose ``x_i ∈ {0, 1}`` to

    maximise   Σ s_i x_i
    subject to Σ r_i x_i ≤ budget,            x_i = 0 where r_i > cap,
               Σ (b_i − q) x_i ≥ 0            (소부장 at least the share q of the selected firms),
               Σ_{i in region g} x_i ≥ m_g    (each region's minimum).

What would have changed a firm's outcome is found exactly, by two more solves with the firm forced in:

* the score it would need: just above ``OPT − best(rest | i in)``, where a selection holding it would tie;
* the largest request that would have fitted at its own score: ``budget − least cost of a rest scoring at
  least OPT − s_i`` (with ``i`` in, so the quotas count it).

>>> apps = [Candidate("a", 90, 60, True, "seoul"), Candidate("b", 80, 50, False, "seoul"),
...         Candidate("c", 70, 50, False, "busan")]
>>> result = select(apps, Rules(budget=100, cap=100))
>>> sorted(result.chosen), result.total, result.optimal
(['b', 'c'], 150.0, True)
>>> sorted(greedy(apps, Rules(budget=100, cap=100)).chosen)
['a']
>>> explain(apps, Rules(budget=100, cap=100), result)["a"].needed_score  # a higher score than 100 is past the scale
150.01
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from smart365.core.errors import AppError
from smart365.core.i18n import N_, gettext
from smart365.core.lazy import lazy
from smart365.registry.vocab import REGIONS

if TYPE_CHECKING:
    import scipy.optimize as sp_optimize
else:
    sp_optimize = lazy("scipy.optimize")

#: HiGHS stops at this relative gap (0.01 %, well inside the 0.1 % promised) or at the time limit.
MIP_REL_GAP = 1e-4
TIME_LIMIT_S = 10.0
#: Explanations spend at most this long in all (a page waits for them).
EXPLAIN_BUDGET_S = 15.0
TOLERANCE = 1e-6


class Infeasible(AppError):
    """No selection meets the call's quotas within its budget; the message says which one fails."""

    status = 409
    code = "selection_infeasible"
    default_message = N_("No selection meets the call's quotas within its budget.")


@dataclass(frozen=True)
class Candidate:
    """An eligible application as the selection sees it: key, total score, request (won), 소부장, region."""

    key: str
    score: float
    requested: int
    sobujang: bool
    region: str


@dataclass(frozen=True)
class Rules:
    """The call's constraints: budget and cap (won), 소부장 share of the selected (0–1), minimums per region."""

    budget: int
    cap: int
    sobujang_quota: float = 0.0
    region_minimums: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Selection:
    """The chosen keys, their total score and cost, whether HiGHS proved the optimum, its gap and time."""

    chosen: frozenset[str]
    total: float
    cost: int
    optimal: bool
    gap: float
    seconds: float


@dataclass(frozen=True)
class Why:
    """One firm's outcome: selected or not, and (when not) the score or request that would have changed it.

    ``needed_score``: the least total score at which it would have been selected (``None``: no score would,
    the quotas or its request rule it out); ``fitting_request``: the largest request (won) that would have
    been selected at its own score (``None``: none would; at or above its own request: a tie the solver broke
    the other way).
    """

    selected: bool
    needed_score: float | None = None
    fitting_request: int | None = None
    computed: bool = True  # False: not worked out (the call was too large to re-solve for every firm in time)


def select(
    candidates: Sequence[Candidate], rules: Rules, *, time_limit: float = TIME_LIMIT_S, gap: float = MIP_REL_GAP
) -> Selection:
    """The selection of greatest total score meeting ``rules``; :class:`Infeasible` when none exists.

    >>> apps = [Candidate("a", 50, 10, False, "seoul"), Candidate("b", 40, 10, True, "busan")]
    >>> sorted(select(apps, Rules(budget=10, cap=10, sobujang_quota=0.5)).chosen)
    ['b']
    """
    started = time.perf_counter()
    found = _solve(candidates, rules, _scores(candidates), time_limit=time_limit, gap=gap)
    if found is None:
        raise _why_infeasible(candidates, rules)
    x, optimal, mip_gap = found
    chosen = frozenset(c.key for c, on in zip(candidates, x, strict=True) if on)
    total = float(sum(c.score for c in candidates if c.key in chosen))
    cost = int(sum(c.requested for c in candidates if c.key in chosen))
    return Selection(chosen, total, cost, optimal, mip_gap, time.perf_counter() - started)


def greedy(candidates: Sequence[Candidate], rules: Rules, *, by: Literal["score", "ratio"] = "score") -> Selection:
    """The baseline: by score (highest first; ``by="ratio"``: score per won), take each application that still fits
    the budget and keeps the 소부장 share; first the best of each region with a minimum. Never better than
    :func:`select`.

    >>> apps = [Candidate("a", 90, 60, False, "seoul"), Candidate("b", 80, 50, False, "seoul")]
    >>> sorted(greedy(apps, Rules(budget=100, cap=100)).chosen)
    ['a']
    """
    started = time.perf_counter()

    def rank(i: int) -> tuple[float, str]:
        c = candidates[i]
        return (-c.score / max(c.requested, 1) if by == "ratio" else -c.score, c.key)

    order = sorted(range(len(candidates)), key=rank)
    chosen: list[int] = []
    spent = 0
    slack = 0.0  # Σ (b_i − q) over the chosen: the 소부장 share holds while it is ≥ 0
    q = rules.sobujang_quota

    def take(i: int) -> bool:
        nonlocal spent, slack
        c = candidates[i]
        margin = (1.0 if c.sobujang else 0.0) - q
        if i in chosen or c.requested > rules.cap or spent + c.requested > rules.budget or slack + margin < -TOLERANCE:
            return False
        chosen.append(i)
        spent += c.requested
        slack += margin
        return True

    for region, minimum in sorted(rules.region_minimums.items()):
        have = sum(1 for i in chosen if candidates[i].region == region)
        for i in order:  # a region's minimum may need 소부장 firms first to keep the share
            if have >= minimum:
                break
            if candidates[i].region == region and (candidates[i].sobujang or slack - q >= -TOLERANCE) and take(i):
                have += 1
    for i in order:
        take(i)
    keys = frozenset(candidates[i].key for i in chosen)
    total = float(sum(candidates[i].score for i in chosen))
    return Selection(keys, total, spent, False, math.nan, time.perf_counter() - started)


def explain(
    candidates: Sequence[Candidate],
    rules: Rules,
    selection: Selection,
    *,
    time_budget: float = EXPLAIN_BUDGET_S,
    gap: float = 0.0,
) -> dict[str, Why]:
    """Each candidate's outcome, and for each one left out the score or request that would have changed it.

    Exact when each re-solve proves its optimum (calls of some dozens of applications, as the demo's); a re-solve
    cut short by its time limit keeps the best it found, so the figure is still sufficient, if not the least (a
    score that surely would have done, a request that surely would have fitted). Firms are explained nearest miss
    first (highest score) until ``time_budget`` seconds are spent; the rest come back with ``computed`` false.

    >>> apps = [Candidate("a", 60, 50, False, "seoul"), Candidate("b", 50, 80, False, "seoul")]
    >>> why = explain(apps, Rules(budget=100, cap=100), select(apps, Rules(budget=100, cap=100)))
    >>> why["b"].needed_score, why["b"].fitting_request, why["b"].computed
    (60.01, 50, True)
    """
    out: dict[str, Why] = {c.key: Why(True) for c in candidates if c.key in selection.chosen}
    scores = _scores(candidates)
    optimum = selection.total
    started = time.perf_counter()
    left_out = sorted((i for i, c in enumerate(candidates) if c.key not in out), key=lambda i: -candidates[i].score)
    for i in left_out:
        c = candidates[i]
        spent = time.perf_counter() - started
        if spent >= time_budget:
            out[c.key] = Why(False, computed=False)
            continue
        limit = max(0.2, min(TIME_LIMIT_S, (time_budget - spent) / 2))
        forced = _solve(candidates, rules, scores, force=i, gap=gap, time_limit=limit)
        needed = None
        if forced is not None:
            rest = float(scores @ forced[0]) - c.score
            # the first hundredth (as pages show scores) above the score at which it would only tie
            needed = round(math.floor(max(optimum - rest, c.score) * 100 + 1e-7) / 100 + 0.01, 2)
        out[c.key] = Why(False, needed, _largest_request(candidates, rules, i, optimum, gap=gap, time_limit=limit))
    return out


def _largest_request(
    candidates: Sequence[Candidate], rules: Rules, i: int, optimum: float, *, gap: float, time_limit: float
) -> int | None:
    """The largest request at which candidate ``i``, at its own score, is in an optimal selection (or ``None``)."""
    c = candidates[i]
    n = len(candidates)
    target = optimum - c.score  # the rest must still score this much for a selection holding i to be optimal
    cost = np.array([float(candidates[j].requested) if j != i else 0.0 for j in range(n)])
    rows, lower, upper = _quota_rows(candidates, rules)
    scores = _scores(candidates)
    score_row = scores.copy()
    score_row[i] = 0.0
    rows.append(score_row)
    lower.append(target - TOLERANCE * max(1.0, abs(target)))
    upper.append(np.inf)
    caps = np.array([1.0 if (j == i or candidates[j].requested <= rules.cap) else 0.0 for j in range(n)])
    low = np.zeros(n)
    low[i] = 1.0
    result = sp_optimize.milp(
        cost,
        integrality=np.ones(n),
        bounds=sp_optimize.Bounds(low, caps),
        constraints=sp_optimize.LinearConstraint(np.vstack(rows), lower, upper),
        options={"time_limit": time_limit, "mip_rel_gap": gap},
    )
    if result.x is None:
        return None
    largest = min(rules.budget - round(float(cost @ np.round(result.x))), rules.cap)
    return largest if largest > 0 else None


def _scores(candidates: Sequence[Candidate]) -> np.ndarray:
    return np.array([float(c.score) for c in candidates])


def _quota_rows(candidates: Sequence[Candidate], rules: Rules) -> tuple[list[np.ndarray], list[float], list[float]]:
    """The 소부장 share and region minimums as constraint rows (budget not included)."""
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    if rules.sobujang_quota > 0:
        rows.append(np.array([(1.0 if c.sobujang else 0.0) - rules.sobujang_quota for c in candidates]))
        lower.append(-TOLERANCE)
        upper.append(np.inf)
    for region, minimum in sorted(rules.region_minimums.items()):
        if minimum > 0:
            rows.append(np.array([1.0 if c.region == region else 0.0 for c in candidates]))
            lower.append(float(minimum))
            upper.append(np.inf)
    return rows, lower, upper


def _solve(
    candidates: Sequence[Candidate],
    rules: Rules,
    scores: np.ndarray,
    *,
    force: int | None = None,
    time_limit: float = TIME_LIMIT_S,
    gap: float = MIP_REL_GAP,
) -> tuple[np.ndarray, bool, float] | None:
    """HiGHS on the model in the module docstring: (x as 0/1, optimum proven, relative gap), ``None`` if infeasible."""
    n = len(candidates)
    if n == 0:
        return (np.zeros(0, dtype=bool), True, 0.0) if not any(rules.region_minimums.values()) else None
    requested = np.array([float(c.requested) for c in candidates])
    rows, lower, upper = _quota_rows(candidates, rules)
    rows.insert(0, requested)
    lower.insert(0, -np.inf)
    upper.insert(0, float(rules.budget))
    high = np.array([1.0 if c.requested <= rules.cap else 0.0 for c in candidates])
    low = np.zeros(n)
    if force is not None:
        if high[force] == 0:
            return None
        low[force] = 1.0
    result = sp_optimize.milp(
        -scores,
        integrality=np.ones(n),
        bounds=sp_optimize.Bounds(low, high),
        constraints=sp_optimize.LinearConstraint(np.vstack(rows), lower, upper),
        options={"time_limit": time_limit, "mip_rel_gap": gap},
    )
    if result.x is None:  # infeasible (status 2), or the time ran out before any feasible point
        return None
    mip_gap = float(getattr(result, "mip_gap", 0.0) or 0.0)
    return np.round(result.x).astype(bool), result.status == 0, mip_gap


def _why_infeasible(candidates: Sequence[Candidate], rules: Rules) -> Infeasible:
    """The first constraint that cannot be met, named with its numbers."""
    affordable = [c for c in candidates if c.requested <= rules.cap]
    for code, minimum in sorted(rules.region_minimums.items()):
        there = sorted(c.requested for c in affordable if c.region == code)
        region = gettext(REGIONS.get(code, code))  # the region's name in the reader's language
        if len(there) < minimum:
            return Infeasible(
                N_("Region {region} needs at least {minimum} selected firms, but only {found} eligible firms applied."),
                region=region, minimum=minimum, found=len(there),
            )  # fmt: skip
        if sum(there[:minimum]) > rules.budget:
            return Infeasible(
                N_("Region {region} needs at least {minimum} selected firms: even its cheapest requests exceed "
                   "the budget."),
                region=region, minimum=minimum,
            )  # fmt: skip
    if rules.sobujang_quota > 0 and not any(c.sobujang for c in affordable) and any(rules.region_minimums.values()):
        return Infeasible(N_("The 소부장 quota cannot be met: no eligible 소부장 firm applied."))
    return Infeasible(N_("The region minimums and the 소부장 quota cannot all be met within the budget."))
