"""Scoring matches the hand-computed cases exactly, and the vectorised and per-response paths agree."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from smart365.assessment.instrument import Instrument
from smart365.assessment.scoring import apply_evidence, explain, score

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "fixtures" / "cases.yaml").read_text("utf-8"))
EXACT = 1e-9


def _check_vectorised(instrument: Instrument, answers: np.ndarray, expect: dict[str, Any]) -> None:
    result = score(instrument, answers[None, :])
    assert result.total[0] == pytest.approx(expect["total"], abs=EXACT)
    assert int(result.level[0]) == expect["level"]
    assert result.blocking_rule(0) == expect["blocking_rule"]
    assert result.blocking_rules(0) == expect["blocking_rules"]
    assert result.lagging_domains(0) == expect["lagging_domains"]
    for domain_id, values in (expect.get("domains") or {}).items():
        j = instrument.domain_ids.index(domain_id)
        for field, array in (("score", result.domain_score), ("stage", result.domain_stage)):
            if values[field] is None:
                assert math.isnan(array[0, j]), (domain_id, field)
            else:
                assert array[0, j] == pytest.approx(values[field], abs=EXACT), (domain_id, field)
    for area_id, values in (expect.get("areas") or {}).items():
        j = instrument.area_ids.index(area_id)
        assert result.area_score[0, j] == pytest.approx(values["score"], abs=EXACT)
        assert result.area_stage[0, j] == pytest.approx(values["stage"], abs=EXACT)
    for item_id, weight in (expect.get("weights") or {}).items():
        assert result.item_weight[0, instrument.item_index(item_id)] == pytest.approx(weight, abs=EXACT)


def _check_explained(instrument: Instrument, answers: np.ndarray, expect: dict[str, Any]) -> None:
    result = explain(instrument, list(answers))
    assert result["total"] == pytest.approx(expect["total"], abs=EXACT)
    assert (result["level"], result["blocking_rule"]) == (expect["level"], expect["blocking_rule"])
    assert result["blocking_rules"] == expect["blocking_rules"]
    assert result["lagging_domains"] == expect["lagging_domains"]
    domains = {d["id"]: d for d in result["domains"]}
    for domain_id, values in (expect.get("domains") or {}).items():
        for field in ("score", "stage"):
            if values[field] is None:
                assert domains[domain_id][field] is None
            else:
                assert domains[domain_id][field] == pytest.approx(values[field], abs=EXACT)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vectorised_scoring_matches_hand_computed_case(instrument, answers_for, case):
    _check_vectorised(instrument, answers_for(case), case["expect"])


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_explanation_matches_hand_computed_case(instrument, answers_for, case):
    _check_explained(instrument, answers_for(case), case["expect"])


@pytest.mark.parametrize("k", range(6))
def test_stage_k_everywhere_is_level_k_with_200k_points(instrument, k):
    result = score(instrument, np.full((3, len(instrument.items)), float(k)))
    assert result.total.tolist() == pytest.approx([200.0 * k] * 3, abs=EXACT)
    assert result.level.tolist() == [k] * 3


def test_many_responses_are_scored_independently(instrument, answers_for):
    matrix = np.stack([answers_for(case) for case in CASES])
    result = score(instrument, matrix, chunk_size=4)  # several chunks, uneven last one
    assert result.total == pytest.approx([case["expect"]["total"] for case in CASES], abs=EXACT)
    assert result.level.tolist() == [case["expect"]["level"] for case in CASES]


def _random_survey(instrument: Instrument, n: int, seed: int) -> np.ndarray:
    """Random answers with scattered N/A, whole N/A domains and areas, and one empty response."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 6, size=(n, len(instrument.items))).astype(float)
    matrix[rng.random(matrix.shape) < 0.15] = np.nan
    for row in range(0, n, 7):
        matrix[row, instrument.item_domain == rng.integers(len(instrument.domains))] = np.nan
    for row in range(3, n, 29):
        area_domains = np.flatnonzero(instrument.domain_area == rng.integers(len(instrument.areas)))
        matrix[row, np.isin(instrument.item_domain, area_domains)] = np.nan
    matrix[n - 1] = np.nan
    return matrix


