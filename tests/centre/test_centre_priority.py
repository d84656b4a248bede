"""The priority ranking follows the weights file and explains every component."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smart365.centre.priority import FirmProfile, load_weights, rank_firms
from smart365.core.errors import Invalid, NotFound

FIRMS = [
    FirmProfile("sobujang_low_impact", sobujang=True, level=1.0, people=0.2, systems=0.2, data=0.2, impact=0.1),
    FirmProfile("near_target", sobujang=False, level=2.8, people=0.5, systems=0.5, data=0.5, impact=0.5),
    FirmProfile("big_impact", sobujang=False, level=0.5, people=0.9, systems=0.8, data=0.7, impact=0.95),
    FirmProfile("done", sobujang=False, level=3.5, people=1.0, systems=1.0, data=1.0, impact=0.0),
]


def write_weights(tmp_path: Path, weights: dict[str, float], prefer: str = "near") -> Path:
    path = tmp_path / "weights.yaml"
    body = {
        "version": "test",
        "weights": weights,
        "readiness_parts": {"people": 1, "systems": 1, "data": 1},
        "gap": {"target_level": 3, "max_gap": 3, "prefer": prefer},
    }
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def order(weights_path: Path) -> list[str]:
    return [r.firm_id for r in rank_firms(FIRMS, load_weights(weights_path))]


def test_each_weight_alone_decides_the_order(tmp_path: Path) -> None:
    assert order(write_weights(tmp_path, {"sobujang": 1, "gap": 0, "readiness": 0, "impact": 0}))[0] == (
        "sobujang_low_impact"
    )
    assert order(write_weights(tmp_path, {"sobujang": 0, "gap": 0, "readiness": 0, "impact": 1})) == [
        "big_impact",
        "near_target",
        "sobujang_low_impact",
        "done",
    ]
    assert order(write_weights(tmp_path, {"sobujang": 0, "gap": 1, "readiness": 0, "impact": 0}))[:2] == [
        "near_target",
        "sobujang_low_impact",
    ]
    far_first = order(write_weights(tmp_path, {"sobujang": 0, "gap": 1, "readiness": 0, "impact": 0}, "far"))
    assert far_first[:2] == ["big_impact", "sobujang_low_impact"]
    assert far_first[-1] == "done"  # at the target: no gap points either way


def test_contributions_add_up_and_are_explained_in_both_languages() -> None:
    ranked = rank_firms(FIRMS)
    weights = load_weights()
    for r in ranked:
        assert r.score == pytest.approx(sum(c.points for c in r.contributions))
        assert [c.component for c in r.contributions] == ["sobujang", "gap", "readiness", "impact"]
        assert all(c.weight == getattr(weights.weights, c.component) for c in r.contributions)
        assert r.explanation["ko"].count("+") == 4 and r.explanation["en"].count("+") == 4
    by_id = {r.firm_id: r for r in ranked}
    assert by_id["near_target"].explanation["ko"].startswith("소부장 기업 아님 +0.0, 레벨 3까지 0.2단계 +28.0")
    assert "already at Level 3" in by_id["done"].explanation["en"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4]


def test_readiness_parts_weight_people_systems_and_data(tmp_path: Path) -> None:
    path = write_weights(tmp_path, {"sobujang": 0, "gap": 0, "readiness": 10, "impact": 0})
    body = yaml.safe_load(path.read_text(encoding="utf-8"))
    body["readiness_parts"] = {"people": 1, "systems": 0, "data": 0}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    firm = FirmProfile("p", sobujang=False, level=0, people=0.7, systems=0.0, data=0.0, impact=0)
    assert rank_firms([firm], load_weights(path))[0].score == pytest.approx(7.0)


def test_ties_share_a_rank() -> None:
    twin = FirmProfile("twin", sobujang=True, level=1.0, people=0.2, systems=0.2, data=0.2, impact=0.1)
    ranked = rank_firms([FIRMS[0], twin])
    assert [r.rank for r in ranked] == [1, 1]


def test_bad_weights_files_and_profiles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid):
        load_weights(write_weights(tmp_path, {"sobujang": -1, "gap": 0, "readiness": 0, "impact": 0}))
    with pytest.raises(Invalid):
        load_weights(write_weights(tmp_path, {"sobujang": 0, "gap": 0, "readiness": 0, "impact": 0}))
    with pytest.raises(NotFound):
        load_weights(tmp_path / "missing.yaml")
    with pytest.raises(Invalid):
        FirmProfile("x", sobujang=False, level=6, people=0, systems=0, data=0, impact=0)
    with pytest.raises(Invalid):
        FirmProfile("x", sobujang=False, level=2, people=1.5, systems=0, data=0, impact=0)
