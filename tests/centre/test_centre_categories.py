"""Ticket categories are data: all eleven are there, every priority has sane targets, bad files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smart365.centre.categories import CATEGORIES_FILE, PRIORITIES, get_category, load_categories
from smart365.core.errors import Invalid, NotFound


def test_the_eleven_categories_with_names_and_descriptions_in_both_languages() -> None:
    ids = [c.id for c in load_categories()]
    assert ids == [
        "legacy_data",
        "connectivity",
        "mes_erp",
        "quality",
        "maintenance",
        "energy",
        "workforce",
        "funding",
        "sales",
        "security",
        "other",
    ]
    for c in load_categories():
        assert c.ko and c.en and c.description.ko and c.description.en
        assert c.label("ko") == c.ko and c.label("en") == c.en


def test_targets_tighten_with_priority() -> None:
    for c in load_categories():
        first = [c.sla[p].first_response for p in PRIORITIES]
        resolution = [c.sla[p].resolution for p in PRIORITIES]
        assert first == sorted(first) and resolution == sorted(resolution)
        assert all(c.sla[p].first_response <= c.sla[p].resolution for p in PRIORITIES)


def test_edits_are_picked_up_and_bad_files_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(CATEGORIES_FILE.read_text(encoding="utf-8"))
    path = tmp_path / "categories.yaml"
    raw["categories"][0]["ko"] = "바뀐 이름"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert load_categories(path)[0].ko == "바뀐 이름"
    del raw["categories"][0]["sla"]["low"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(Invalid):
        load_categories(path)
    with pytest.raises(NotFound):
        get_category("no_such_category")
