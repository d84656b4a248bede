"""SPC: constants, Shewhart limits, EWMA, CUSUM, run rules and capability, checked against hand work."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from smart365.analytics import spc
from smart365.core.errors import Invalid

# --- constants ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 10, 17, 25])
def test_d2_matches_fresh_integration(n: int) -> None:
    # d2 = E[range of n standard normals] = ∫ 1 − Φ(x)^n − (1 − Φ(x))^n dx
    phi = stats.norm.cdf
    d2 = integrate.quad(lambda x: 1 - phi(x) ** n - (1 - phi(x)) ** n, -np.inf, np.inf)[0]
    assert spc.constants(n).d2 == pytest.approx(d2, abs=2e-6)


def test_d3_closed_form_for_pairs_and_grid_integration_for_n5() -> None:
    # n = 2: R = |X1 − X2|, X1 − X2 ~ N(0, 2): E R = 2/√π, E R² = 2, so d3 = √(2 − 4/π).
    assert spc.constants(2).d3 == pytest.approx(np.sqrt(2 - 4 / np.pi), abs=1e-6)
    # n = 5: E[R²] = 2∬_{x<y} 1 − Φ(y)^n − (1−Φ(x))^n + (Φ(y) − Φ(x))^n, with y = x + w, w ≥ 0,
    # so the domain is a rectangle and the trapezoid rule is accurate.
    n, g, w = 5, np.linspace(-9, 9, 1801), np.linspace(0, 18, 1801)
    x, dx = np.meshgrid(g, w, indexing="ij")
    px, py = stats.norm.cdf(x), stats.norm.cdf(x + dx)
    f = 1 - py**n - (1 - px) ** n + (py - px) ** n
    er2 = 2 * integrate.trapezoid(integrate.trapezoid(f, w, axis=1), g)
    k = spc.constants(n)
    assert k.d3 == pytest.approx(np.sqrt(er2 - k.d2**2), abs=1e-5)


# Published table (Montgomery, Introduction to SQC, Appendix VI; ASTM E2587), 3 decimals.
TABLE = {
    2: {"A2": 1.880, "D3": 0.0, "D4": 3.267, "A3": 2.659, "B3": 0.0, "B4": 3.267},
    5: {"A2": 0.577, "D3": 0.0, "D4": 2.114, "A3": 1.427, "B3": 0.0, "B4": 2.089},
    7: {"A2": 0.419, "D3": 0.076, "D4": 1.924, "A3": 1.182, "B3": 0.118, "B4": 1.882},
    10: {"A2": 0.308, "D3": 0.223, "D4": 1.777, "A3": 0.975, "B3": 0.284, "B4": 1.716},
    25: {"A2": 0.153, "D3": 0.459, "D4": 1.541, "A3": 0.606, "B3": 0.565, "B4": 1.435},
}


@pytest.mark.parametrize("n", sorted(TABLE))
def test_constants_match_published_table(n: int) -> None:
    k = spc.constants(n)
    for name, value in TABLE[n].items():
        assert getattr(k, name) == pytest.approx(value, abs=1.5e-3), name


def test_constants_reject_out_of_range_subgroups() -> None:
    with pytest.raises(Invalid):
        spc.constants(1)
    with pytest.raises(Invalid):
        spc.constants(26)


# --- Shewhart charts ------------------------------------------------------------------------------


def test_imr_limits_by_hand_and_applied_to_later_data() -> None:
    # x = 5 7 6 8 9 7: x̄ = 42/6 = 7; MR = 2 1 2 1 2, MR̄ = 8/5 = 1.6; σ̂ = 1.6/1.128379 = 1.417963
    # I chart: 7 ± 3·1.417963 = 2.746110 .. 11.253890; MR chart: UCL = D4·MR̄ = 3.266531·1.6 = 5.226450
    chart = spc.imr([5, 7, 6, 8, 9, 7])
    assert chart.location.center == pytest.approx(7.0)
    assert chart.sigma == pytest.approx(1.417963, abs=1e-6)
    assert (chart.location.lcl, chart.location.ucl) == pytest.approx((2.746110, 11.253890), abs=1e-6)
    assert (chart.spread.lcl, chart.spread.ucl) == pytest.approx((0.0, 5.226450), abs=1e-5)
    # Phase II: 12 > UCL (index 1), 1.5 < LCL (index 3); MR 5.5 > 5.226 at index 3 only.
    result = chart.apply([7, 12, 7, 1.5])
    assert result.location_out.tolist() == [1, 3]
    assert result.spread_out.tolist() == [3]
    assert np.isnan(result.spread[0])


def test_xbar_r_and_xbar_s_limits_by_hand() -> None:
    groups = [[10, 12, 11, 13], [11, 11, 12, 10], [12, 14, 13, 13]]
    # means 11.5, 11.0, 13.0 → X̄̄ = 11.833333; ranges 3, 2, 2 → R̄ = 2.333333
    # A2(4) = 3/(2.058751·2) = 0.728597 → 11.833333 ± 1.700060; D4(4) = 2.282052 → R UCL = 5.324788
    r = spc.xbar_r(groups)
    assert r.location.center == pytest.approx(11.833333, abs=1e-6)
    assert (r.location.lcl, r.location.ucl) == pytest.approx((10.133273, 13.533393), abs=1e-5)
    assert (r.spread.center, r.spread.lcl, r.spread.ucl) == pytest.approx((2.333333, 0.0, 5.324788), abs=1e-5)
    # s = √(5/3) = 1.290994, √(2/3) = 0.816497, 0.816497 → s̄ = 0.974663
    # A3(4) = 3/(0.921318·2) = 1.628103 → UCL = 11.833333 + 1.586858 = 13.420191; B4(4) = 2.266047
    s = spc.xbar_s(groups)
    assert s.spread.center == pytest.approx(0.974663, abs=1e-6)
    assert s.location.ucl == pytest.approx(13.420191, abs=1e-5)
    assert s.spread.ucl == pytest.approx(2.266047 * 0.974663, abs=1e-5)
    assert s.sigma == pytest.approx(0.974663 / 0.921318, abs=1e-6)


def test_limits_come_from_the_baseline_only() -> None:
    rng = np.random.default_rng(3)
    stable = rng.normal(50, 2, size=(20, 5))
    shifted = rng.normal(58, 2, size=(5, 5))  # a clear 4σ/√5 shift of the mean
    chart = spc.xbar_r(stable)
    same = spc.xbar_r(stable)
    result = chart.apply(np.vstack([stable, shifted]))
    assert chart == same  # applying never changes the limits
    assert set(result.location_out.tolist()) >= set(range(20, 25))
    assert not set(result.location_out.tolist()) & set(range(20))
    assert spc.ControlChart.from_dict(chart.to_dict()) == chart


def test_subgroup_charts_reject_ragged_or_missing_input() -> None:
    with pytest.raises(Invalid):
        spc.xbar_r([[1.0, 2.0], [1.0, np.nan]])
    with pytest.raises(Invalid):
        spc.xbar_s([1.0, 2.0, 3.0])
    with pytest.raises(Invalid):
        spc.xbar_r([[1.0, 2.0, 3.0]]).apply([[1.0, 2.0]])


# --- EWMA and CUSUM ---------------------------------------------------------------------------------


def test_ewma_tiny_series_by_hand() -> None:
    # λ = 0.5, μ0 = 10, σ = 1, L = 3; z = 10, 11, 12.5
    # half-width_i = 3·√(0.5/1.5·(1 − 0.25^i)) = 1.5, 1.677051, 1.718466
    r = spc.ewma([10, 12, 14], target=10, sigma=1, lam=0.5, width=3)
    assert r.z.tolist() == pytest.approx([10.0, 11.0, 12.5])
    assert r.ucl.tolist() == pytest.approx([11.5, 11.677051, 11.718466], abs=1e-6)
    assert r.lcl.tolist() == pytest.approx([8.5, 8.322949, 8.281534], abs=1e-6)
    assert r.signals.tolist() == [2]


def test_ewma_limits_approach_the_asymptote() -> None:
    r = spc.ewma(np.full(200, 10.0), target=10, sigma=2, lam=0.1, width=2.7)
    assert r.ucl[-1] == pytest.approx(10 + 2.7 * 2 * np.sqrt(0.1 / 1.9), rel=1e-9)
    assert np.all(np.diff(r.ucl) >= 0) and r.ucl[1] > r.ucl[0] and r.signals.size == 0


def test_cusum_tiny_series_by_hand() -> None:
    # μ0 = 10, σ = 1, K = 0.5, H = 4; x = 10.5 11.5 12 12.5 9
    # C⁺ = 0, 1, 2.5, 4.5, 3.0 (signal at index 3); C⁻ = 0, 0, 0, 0, 0.5
    r = spc.cusum([10.5, 11.5, 12, 12.5, 9], target=10, sigma=1, k=0.5, h=4)
    assert r.c_plus.tolist() == pytest.approx([0, 1, 2.5, 4.5, 3.0])
    assert r.c_minus.tolist() == pytest.approx([0, 0, 0, 0, 0.5])
    assert r.signals_up.tolist() == [3] and r.signals_down.size == 0


def test_cusum_matches_montgomery_example_9_1() -> None:
    # Montgomery, Introduction to SQC (6th ed.), Table 9.1/9.2: μ0 = 10, σ = 1, k = 1/2, h = 5;
    # C⁺ reaches 5.28 at period 29, the first signal.
    x = [9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34, 9.03, 11.47, 10.51, 9.40, 10.08,
         9.37, 10.62, 10.31, 8.52, 10.84, 10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31,
         10.52]  # fmt: skip
    r = spc.cusum(x, target=10, sigma=1, k=0.5, h=5)
    assert r.c_plus[28] == pytest.approx(5.28, abs=5e-3)
    assert r.signals.tolist()[0] == 28
    assert r.c_minus[2] == pytest.approx(1.77, abs=5e-3)


# --- run rules ---------------------------------------------------------------------------------------

A = 0.5  # within 1σ
B = 1.5  # between 1σ and 2σ
C = 2.5  # between 2σ and 3σ

NELSON_CASES = [
    # rule, breaking series, flagged indices, near miss
    (1, [0, 3.01, -3.5], [1, 2], [0, 3.0, -3.0]),
    (2, [A] * 9, [8], [A] * 8 + [0] + [A]),
    (2, [-A] * 10, [8, 9], [-A] * 8 + [A]),
    (3, [0, 0.1, 0.2, 0.3, 0.4, 0.5], [5], [0, 0.1, 0.2, 0.2, 0.3, 0.4]),
    (3, [0.5, 0.4, 0.3, 0.2, 0.1, 0.0], [5], [0.5, 0.4, 0.3, 0.2, 0.1]),
    (4, [0, 0.5] * 7, [13], [0, 0.5] * 6 + [0]),
    (5, [0, C, C], [2], [C, 0, 0, C]),
    (5, [-C, 0, -C], [2], [C, -C, 0]),
    (6, [B, B, 0, B, B], [4], [B, B, 0, 0, B]),
    (6, [-B, -B, -B, -B, 0], [4], [B, B, -B, B, 0]),
    (7, [A, -A] * 7 + [A], [14], [A, -A] * 7),
    (7, [A, -A] * 7 + [A], [14], [A, -A] * 6 + [A, 1.0, A]),
    (8, [B, -B] * 4, [7], [B] * 8),
    (8, [B, -B] * 4, [7], [B, -B] * 3 + [B, A]),
]


@pytest.mark.parametrize(("rule", "series", "flagged", "near_miss"), NELSON_CASES)
def test_each_nelson_rule_triggers_and_not(rule: int, series: list[float], flagged: list[int],
                                           near_miss: list[float]) -> None:  # fmt: skip
    assert spc.nelson_rule(rule, series, center=0.0, sigma=1.0).tolist() == flagged
    assert spc.nelson_rule(rule, near_miss, center=0.0, sigma=1.0).size == 0


def test_rules_use_center_and_sigma() -> None:
    # The same shape scaled: 100 + 2·z with σ = 2 flags exactly as z with σ = 1.
    z = np.array([0, C, C, 0, B, B, 0, B, B])
    for rule in range(1, 9):
        assert np.array_equal(spc.nelson_rule(rule, 100 + 2 * z, 100, 2), spc.nelson_rule(rule, z, 0, 1))


def test_nelson_rules_report_rule_ids() -> None:
    series = [A] * 9 + [4.0]
    found = {v.rule: v.indices.tolist() for v in spc.nelson_rules(series, 0.0, 1.0)}
    assert found[1] == [9] and found[2] == [8, 9]
    assert 7 not in found
    assert all(v.description for v in spc.nelson_rules(series, 0.0, 1.0))


def test_western_electric_rules() -> None:
    eight = [A] * 8
    assert spc.western_electric_rule(4, eight, 0, 1).tolist() == [7]
    assert spc.nelson_rule(2, eight, 0, 1).size == 0  # Nelson needs nine
    assert spc.western_electric_rule(2, [0, C, C], 0, 1).tolist() == [2]
    assert spc.western_electric_rule(3, [B, B, 0, B, B], 0, 1).tolist() == [4]
    assert [v.rule for v in spc.western_electric_rules([4.0], 0, 1)] == [1]
    with pytest.raises(Invalid):
        spc.western_electric_rule(5, eight, 0, 1)


def test_chart_apply_runs_the_rules_on_the_location_chart() -> None:
    chart = spc.imr([9.0, 11.0] * 10)  # x̄ = 10, MR̄ = 2, σ̂ = 1.772454
    result = chart.apply([10.5] * 9)
    assert [(v.rule, v.indices.tolist()) for v in result.violations] == [(2, [8])]


# --- capability ------------------------------------------------------------------------------------


def test_capability_known_case_with_intervals() -> None:
    # 50 values 10 ± 1, σ_within = 1 (given), spec 7..13: Cp = 6/6 = 1, Cpk = min(3, 3)/3 = 1.
    # Cp 95 % CI: √(χ²(0.025, 49)/49) = √(31.5549/49) = 0.802485, √(70.2224/49) = 1.197128.
    # Bissell: 1 ± 1.959964·√(1/450 + 1/98) = 1 ± 0.218483.
    # σ_overall = √(50/49) = 1.010153 → Pp = Ppk = 0.989949.
    c = spc.capability([9.0, 11.0] * 25, lsl=7, usl=13, sigma_within=1.0)
    assert c.cp is not None and c.pp is not None
    assert (c.cp.estimate, c.cp.low, c.cp.high) == pytest.approx((1.0, 0.802485, 1.197128), abs=1e-5)
    assert (c.cpk.estimate, c.cpk.low, c.cpk.high) == pytest.approx((1.0, 0.781517, 1.218483), abs=1e-5)
    assert (c.pp.estimate, c.ppk.estimate) == pytest.approx((0.989949, 0.989949), abs=1e-6)


def test_cpk_off_centre_one_sided_and_default_sigma() -> None:
    shifted = spc.capability([9.5, 11.5] * 25, lsl=7, usl=13, sigma_within=1.0)
    assert shifted.cpk.estimate == pytest.approx(2.5 / 3)  # min(13 − 10.5, 10.5 − 7)/3
    upper_only = spc.capability([9.0, 11.0] * 25, usl=13, sigma_within=1.0)
    assert upper_only.cp is None and upper_only.cpk.estimate == pytest.approx(1.0)
    # Individuals: σ_within = MR̄/d2 = 2/1.128379 = 1.772454
    assert spc.capability([9.0, 11.0] * 25, lsl=7, usl=13).sigma_within == pytest.approx(1.772454, abs=1e-6)
    with pytest.raises(Invalid):
        spc.capability([1.0, 2.0], lsl=3, usl=2)