def test_vectorised_scores_equal_per_response_explanations(instrument):
    matrix = _random_survey(instrument, 400, seed=7)
    result = score(instrument, matrix, chunk_size=64)
    for row in range(len(matrix)):
        explained = explain(instrument, list(matrix[row]))
        assert explained["total"] == pytest.approx(float(result.total[row]), abs=1e-9)
        assert explained["level"] == int(result.level[row])
        assert explained["blocking_rules"] == result.blocking_rules(row)
        assert explained["lagging_domains"] == result.lagging_domains(row)
        weights = [item["weight"] for item in explained["items"]]
        assert weights == pytest.approx(result.item_weight[row].tolist(), abs=1e-9)
        stages = [math.nan if d["stage"] is None else d["stage"] for d in explained["domains"]]
        assert stages == pytest.approx(result.domain_stage[row].tolist(), abs=1e-9, nan_ok=True)


def test_weights_after_redistribution_still_sum_to_1000(instrument):
    matrix = _random_survey(instrument, 200, seed=3)[:-1]  # every response answers something
    sums = score(instrument, matrix).item_weight.sum(axis=1)
    assert sums == pytest.approx(np.full(len(matrix), 1000.0), abs=1e-9)


def test_empty_response_scores_zero_at_level_zero(instrument):
    result = score(instrument, np.full((1, len(instrument.items)), np.nan))
    assert (float(result.total[0]), int(result.level[0]), result.blocking_rule(0)) == (0.0, 0, "threshold")
    assert np.isnan(result.domain_stage[0]).all()


def test_explanation_shows_rule_numbers_for_ui(instrument, answers_for):
    case = next(c for c in CASES if c["name"] == "systems_gate")
    result = explain(instrument, list(answers_for(case)), company="F-002")
    level2 = result["levels"][1]
    assert level2["level"] == 2 and not level2["passed"]
    threshold, systems, lag = level2["checks"]
    assert (threshold["rule"], threshold["value"], threshold["required"], threshold["passed"]) == (
        "threshold", pytest.approx(440.0), 350.0, True)
    assert (systems["value"], systems["required"], systems["passed"]) == (pytest.approx(1.0), 1.5, False)
    assert (lag["value"], lag["required"], lag["passed"]) == (pytest.approx(1.0), 1.0, True)
    level1_checks = result["levels"][0]["checks"]
    assert [c["applies"] for c in level1_checks] == [True, False, False]
    assert result["company"] == "F-002" and result["next_level"] == 2
    assert result["level_name"] == {"ko": "기초", "en": "basic (identify)"}
    json.dumps(result)  # a UI can send it as it is


def test_explanation_accepts_a_mapping_with_missing_items_as_na(instrument):
    answers = {item_id: 2 for item_id in instrument.item_ids if not item_id.startswith("DEV")}
    result = explain(instrument, answers)
    dev = next(d for d in result["domains"] if d["id"] == "DEV")
    assert not dev["applicable"] and dev["points"] == 0 and dev["base_points"] == pytest.approx(400 / 6)
    assert result["total"] == pytest.approx(400.0)


def test_summary_is_json_ready_with_none_for_dropped_domains(instrument, answers_for):
    case = next(c for c in CASES if c["name"] == "na_domain")
    summary = score(instrument, answers_for(case)).summary(0)
    assert summary["domains"]["DEV"] == {"score": None, "stage": None}
    assert summary["domains"]["PLN"] == {"score": 80.0, "stage": 5.0}
    assert (summary["total"], summary["level"], summary["points_to_next_level"]) == (632.0, 3, 118.0)
    json.dumps(summary)


@pytest.mark.parametrize("bad", [np.full((2, 41), 1.0), np.full((1, 42), 6.0), np.full((1, 42), -1.0)])
def test_score_rejects_wrong_shape_or_stage(instrument, bad):
    with pytest.raises(ValueError, match=r"item columns|0\.\.5"):
        score(instrument, bad)


def test_explain_rejects_unknown_items_and_bad_stages(instrument):
    with pytest.raises(ValueError, match=r"unknown items: XYZ\.1"):
        explain(instrument, {"XYZ.1": 2})
    with pytest.raises(ValueError, match=r"STR\.1: 7 is not a stage"):
        explain(instrument, {"STR.1": 7})


def test_measured_evidence_lower_of_two_and_flag_on_big_gaps(instrument):
    reported = np.array([[3.0, 2.0, np.nan, 1.0]])
    measured = np.array([[1.0, 2.0, 2.0, np.nan]])
    used, flags = apply_evidence(instrument, reported, measured)
    assert used.tolist() == [[1.0, 2.0, 2.0, 1.0]]
    assert flags.tolist() == [[True, False, False, False]]
