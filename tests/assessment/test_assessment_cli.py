"""``smart365 assess score`` end to end: JSON results, the summary, the errors and the exit codes."""

from __future__ import annotations

import csv
import json

import yaml
from typer.testing import CliRunner

from smart365.assessment.cli import app
from smart365.assessment.instrument import DEFAULT_INSTRUMENT

runner = CliRunner()


def test_clean_file_scores_every_firm_and_exits_0(instrument, tmp_path):
    survey = tmp_path / "survey.csv"
    header = ["company_id", *instrument.item_ids, "priority_kpis"]
    rows = [["A", *["3"] * 42, "KPI.6"], ["B", *["1"] * 42, ""]]
    with survey.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["score", str(survey), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "수준 분포 / Level distribution" in result.output
    data = json.loads(out.read_text("utf-8"))
    assert set(data) == {"A", "B"}
    assert (data["A"]["total"], data["A"]["level"], data["A"]["blocking_rule"]) == (600.0, 3, "threshold")
    assert data["A"]["domains"]["SYS"] == {"score": 120.0, "stage": 3.0}
    assert data["A"]["roadmap"] == []  # at the target already
    b_plan = data["B"]["roadmap"]
    assert [entry["item"] for entry in b_plan] == ["SYS.1", "SYS.2", "SYS.3"]  # 80 points of gap each
    assert [step["from"] for step in b_plan[0]["steps"]] == [1, 2]


def test_file_with_bad_cells_scores_good_rows_lists_errors_and_exits_1(fixtures, tmp_path):
    out = tmp_path / "result.json"
    errors = tmp_path / "errors.csv"
    result = runner.invoke(app, ["score", str(fixtures / "survey_with_errors.csv"), "--json", str(out),
                                 "--errors", str(errors)])
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text("utf-8"))
    assert {key: (value["total"], value["level"], value["blocking_rule"]) for key, value in data.items()} == {
        "F-001": (600.0, 3, "threshold"),
        "F-002": (440.0, 1, "systems_area"),
        "2208162517": (400.0, 2, "threshold"),
        "F-011": (816.0, 4, "threshold"),
        "F-014": (1000.0, 5, None),
    }
    assert data["F-011"]["domains"]["DEV"] == {"score": None, "stage": None}
    assert data["F-011"]["row"] == 12 and data["F-011"]["answered_by"] == "홍길동"
    assert (data["F-014"]["next_level"], data["F-014"]["points_to_next_level"]) == (None, None)
    assert (data["F-002"]["next_level"], data["F-002"]["points_to_next_level"]) == (2, 0.0)
    assert "오류 / errors" in result.output
    assert "3.5는 0–5 단계가 아닙니다" in result.output
    with errors.open(encoding="utf-8-sig", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 9
    assert {"row": "9", "column": "brn", "reason_ko": "12345는 올바른 사업자등록번호가 아닙니다(10자리, 검증번호)",
            "reason_en": "12345 is not a valid business registration number (10 digits, check digit)"} in written


def test_target_and_top_options(fixtures, tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["score", str(fixtures / "survey_with_errors.csv"), "--json", str(out),
                                 "--target", "4", "--top", "0"])
    assert result.exit_code == 1
    data = json.loads(out.read_text("utf-8"))
    assert data["F-001"]["target_level"] == 4 and data["F-001"]["roadmap"] == []


def test_broken_instrument_exits_2_naming_its_problems(fixtures, tmp_path):
    raw = yaml.safe_load(DEFAULT_INSTRUMENT.read_text("utf-8"))
    raw["thresholds"] = [150, 350, 350, 750, 950]
    raw["areas"][1]["points"] = 500
    instrument_file = tmp_path / "instrument.yaml"
    instrument_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["score", str(fixtures / "survey_with_errors.csv"), "--json", str(out),
                                 "--instrument", str(instrument_file)])
    assert result.exit_code == 2
    assert "진단도구가 올바르지 않습니다 (문제 2건)" in result.output
    assert "thresholds: must be strictly increasing" in result.output
    assert "areas: points sum to 1100, not 1000" in result.output
    assert not out.exists()


def test_unreadable_response_file_exits_2(tmp_path):
    survey = tmp_path / "survey.csv"
    survey.write_text("name,STR.1\nA,3\n", encoding="utf-8")
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["score", str(survey), "--json", str(out)])
    assert result.exit_code == 2
    assert "응답 파일에 company_id 또는 brn 열이 없습니다" in result.output
    assert not out.exists()
