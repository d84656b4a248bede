"""Uploaded tables are read within limits: a small workbook that unpacks large is refused before it is opened,
and no reader goes past the row limit."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from smart365.core import uploads
from smart365.core.errors import Invalid
from smart365.core.uploads import (
    FileTooLarge,
    ReadLimits,
    check_parquet,
    check_workbook,
    workbook_rows,
    workbook_sheets,
)


def workbook(rows: int, columns: int = 3, *, sized: bool = False) -> bytes:
    """An .xlsx of ``rows`` data rows of repeated numbers: it compresses tens of times over. ``sized``: the
    sheet declares its dimension, as Excel writes it (openpyxl's streaming writer leaves it out)."""
    book = Workbook(write_only=not sized)
    sheet = book.active if sized else book.create_sheet("data")
    assert sheet is not None
    sheet.append([f"c{i}" for i in range(columns)])
    for _ in range(rows):
        sheet.append([1] * columns)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_workbook_that_unpacks_past_the_limit_is_refused_before_openpyxl_opens_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = workbook(20_000)
    assert len(bomb) < 200_000  # small on the wire, over a megabyte of sheet XML once unpacked
    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: pytest.fail("the workbook was opened"))
    with pytest.raises(FileTooLarge) as refused:
        list(workbook_rows(bomb, ReadLimits(rows=10**6, unpacked_bytes=1024 * 1024)))
    assert refused.value.status == 413 and "MB" in refused.value.english()


def test_reading_a_workbook_stops_at_the_row_limit() -> None:
    read: list[Any] = []
    with pytest.raises(FileTooLarge) as refused:
        read.extend(workbook_rows(workbook(500), ReadLimits(rows=10, unpacked_bytes=10**9)))
    assert len(read) == 11  # the header and ten rows: reading stopped there, not after all 500
    assert refused.value.english() == "The file has more than 10 rows; split it."
    assert len(list(workbook_rows(workbook(10), ReadLimits(rows=10, unpacked_bytes=10**9)))) == 11  # with header


def test_a_sheet_that_declares_too_many_rows_is_refused_before_a_row_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    monkeypatch.setattr(ReadOnlyWorksheet, "_cells_by_row", lambda *a, **k: pytest.fail("a row was read"))
    with pytest.raises(FileTooLarge):
        list(workbook_rows(workbook(500, sized=True), ReadLimits(rows=10, unpacked_bytes=10**9)))


@pytest.mark.parametrize(
    "content",
    [b"", b"random bytes, not a zip", workbook(50)[:2000], b"PK\x03\x04" + bytes(range(256)) * 20],
    ids=["empty", "not-a-zip", "truncated", "zip-signature-then-junk"],
)
def test_a_damaged_or_foreign_workbook_is_a_422_not_a_crash(content: bytes) -> None:
    with pytest.raises(Invalid) as refused:
        list(workbook_rows(content, uploads.REGISTRY))
    assert refused.value.status == 422


def test_a_parquet_file_is_checked_by_its_footer() -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"x": range(100)}).to_parquet(buffer)
    check_parquet(buffer.getvalue(), ReadLimits(rows=100, unpacked_bytes=10**6))
    with pytest.raises(FileTooLarge):
        check_parquet(buffer.getvalue(), ReadLimits(rows=99, unpacked_bytes=10**6))
    with pytest.raises(Invalid):
        check_parquet(b"PAR1 but nothing else", uploads.HISTORY)
    with pytest.raises(Invalid):
        check_workbook(buffer.getvalue(), uploads.HISTORY)


def test_the_row_limit_holds_over_all_sheets_of_a_workbook() -> None:
    book = Workbook()
    for number, sheet in enumerate([book.active, book.create_sheet("two")]):
        assert sheet is not None
        sheet.append(["c0"])
        sheet.append([number])
        sheet.append([number])
    buffer = io.BytesIO()
    book.save(buffer)
    limits = ReadLimits(rows=4, unpacked_bytes=10**7)
    assert [(name, len(rows)) for name, rows in workbook_sheets(buffer.getvalue(), limits)] == [
        ("Sheet", 3),
        ("two", 3),
    ]
    with pytest.raises(FileTooLarge):
        workbook_sheets(buffer.getvalue(), ReadLimits(rows=3, unpacked_bytes=10**7))
