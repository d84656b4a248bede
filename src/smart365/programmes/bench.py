"""The programmes benchmark (``smart365 programmes bench``): selection within the budget on a generated call.

A call of 2,000 applications (seeded): regions weighted like the programme's firms (경기 the most), 소부장 about
45 %, requests log-normal around 1억 원 in 100만 원 steps up to the 2억 원 cap, total scores around 65 of 100
with larger plans scoring a little higher; the budget is a quarter of all requests; 소부장 must be at least 55 %
of the selected firms and five regions have minimums. Our MILP (HiGHS) and the greedy-by-score baseline select
at the same budget (and, as a stronger second baseline, greedy by score per won). Each benchmark is one
function returning one JSON-ready dict (``selection`` now; the 판로 ``matching`` benchmark joins
:data:`BENCHMARKS` in its own step).

>>> row = selection_bench(applications=60, seed=1)
>>> best_greedy = max(row["greedy_total"], row["greedy_ratio_total"])
>>> row["ours_total"] >= best_greedy, row["ours_within_budget"], row["quota_met"]
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from smart365.programmes.selection import Candidate, Rules, Selection, greedy, select

SEED = 2026
CAP = 200_000_000
REGION_WEIGHTS = {
    "gyeonggi": 30, "seoul": 8, "incheon": 7, "busan": 7, "daegu": 6, "gyeongnam": 9, "gyeongbuk": 7,
    "chungnam": 6, "chungbuk": 5, "ulsan": 4, "gwangju": 3, "daejeon": 3, "jeonbuk": 2, "jeonnam": 2,
    "gangwon": 1, "sejong": 0.5, "jeju": 0.5,
}  # fmt: skip
REGION_MINIMUMS = {"gangwon": 3, "jeonnam": 6, "jeonbuk": 6, "jeju": 2, "sejong": 2}
SOBUJANG_QUOTA = 0.55


def generated_call(applications: int = 2000, seed: int = SEED) -> tuple[list[Candidate], Rules]:
    """The benchmark's call: ``applications`` candidates and the rules (budget a quarter of all requests).

    >>> candidates, rules = generated_call(100, seed=3)
    >>> asked = [c.requested for c in candidates]
    >>> len(candidates), rules.budget < sum(asked), max(asked) <= CAP
    (100, True, True)
    """
    rng = np.random.default_rng(seed)
    regions = list(REGION_WEIGHTS)
    weights = np.array(list(REGION_WEIGHTS.values()), dtype=float)
    region = rng.choice(len(regions), size=applications, p=weights / weights.sum())
    sobujang = rng.random(applications) < 0.45
    requested = np.clip(np.round(rng.lognormal(np.log(1.0e8), 0.45, applications) / 1e6) * 1e6, 1e7, CAP)
    size_lift = 6.0 * (np.log(requested) - np.log(1.0e8))  # larger plans score a little higher
    score = np.clip(rng.normal(65.0, 11.0, applications) + size_lift, 0.0, 100.0).round(2)
    candidates = [
        Candidate(f"app-{i:04d}", float(score[i]), int(requested[i]), bool(sobujang[i]), regions[region[i]])
        for i in range(applications)
    ]
    minimums = {r: m for r, m in REGION_MINIMUMS.items() if applications >= 500} or {"gangwon": 1}
    budget = int(round(requested.sum() / 4 / 1e6) * 1e6)
    return candidates, Rules(budget=budget, cap=CAP, sobujang_quota=SOBUJANG_QUOTA, region_minimums=minimums)


def _meets(selection: Selection, candidates: list[Candidate], rules: Rules) -> tuple[bool, bool]:
    chosen = [c for c in candidates if c.key in selection.chosen]
    share_ok = sum(c.sobujang for c in chosen) >= rules.sobujang_quota * len(chosen) - 1e-9
    regions_ok = all(sum(c.region == r for c in chosen) >= m for r, m in rules.region_minimums.items())
    return selection.cost <= rules.budget, share_ok and regions_ok


def selection_bench(applications: int = 2000, seed: int = SEED) -> dict[str, Any]:
    """Our MILP and greedy-by-score on one generated call: totals, the proven gap, the solver's seconds."""
    candidates, rules = generated_call(applications, seed)
    ours = select(candidates, rules)
    base = greedy(candidates, rules)
    ratio = greedy(candidates, rules, by="ratio")  # the stronger heuristic, for an honest second baseline
    ours_budget, ours_quota = _meets(ours, candidates, rules)
    greedy_budget, greedy_quota = _meets(base, candidates, rules)
    return {
        "applications": applications,
        "seed": seed,
        "budget": rules.budget,
        "cap": rules.cap,
        "sobujang_quota": rules.sobujang_quota,
        "region_minimums": dict(rules.region_minimums),
        "ours_total": round(ours.total, 2),
        "ours_selected": len(ours.chosen),
        "ours_cost": ours.cost,
        "ours_within_budget": ours_budget,
        "quota_met": ours_quota,
        "within_gap": ours.optimal,  # HiGHS proved the optimum within the gap below (mip_rel_gap 1e-4)
        "gap": ours.gap,
        "seconds": round(ours.seconds, 3),
        "greedy_total": round(base.total, 2),
        "greedy_selected": len(base.chosen),
        "greedy_cost": base.cost,
        "greedy_quota_met": greedy_budget and greedy_quota,
        "gain_over_greedy": round(ours.total - base.total, 2),
        "greedy_ratio_total": round(ratio.total, 2),
        "greedy_ratio_selected": len(ratio.chosen),
        "greedy_ratio_cost": ratio.cost,
        "greedy_ratio_quota_met": all(_meets(ratio, candidates, rules)),
    }


#: Every benchmark of ``smart365 programmes bench``, by its key in the JSON.
BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {"selection": selection_bench}


def run_benchmarks() -> dict[str, dict[str, Any]]:
    """Run every benchmark: ``{"selection": {...}}`` (and each later one under its own key)."""
    return {name: bench() for name, bench in BENCHMARKS.items()}
