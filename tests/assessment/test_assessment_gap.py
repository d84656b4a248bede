"""Gaps to the target level, KPI-weighted priorities and the roadmap of next steps."""

from __future__ import annotations

import numpy as np
import pytest

from smart365.assessment.gap import gaps, impact, priorities, roadmap, roadmaps_for
from smart365.assessment.scoring import score

# All items at 3 (= target) except:
#   STR.1 = 1  gap (3 − 1) × 25     = 50
#   OPS.3 = 1  gap (3 − 1) × 16.667 = 33.333
#   EQP.4 = 0  gap (3 − 0) × 16.667 = 50
#   SYS.5 = 2  gap (3 − 2) × 40     = 40
#   CTL.4 = 0  gap (3 − 0) × 40     = 120
#   QUA.1 = N/A (no gap; QUA's other items now weigh 16.667 but sit at the target)
#   KPI.1 = 4  above the target: no gap
SETUP = {"STR.1": 1, "OPS.3": 1, "EQP.4": 0, "SYS.5": 2, "CTL.4": 0, "QUA.1": None, "KPI.1": 4}
GAPS = {"STR.1": 50.0, "OPS.3": 100 / 3, "EQP.4": 50.0, "SYS.5": 40.0, "CTL.4": 120.0}


@pytest.fixture
def response(instrument) -> np.ndarray:
    row = np.full(len(instrument.items), 3.0)
    for item_id, stage in SETUP.items():
        row[instrument.item_index(item_id)] = np.nan if stage is None else stage
    return row


@pytest.fixture
def weights(instrument, response) -> np.ndarray:
    return score(instrument, response).item_weight[0]


def test_gap_is_distance_to_target_times_weight(instrument, response, weights):
    gap = gaps(instrument, response, weights)[0]
    found = {instrument.item_ids[i]: value for i, value in enumerate(gap.tolist()) if value > 0}
    assert found == pytest.approx(GAPS)


def test_gap_to_a_higher_target_counts_every_item(instrument):
    answers = np.full((1, len(instrument.items)), 3.0)
    result = score(instrument, answers)
    assert gaps(instrument, answers, result.item_weight, target=4).sum() == pytest.approx(1000.0)
    assert gaps(instrument, answers, result.item_weight, target=3).sum() == 0.0


def test_target_must_be_a_level(instrument, response, weights):
    with pytest.raises(ValueError, match=r"target level must be 1\.\.5"):
        gaps(instrument, response, weights, target=6)


def test_roadmap_without_priorities_orders_by_gap_then_item_order(instrument, response, weights):
    entries = roadmap(instrument, response, weights, top=10)
    assert [e.item_id for e in entries] == ["CTL.4", "STR.1", "EQP.4", "SYS.5", "OPS.3"]  # STR.1 ties EQP.4
    assert all(e.priority == pytest.approx(e.gap) for e in entries)


def test_priority_kpi_doubles_linked_items(instrument, response, weights):
    entries = roadmap(instrument, response, weights, priority_kpis=["KPI.6"], top=10)
    assert [(e.item_id, round(e.priority, 3)) for e in entries] == [
        ("CTL.4", 120.0), ("EQP.4", 100.0), ("OPS.3", 66.667), ("STR.1", 50.0), ("SYS.5", 40.0)]
    assert [e.kpis for e in entries] == [(), ("KPI.6",), ("KPI.6",), (), ()]


def test_priorities_are_vectorised_per_response(instrument):
    gap = np.ones((2, len(instrument.items)))
    result = priorities(instrument, gap, [["KPI.5"], []])
    sys5 = instrument.item_index("SYS.5")
    assert result[:, sys5].tolist() == [2.0, 1.0]
    assert result[1].sum() == len(instrument.items)


def test_unknown_priority_kpi_is_rejected(instrument):
    with pytest.raises(ValueError, match=r"KPI\.9 is not a KPI item"):
        impact(instrument, [["KPI.9"]])


def test_roadmap_steps_lead_from_current_stage_to_target(instrument, response, weights):
    entries = {e.item_id: e for e in roadmap(instrument, response, weights, top=10)}
    ctl4 = entries["CTL.4"]
    assert [(s.from_stage, s.to_stage) for s in ctl4.steps] == [(0, 1), (1, 2), (2, 3)]
    assert ctl4.steps[1].text.en == "Connect 80 % or more of machines via OPC UA or MQTT"
    assert ctl4.steps[1].text.ko == "설비의 80% 이상을 OPC UA/MQTT로 연결"
    assert ctl4.weeks == 6 + 10 + 12
    ops3 = entries["OPS.3"]
    assert [s.text.en for s in ops3.steps] == [
        "Set alarm rules and acknowledge at least 90 % of alarms", "Deploy an anomaly-detection model scoring live"]
    eqp4 = entries["EQP.4"]  # no own 0-1 step: the domain's generic one
    assert eqp4.steps[0].text.en == "Keep an equipment register and log run time and maintenance in a system"


def test_roadmap_leaves_out_items_at_target_and_not_applicable(instrument, response, weights):
    entries = roadmap(instrument, response, weights, top=42)
    ids = {e.item_id for e in entries}
    assert ids == set(GAPS)
    assert entries[0].as_dict()["steps"][0] == {
        "from": 0, "to": 1, "ko": "주요 설비의 20% 이상을 게이트웨이로 연결해 데이터 자동 전송",
        "en": "Connect at least 20 % of machines through a gateway so they send data automatically", "weeks": 6.0}


def test_roadmaps_for_many_responses_match_single_roadmaps(instrument, response):
    rng = np.random.default_rng(11)
    matrix = rng.integers(0, 6, size=(30, len(instrument.items))).astype(float)
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    matrix[0] = response
    kpis = [["KPI.2"] if r % 2 else [] for r in range(30)]
    result = score(instrument, matrix)
    plans = roadmaps_for(result, matrix, priority_kpis=kpis, top=4)
    for row in range(30):
        single = roadmap(instrument, matrix[row], result.item_weight[row], priority_kpis=kpis[row], top=4)
        assert plans[row] == single
