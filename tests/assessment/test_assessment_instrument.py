"""The shipped instrument loads as data; a broken instrument is rejected with every mistake named."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import numpy as np
import pytest
import yaml

from smart365.assessment.instrument import (
    DEFAULT_INSTRUMENT,
    EVIDENCE_HOOKS,
    InstrumentError,
    load_instrument,
    parse_instrument,
    validate_instrument,
)


@pytest.fixture
def raw() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_INSTRUMENT.read_text("utf-8"))


def test_default_instrument_has_the_published_structure(instrument):
    assert instrument.version == "2026.1"
    assert len(instrument.items) == 42
    assert instrument.domain_ids == ("STR", "DEV", "PLN", "OPS", "QUA", "EQP", "LOG", "SYS", "CTL", "KPI")
    assert [(a.id, a.points) for a in instrument.areas] == [
        ("management", 100), ("process", 400), ("systems", 400), ("performance", 100)]
    assert instrument.thresholds == (150, 350, 550, 750, 950)
    assert (instrument.gating.systems_area, instrument.gating.area_lag, instrument.gating.domain_lag) == (
        "systems", 0.5, 1.0)
    assert instrument.target_level == 3


def test_default_weights_split_area_points_equally(instrument):
    weight = dict(zip(instrument.item_ids, instrument.item_weight.tolist(), strict=True))
    assert weight["STR.1"] == pytest.approx(25.0)
    assert weight["DEV.1"] == pytest.approx(400 / 6 / 3)
    assert weight["QUA.5"] == pytest.approx(400 / 6 / 5)
    assert weight["CTL.4"] == pytest.approx(40.0)
    assert weight["KPI.6"] == pytest.approx(100 / 6)
    assert instrument.item_weight.sum() == pytest.approx(1000.0)


def test_every_item_has_bilingual_texts_and_six_stage_descriptors(instrument):
    for item in instrument.items:
        assert item.name.ko and item.name.en and item.question.ko and item.question.en
        assert len(item.stages) == 6
        assert len({stage.en for stage in item.stages}) == 6, item.id  # descriptors say different things


def test_evidence_hooks_are_on_the_listed_items(instrument):
    hooks = {item.id: item.evidence.hook for item in instrument.items if item.evidence}
    assert set(hooks) == {"CTL.4", "EQP.1", "OPS.3", "QUA.1", "EQP.2", "SYS.3"}
    assert set(hooks.values()) <= EVIDENCE_HOOKS
    ctl4 = next(item for item in instrument.items if item.id == "CTL.4")
    assert ctl4.evidence is not None and ctl4.evidence.params["stage_2_share"] == 0.8


def test_every_item_has_a_roadmap_step_up_to_level_4(instrument):
    for item in instrument.items:
        for stage in range(4):
            step = instrument.step(item.id, stage)
            assert step is not None and step.text.ko and step.text.en and step.weeks > 0, (item.id, stage)
    assert instrument.step("CTL.4", 1).text.ko == "설비의 80% 이상을 OPC UA/MQTT로 연결"


def test_instrument_is_immutable(instrument):
    with pytest.raises(dataclasses.FrozenInstanceError):
        instrument.version = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        instrument.item_weight[0] = 0.0


def test_json_instrument_loads_like_yaml(instrument, raw, tmp_path):
    path = tmp_path / "instrument.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    loaded = load_instrument(path)
    assert loaded.item_ids == instrument.item_ids
    assert np.array_equal(loaded.item_weight, instrument.item_weight)
    assert loaded.step("SYS.3", 0) == instrument.step("SYS.3", 0)


def test_relative_weights_change_the_split(raw):
    raw["items"][0]["weight"] = 2  # STR.1 counts double within STR: 40, 20, 20, 20
    loaded = parse_instrument(raw)
    assert loaded.item_weight[:4].tolist() == pytest.approx([40.0, 20.0, 20.0, 20.0])


def _item(data: dict[str, Any], item_id: str) -> dict[str, Any]:
    return next(item for item in data["items"] if item["id"] == item_id)


def test_broken_instrument_names_every_mistake(raw):
    broken = copy.deepcopy(raw)
    _item(broken, "STR.2")["id"] = "STR.1"                              # duplicate item id
    broken["domains"][1]["area"] = "proces"                             # DEV → unknown area
    broken["areas"][0]["points"] = 150                                  # 1050 points
    del _item(broken, "OPS.1")["question"]["en"]                        # missing English
    _item(broken, "OPS.2")["ko"] = "  "                                 # empty Korean name
    del _item(broken, "QUA.2")["stages"][4]                             # stage 4 missing
    _item(broken, "QUA.3")["stages"][6] = {"ko": "가", "en": "x"}        # stage 6 does not exist
    broken["thresholds"] = [150, 350, 340, 750, 950]                    # not increasing
    _item(broken, "CTL.4")["evidence"]["hook"] = "magic_sensor"          # unknown evidence hook
    broken["kpi_links"]["KPI.1"]["domains"].append("XYZ")               # unknown domain in a KPI link
    broken["gating"]["systems_area"] = "automation"                     # unknown gating area
    del broken["domains"][3]["steps"]["2-3"]                            # OPS generic 2-3 step gone
    with pytest.raises(InstrumentError) as caught:
        parse_instrument(broken)
    problems = caught.value.problems
    expected = [
        "items[STR.1]: duplicate id (2 times)",
        "domains[DEV]: unknown area 'proces'",
        "areas: points sum to 1050, not 1000",
        "items[OPS.1].question: 'en' is a required property",
        "items[OPS.2].ko: text is empty",
        "items[QUA.2].stages: no descriptor for stage 4 (need 0..5)",
        "items[QUA.3].stages: 6 is not a stage 0..5",
        "thresholds: must be strictly increasing, found [150, 350, 340, 750, 950]",
        "items[CTL.4].evidence: unknown evidence hook 'magic_sensor'",
        "kpi_links.KPI.1.domains: unknown domain 'XYZ'",
        "gating.systems_area: unknown area 'automation'",
    ]
    for message in expected:
        assert any(p.startswith(message) for p in problems), (message, problems)
    # every OPS item has its own 2-3 step, so losing the domain's generic one is no mistake
    assert not any("no roadmap step" in p for p in problems)
    assert len(problems) == len(expected)
    assert str(caught.value).startswith(f"The instrument is not valid ({len(expected)} problems)")


def test_missing_roadmap_step_is_named(raw):
    del raw["domains"][0]["steps"]["0-1"]  # STR items have no own 0-1 step
    problems = validate_instrument(raw)
    assert problems == [f"items[STR.{n}]: no roadmap step for 0-1 (neither the item nor domain STR has one)"
                        for n in range(1, 5)]


def test_structure_errors_and_meaning_errors_are_reported_together(raw):
    raw["items"][0]["stages"] = "0-5"            # wrong type (schema)
    raw["levels"] = raw["levels"][:5]            # level 5 missing (meaning)
    problems = validate_instrument(raw)
    assert "items[STR.1].stages: '0-5' is not of type 'object'" in problems
    assert any(p.startswith("levels: must be exactly 0..5") for p in problems)


def test_unreadable_instrument_file_is_an_instrument_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: [unclosed", encoding="utf-8")
    with pytest.raises(InstrumentError, match="not valid YAML"):
        load_instrument(path)
