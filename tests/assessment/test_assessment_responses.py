"""Response files: every bad cell is reported with the row the user sees, its column and the reason."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook

from smart365.assessment.responses import ResponseFileError, parse_rows, read_responses

KPIS = "KPI.1, KPI.2, KPI.3, KPI.4, KPI.5, KPI.6"
#: (row, column, reason) of every bad cell in fixtures/survey_with_errors.csv.
EXPECTED_ERRORS = {
    (5, "STR.2", "3.5 is not a stage 0–5"),
    (6, "QUA.4", "abc is not a stage 0–5"),
    (6, "KPI.1", "7 is not a stage 0–5"),
    (7, "company_id", "duplicate company: first at row 2"),
    (8, "company_id", "missing company id (company_id or brn)"),
    (9, "brn", "12345 is not a valid business registration number (10 digits, check digit)"),
    (10, "company_id", "no item answered"),
    (11, "priority_kpis", f"KPI.7 is not a KPI item ({KPIS})"),
    (11, "answered_at", "yesterday is not a date (YYYY-MM-DD)"),
}
GOOD_IDS = ("F-001", "F-002", "2208162517", "F-011", "F-014")


def _triples(errors) -> set[tuple[int, str, str]]:
    return {(e.row, e.column, e.english()) for e in errors}


def test_csv_bad_cells_are_reported_with_row_and_column(instrument, fixtures):
    result = read_responses(fixtures / "survey_with_errors.csv", instrument)
    assert _triples(result.errors) == EXPECTED_ERRORS
    assert len(result.errors) == len(EXPECTED_ERRORS)
    assert result.ids == GOOD_IDS
    assert result.rows == (2, 3, 4, 12, 14)
    assert result.rejected == 7


def test_good_rows_are_read_in_full(instrument, fixtures):
    result = read_responses(fixtures / "survey_with_errors.csv", instrument)
    assert result.stages.shape == (5, 42)
    f011 = result.stages[GOOD_IDS.index("F-011")]
    assert np.isnan(f011[instrument.item_domain == instrument.domain_ids.index("DEV")]).all()
    assert f011[instrument.item_index("PLN.2")] == 5.0
    assert result.priority_kpis == (("KPI.2",), (), (), ("KPI.1", "KPI.4"), ())
    assert result.answered_by == ("self", "consultant", None, "홍길동", None)
    assert result.answered_at == ("2026-03-02", None, None, "2026-03-05", None)


def test_errors_read_in_korean_too(instrument, fixtures):
    result = read_responses(fixtures / "survey_with_errors.csv", instrument)
    error = next(e for e in result.errors if e.column == "STR.2")
    assert error.korean() == "3.5는 0–5 단계가 아닙니다"
    assert error.as_dict() == {"row": 5, "column": "STR.2", "reason": "3.5 is not a stage 0–5",
                               "reason_ko": "3.5는 0–5 단계가 아닙니다"}


def _csv_to_excel(source: Path, target: Path) -> None:
    """The fixture as an Excel user would have it: numbers as numbers, dates as dates."""
    workbook = Workbook()
    sheet = workbook.active
    with source.open(encoding="utf-8", newline="") as handle:
        for record in csv.reader(handle):
            cells: list[object] = []
            for text in record:
                if text.isdigit() and len(text) < 3:
                    cells.append(int(text))
                elif len(text) == 10 and text[4:5] == "-" and text[:4].isdigit():
                    cells.append(dt.datetime.fromisoformat(text))
                else:
                    cells.append(text or None)
            sheet.append(cells)
    workbook.save(target)


def test_excel_file_reports_the_same_rows_and_columns(instrument, fixtures, tmp_path):
    path = tmp_path / "survey.xlsx"
    _csv_to_excel(fixtures / "survey_with_errors.csv", path)
    result = read_responses(path, instrument)
    assert _triples(result.errors) == EXPECTED_ERRORS
    assert result.ids == GOOD_IDS and result.rows == (2, 3, 4, 12, 14)
    assert result.answered_at[0] == "2026-03-02T00:00:00"


def test_korean_excel_csv_in_cp949_is_read(instrument, tmp_path):
    path = tmp_path / "survey.csv"
    header = ["company_id", *instrument.item_ids, "answered_by"]
    path.write_bytes((",".join(header) + "\n" + "가나다," + ",".join(["2"] * 42) + ",홍길동\n").encode("cp949"))
    result = read_responses(path, instrument)
    assert result.ids == ("가나다",) and result.answered_by == ("홍길동",) and not result.errors


def test_header_problems_are_reported_on_row_1_and_rows_still_scored(instrument):
    header = ["Company_ID", "str.1", "STR.1", "remarks", "", *instrument.item_ids[1:40]]
    row = ["A-1", "2", "3", "note", "", *["2"] * 39]
    result = parse_rows(instrument, header, [(2, row)])
    assert _triples(result.errors) == {
        (1, "STR.1", "duplicate column"),
        (1, "remarks", "unknown column"),
        (1, "E", "column without a name"),
        (1, "KPI.5, KPI.6", "missing item columns, read as N/A in every row"),
    }
    assert result.ids == ("A-1",)
    assert result.stages[0, 0] == 2.0 and math.isnan(result.stages[0, -1])  # first STR.1 wins; KPI.6 N/A


@pytest.mark.parametrize(("cell", "stage"), [("3", 3.0), (" 4 ", 4.0), ("2.0", 2.0), (5, 5.0), (1.0, 1.0),
                                             ("", None), ("N/A", None), ("해당없음", None), (None, None)])
def test_accepted_stage_cells(instrument, cell, stage):
    header = ["company_id", *instrument.item_ids]
    result = parse_rows(instrument, header, [(2, ["A", cell, *["1"] * 41])])
    assert not result.errors
    value = result.stages[0, 0]
    assert (math.isnan(value) if stage is None else value == stage)


@pytest.mark.parametrize("cell", ["3.5", "-1", "6", "abc", True, 2.5, "1e0x"])
def test_rejected_stage_cells(instrument, cell):
    header = ["company_id", *instrument.item_ids]
    result = parse_rows(instrument, header, [(7, ["A", cell, *["1"] * 41])])
    assert [(e.row, e.column, e.reason) for e in result.errors] == [(7, "STR.1", "{value} is not a stage 0–5")]
    assert len(result) == 0 and result.rejected == 1


def test_brn_used_when_company_id_blank(instrument):
    header = ["company_id", "brn", *instrument.item_ids]
    result = parse_rows(instrument, header, [(2, ["", "220 81 62517", *["1"] * 42]),
                                             (3, ["C-9", "220-81-62517", *["1"] * 42])])
    assert result.ids == ("2208162517", "C-9") and not result.errors


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", "\n\n", "The response file is empty."),
    ("no_id.csv", "STR.1\n3\n", "The response file has no company_id or brn column."),
    ("survey.txt", "company_id\n", "The response file must be .csv, .xlsx or .xlsm."),
])
def test_unusable_files_raise_a_clear_error(instrument, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ResponseFileError) as caught:
        read_responses(path, instrument)
    assert caught.value.english() == message
