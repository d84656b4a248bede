"""Selection within the budget: the MILP against brute force, the constraints it keeps, greedy's failure on a
case built to fool it, and the exact what-would-have-changed-it of every firm left out."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest

from smart365.core.i18n import use_locale
from smart365.programmes.selection import Candidate, Infeasible, Rules, explain, greedy, select


def _feasible(chosen: Sequence[Candidate], rules: Rules) -> bool:
    if sum(c.requested for c in chosen) > rules.budget or any(c.requested > rules.cap for c in chosen):
        return False
    if sum(c.sobujang for c in chosen) < rules.sobujang_quota * len(chosen) - 1e-9:
        return False
    return all(sum(c.region == r for c in chosen) >= m for r, m in rules.region_minimums.items())


def _best(candidates: Sequence[Candidate], rules: Rules, must: str | None = None, without: str | None = None) -> float:
    """The brute-force optimum (−inf when nothing is feasible), optionally with one key forced in or out."""
    best = -np.inf
    for n in range(len(candidates) + 1):
        for subset in itertools.combinations(candidates, n):
            keys = {c.key for c in subset}
            if (must and must not in keys) or (without and without in keys) or not _feasible(subset, rules):
                continue
            best = max(best, sum(c.score for c in subset))
    return float(best)


def _instance(seed: int, n: int = 10) -> tuple[list[Candidate], Rules]:
    rng = np.random.default_rng(seed)
    regions = ["seoul", "busan", "gangwon"]
    candidates = [
        Candidate(f"f{i}", float(rng.integers(30, 100)), int(rng.integers(10, 60)), bool(rng.random() < 0.4),
                  regions[int(rng.integers(3))])
        for i in range(n)
    ]  # fmt: skip
    total = sum(c.requested for c in candidates)
    return candidates, Rules(budget=total // 3, cap=50, sobujang_quota=0.4, region_minimums={"gangwon": 1})


@pytest.mark.parametrize("seed", range(8))
def test_the_milp_finds_the_brute_force_optimum_and_keeps_every_constraint(seed: int) -> None:
    candidates, rules = _instance(seed)
    best = _best(candidates, rules)
    if best == -np.inf:
        with pytest.raises(Infeasible):
            select(candidates, rules)
        return
    found = select(candidates, rules, gap=0.0)
    chosen = [c for c in candidates if c.key in found.chosen]
    assert found.optimal and found.total == pytest.approx(best)
    assert _feasible(chosen, rules), "budget, cap, 소부장 share and region minimums all hold"
    assert found.cost == sum(c.requested for c in chosen) <= rules.budget
    base = greedy(candidates, rules)
    assert base.total <= found.total + 1e-9
    assert base.cost <= rules.budget and all(c.requested <= rules.cap for c in candidates if c.key in base.chosen)


def test_greedy_by_score_loses_where_one_big_request_crowds_out_two_good_ones() -> None:
    apps = [
        Candidate("big", 90, 100, True, "seoul"),
        Candidate("a", 80, 50, True, "seoul"),
        Candidate("b", 75, 50, True, "busan"),
    ]
    rules = Rules(budget=100, cap=100)
    assert greedy(apps, rules).chosen == {"big"} and greedy(apps, rules).total == 90
    assert select(apps, rules).chosen == {"a", "b"} and select(apps, rules).total == 155


def test_the_cap_quota_and_region_minimum_bind() -> None:
    apps = [
        Candidate("over-cap", 99, 80, True, "seoul"),  # the best, but above the cap
        Candidate("seoul-1", 90, 30, False, "seoul"),
        Candidate("seoul-2", 85, 30, False, "seoul"),
        Candidate("busan-sob", 40, 30, True, "busan"),
        Candidate("jeju", 20, 30, False, "jeju"),
    ]
    free = select(apps, Rules(budget=90, cap=60))
    assert free.chosen == {"seoul-1", "seoul-2", "busan-sob"}
    quota = select(apps, Rules(budget=90, cap=60, sobujang_quota=0.5))  # half of the selected must be 소부장
    assert "over-cap" not in quota.chosen and quota.chosen == {"seoul-1", "busan-sob"}
    region = select(apps, Rules(budget=90, cap=60, region_minimums={"jeju": 1}))
    assert "jeju" in region.chosen and region.chosen == {"seoul-1", "seoul-2", "jeju"}


def test_an_impossible_region_minimum_is_explained() -> None:
    apps = [Candidate("a", 50, 10, False, "seoul")]
    with use_locale("ko"), pytest.raises(Infeasible) as caught:
        select(apps, Rules(budget=100, cap=100, region_minimums={"jeju": 2}))
    assert caught.value.status == 409
    expected = "제주 지역은 최소 2개 기업을 선정해야 하지만, 자격을 갖춘 신청 기업은 0개뿐입니다."
    assert caught.value.localized() == expected
    with pytest.raises(Infeasible, match="cheapest requests exceed the budget"):
        select([Candidate("b", 50, 200, False, "jeju")], Rules(budget=100, cap=300, region_minimums={"jeju": 1}))


@pytest.mark.parametrize("seed", range(6))
def test_what_would_have_changed_it_is_exact(seed: int) -> None:
    """With the needed score a firm left out ties into an optimal selection, a hundredth less it does not; with the
    fitting request (its own score) it does too, and 1 won more it does not."""
    candidates, rules = _instance(seed, n=9)
    if _best(candidates, rules) == -np.inf:  # nothing to explain: the solver must say so
        with pytest.raises(Infeasible):
            select(candidates, rules)
        return
    found = select(candidates, rules, gap=0.0)
    why = explain(candidates, rules, found)
    checked = 0
    for i, c in enumerate(candidates):
        if c.key in found.chosen:
            assert why[c.key].selected
            continue
        w = why[c.key]
        assert not w.selected
        if w.needed_score is not None:
            lifted = [*candidates[:i], Candidate(c.key, w.needed_score, c.requested, c.sobujang, c.region),
                      *candidates[i + 1:]]  # fmt: skip
            assert _best(lifted, rules, must=c.key) >= _best(lifted, rules, without=c.key) - 1e-9
            lower = [*candidates[:i], Candidate(c.key, w.needed_score - 0.02, c.requested, c.sobujang, c.region),
                     *candidates[i + 1:]]  # fmt: skip
            assert _best(lower, rules, must=c.key) < _best(lower, rules, without=c.key)
            checked += 1
        else:  # no score helps: the firm cannot be in any feasible selection at its request
            assert _best(candidates, rules, must=c.key) == -np.inf
        if w.fitting_request is not None:
            if w.fitting_request >= c.requested:  # a tie at its own request, which the solver broke the other way
                assert _best(candidates, rules, must=c.key) == pytest.approx(_best(candidates, rules, without=c.key))
            fit = [*candidates[:i], Candidate(c.key, c.score, w.fitting_request, c.sobujang, c.region),
                   *candidates[i + 1:]]  # fmt: skip
            assert _best(fit, rules, must=c.key) >= _best(fit, rules, without=c.key) - 1e-9
            more = [*candidates[:i], Candidate(c.key, c.score, w.fitting_request + 1, c.sobujang, c.region),
                    *candidates[i + 1:]]  # fmt: skip
            assert _best(more, rules, must=c.key) < _best(more, rules, without=c.key) - 1e-9
    assert checked or len(found.chosen) == len(candidates)


def test_explanations_stop_at_their_time_budget_and_say_so() -> None:
    candidates, rules = _instance(2, n=9)
    found = select(candidates, rules)
    why = explain(candidates, rules, found, time_budget=0.0)
    left_out = [c.key for c in candidates if c.key not in found.chosen]
    assert left_out and all(not why[k].computed and why[k].needed_score is None for k in left_out)
    assert all(why[k].selected and why[k].computed for k in found.chosen)
