"""Expert assignment is optimal (brute force), respects capacities, explains itself; routing picks sensibly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from smart365.centre.assign import (
    Assignment,
    Expert,
    Firm,
    FitWeights,
    Unassigned,
    assign_experts,
    best_expert,
    fit_matrix,
    greedy,
    objective,
    route_ticket,
    solve,
    synthetic_instance,
)
from smart365.core.errors import Invalid, NotFound

SIMPLE = FitWeights(skill=10, equipment=0, region=3, continuity=4, travel_per_100km=0, min_skill_level=2)


def test_hand_checked_case_where_greedy_is_wrong() -> None:
    """F1–A 13, F1–B 6, F2–A 14 (skill 10 + continuity 4), F2–B 9 (skill 6 + region 3).

    Greedy takes F2–A (14) then F1–B (6) = 20; the optimum is F1–A + F2–B = 22.
    """
    experts = [Expert("A", {"quality": 5}, "gyeonggi", capacity=1), Expert("B", {"quality": 3}, "busan", capacity=1)]
    firms = [Firm("F1", {"quality": 1}, "gyeonggi"), Firm("F2", {"quality": 1}, "busan", current_expert="A")]
    matrix = fit_matrix(experts, firms, SIMPLE)
    assert matrix.total.tolist() == [[13.0, 6.0], [14.0, 9.0]]
    result = assign_experts(experts, firms, SIMPLE)
    assert {(a.firm_id, a.expert_id) for a in result.assignments} == {("F1", "A"), ("F2", "B")}
    assert result.objective == 22.0
    assert objective(matrix.total, greedy(matrix.total, matrix.eligible, [1, 1])) == 20.0
    by_firm = {a.firm_id: a for a in result.assignments}
    assert by_firm["F1"].explanation["ko"] == "품질·불량 전문성 5/5, 같은 지역(경기)"
    assert by_firm["F2"].explanation["ko"] == "품질·불량 전문성 3/5, 같은 지역(부산), 담당 변경(기존 A)"
    assert (
        by_firm["F2"].explanation["en"] == "Quality and defects expertise 3/5, same region (Busan), new expert (was A)"
    )


def brute_force(fit: np.ndarray, eligible: np.ndarray, capacity: list[int], coverage_first: bool) -> tuple[int, float]:
    """Best (served, fit) — or (·, fit) alone — over every feasible assignment."""
    n_firms, n_experts = fit.shape
    best: tuple[int, float] | None = None
    for choice in itertools.product([None, *range(n_experts)], repeat=n_firms):
        used = [sum(1 for c in choice if c == e) for e in range(n_experts)]
        if any(u > cap for u, cap in zip(used, capacity, strict=True)):
            continue
        if any(c is not None and not eligible[f, c] for f, c in enumerate(choice)):
            continue
        served = sum(c is not None for c in choice)
        total = sum(fit[f, c] for f, c in enumerate(choice) if c is not None)
        key = (served, total) if coverage_first else (0, total)
        if best is None or key[0] > best[0] or (key[0] == best[0] and key[1] > best[1] + 1e-9):
            best = key
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("coverage_first", [True, False])
def test_solver_is_optimal_against_brute_force_on_3_experts_by_5_firms(seed: int, coverage_first: bool) -> None:
    rng = np.random.default_rng(seed)
    regions = ["seoul", "gyeonggi", "busan", "jeju"]
    categories = ["quality", "energy", "maintenance"]
    experts = [
        Expert(
            f"E{i}",
            {c: int(rng.integers(0, 6)) for c in categories},
            str(rng.choice(regions)),
            capacity=int(rng.integers(1, 3)),
        )
        for i in range(3)
    ]
    firms = [
        Firm(
            f"F{j}",
            {str(c): float(rng.integers(1, 4)) for c in rng.choice(categories, 2, replace=False)},
            str(rng.choice(regions)),
            current_expert=f"E{rng.integers(3)}" if rng.random() < 0.4 else None,
        )
        for j in range(5)
    ]
    weights = FitWeights(travel_per_100km=4.0)  # strong travel penalty: some fits are negative
    matrix = fit_matrix(experts, firms, weights)
    result = assign_experts(experts, firms, weights, coverage_first=coverage_first)
    served, total = brute_force(matrix.total, matrix.eligible, [e.capacity for e in experts], coverage_first)
    if coverage_first:
        assert result.served == served
    assert result.objective == pytest.approx(total)


@pytest.fixture(scope="module")
def large() -> tuple[list[Expert], list[Firm]]:
    return synthetic_instance(50, 500, seed=7)


def test_capacity_is_never_exceeded_on_50_experts_by_500_firms(large: tuple[list[Expert], list[Firm]]) -> None:
    experts, firms = large
    experts = [e if i % 5 else Expert(e.id, e.skills, e.region, capacity=2) for i, e in enumerate(experts)]
    result = assign_experts(experts, firms)
    capacity = {e.id: e.capacity for e in experts}
    counts: dict[str, int] = {}
    for a in result.assignments:
        counts[a.expert_id] = counts.get(a.expert_id, 0) + 1
    assert all(counts[e] <= capacity[e] for e in counts)
    assert result.load == {e.id: counts.get(e.id, 0) for e in experts}
    firms_seen = [a.firm_id for a in result.assignments] + [u.firm_id for u in result.unassigned]
    assert sorted(firms_seen) == sorted(f.id for f in firms)  # each firm exactly once
    assert result.served == len(result.assignments)


def test_every_match_and_every_left_out_firm_is_explained(large: tuple[list[Expert], list[Firm]]) -> None:
    experts, firms = large
    result = assign_experts(experts[:10], firms)  # too few experts: many firms are left out
    assert result.unassigned
    items: list[Assignment | Unassigned] = [*result.assignments, *result.unassigned]
    for item in items:
        assert item.explanation["ko"] and item.explanation["en"]
        assert item.explanation["ko"] != item.explanation["en"]
    assert {u.reason for u in result.unassigned} <= {"capacity", "language", "no_skill", "unavailable", "no_needs"}


def test_solver_serves_at_least_as_many_and_fits_better_than_greedy(large: tuple[list[Expert], list[Firm]]) -> None:
    experts, firms = large
    matrix = fit_matrix(experts, firms)
    capacity = [e.capacity for e in experts]
    optimal, baseline = solve(matrix.total, matrix.eligible, capacity), greedy(matrix.total, matrix.eligible, capacity)
    assert len(optimal) >= len(baseline)
    if len(optimal) == len(baseline):
        assert objective(matrix.total, optimal) >= objective(matrix.total, baseline) - 1e-9
    assert all(matrix.eligible[f, e] for f, e in optimal.items())


def test_reasons_for_firms_left_out() -> None:
    experts = [
        Expert("K", {"quality": 4}, "seoul", capacity=1),
        Expert("off", {"energy": 5}, "seoul", capacity=3, available=False),
    ]
    firms = [
        Firm("first", {"quality": 1}, "seoul"),
        Firm("second", {"quality": 1}, "seoul"),
        Firm("english", {"quality": 1}, "seoul", language="en"),
        Firm("security", {"security": 1}, "seoul"),
        Firm("energy", {"energy": 1}, "seoul"),
        Firm("nothing", {}, "seoul"),
    ]
    result = assign_experts(experts, firms)
    reasons = {u.firm_id: u.reason for u in result.unassigned}
    assert reasons == {
        "second": "capacity",
        "english": "language",
        "security": "no_skill",
        "energy": "unavailable",
        "nothing": "no_needs",
    }
    texts = {u.firm_id: u.explanation for u in result.unassigned}
    assert texts["english"]["ko"] == "영어 상담이 가능한 전문가가 없습니다."
    assert texts["security"]["ko"] == "필요 분야(보안)에서 전문성 2 이상인 전문가가 없습니다."


def test_continuity_wins_a_tie_and_is_explained() -> None:
    experts = [Expert("X", {"energy": 4}, "daegu", capacity=1), Expert("Y", {"energy": 4}, "daegu", capacity=1)]
    firms = [Firm("F", {"energy": 1}, "daegu", current_expert="Y")]
    (match,) = assign_experts(experts, firms).assignments
    assert match.expert_id == "Y"
    assert match.explanation["ko"].endswith("기존 담당 유지")
    assert match.parts.continuity > 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(Invalid):
        Expert("e", {"quality": 7}, "seoul")
    with pytest.raises(Invalid):
        Firm("f", {"quality": 1}, "atlantis")
    with pytest.raises(Invalid):
        Firm("f", {"quality": 1}, "seoul", equipment=frozenset({"time machine"}))
    with pytest.raises(Invalid):
        assign_experts([Expert("e", {}, "seoul"), Expert("e", {}, "busan")], [])
    assert Firm("f", {"quality": 1}, "경기도").region == "gyeonggi"


def test_routing_prefers_skill_then_region_and_load_and_skips_the_unfit() -> None:
    experts = [
        Expert("novice", {"maintenance": 1}, "ulsan"),
        Expert("far", {"maintenance": 5}, "seoul", open_tickets=5),
        Expert("near", {"maintenance": 4}, "ulsan", open_tickets=2),
        Expert("full", {"maintenance": 5}, "ulsan", open_tickets=10, max_open_tickets=10),
        Expert("away", {"maintenance": 5}, "ulsan", available=False),
        Expert("english", {"maintenance": 5}, "ulsan", languages=frozenset({"en"})),
    ]
    ranked = route_ticket("maintenance", experts, region="울산")
    assert [c.expert_id for c in ranked] == ["near", "far"]  # 8 + 2 + 2.4 beats 10 + 0 + 1.5
    assert ranked[0].explanation["ko"] == "설비 보전 전문성 4/5, 같은 지역(울산), 진행 중 상담 2/10건"
    dedicated = route_ticket("maintenance", experts, region="ulsan", dedicated_expert="far")
    assert dedicated[0].expert_id == "far" and "전담" in dedicated[0].explanation["ko"]
    assert [c.expert_id for c in route_ticket("maintenance", experts, language="en")] == ["english"]
    with pytest.raises(NotFound):
        best_expert("funding", experts)


def test_an_english_ticket_with_only_korean_experts_still_gets_one_and_says_why() -> None:
    experts = [Expert("near", {"maintenance": 4}, "ulsan", open_tickets=2),
               Expert("novice", {"maintenance": 1}, "ulsan")]  # fmt: skip
    ranked = route_ticket("maintenance", experts, region="ulsan", language="en")
    assert [c.expert_id for c in ranked] == ["near"]  # still skilled enough; the novice still is not
    assert ranked[0].explanation["en"].endswith("no available expert speaks English, this one works in Korean")
    assert ranked[0].explanation["ko"].endswith("영어를 하는 전문가가 지금은 없어 한국어로 일하는 전문가를 배정")
    both = [*experts, Expert("bilingual", {"maintenance": 3}, "seoul", languages=frozenset({"ko", "en"}))]
    speaking = route_ticket("maintenance", both, region="ulsan", language="en")
    assert [c.expert_id for c in speaking] == ["bilingual"] and "speaks" not in speaking[0].explanation["en"]
