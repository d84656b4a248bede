"""A malformed file yields row/column errors and changes nothing unless the good rows are accepted."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import func, select

from smart365.core.tenancy import SYSTEM
from smart365.registry.importer import export_companies, import_companies
from smart365.registry.models import Company
from smart365.registry.service import CompanyFilter
from tests.conftest import World

BAD_FILE = (
    "회사명,사업자등록번호,업종코드,지역,종업원수,보유시스템,비고\n"
    "좋은정밀,101-86-00011,29229,경기,40,ERP;MES,\n"  # row 2: updates firm A (same BRN)
    "새금속,303-81-00039,25911,경남,12,,\n"  # row 3: new and valid
    "틀린번호,303-81-00030,25911,경남,12,,\n"  # row 4: bad check digit
    ",404-81-00000,99,달나라,-5,ERP;XYZ,\n"  # row 5: five bad cells
    "중복,303-81-00039,29229,서울,,,\n"  # row 6: duplicates row 3
)


def count(world: World) -> int:
    with world.db.session(SYSTEM) as session:
        return session.scalar(select(func.count()).select_from(Company)) or 0


def test_check_reports_every_bad_cell_and_changes_nothing(world: World) -> None:
    before = count(world)
    with world.db.session(SYSTEM) as session:
        report = import_companies(session, BAD_FILE.encode(), "firms.csv")
    cells = {(e.row, e.column) for e in report.errors}
    assert (1, "비고") in cells  # unknown column named on the header row
    assert (4, "사업자등록번호") in cells
    assert {(5, c) for c in ("회사명", "사업자등록번호", "업종코드", "지역", "종업원수", "보유시스템")} <= cells
    assert (6, "사업자등록번호") in cells
    assert (report.rows, report.valid, report.committed) == (5, 2, False)
    assert count(world) == before


def test_commit_imports_only_the_good_rows(world: World) -> None:
    before = count(world)
    with world.db.session(SYSTEM) as session:
        report = import_companies(session, BAD_FILE.encode(), "firms.csv", commit=True)
    assert (report.created, report.updated) == (1, 1)
    assert count(world) == before + 1
    with world.db.session(SYSTEM) as session:
        firm_a = session.get(Company, world.firm_a)
        assert firm_a is not None and (firm_a.name, firm_a.systems) == ("좋은정밀", ["ERP", "MES"])


def test_excel_with_english_headers_and_cp949_csv() -> None:
    from smart365.registry.importer import check_rows, read_rows

    book = Workbook()
    book.active.append(["name", "brn", "ksic_code", "region"])  # type: ignore[union-attr]
    book.active.append(["엑셀정밀", "1018600011", 29229, "Gyeonggi"])  # type: ignore[union-attr]
    buffer = io.BytesIO()
    book.save(buffer)
    good, errors = check_rows(*read_rows(buffer.getvalue(), "f.xlsx"))
    assert errors == [] and good[0][1].ksic_code == "29229"
    legacy = "회사명,사업자등록번호,업종코드,지역\n한글정밀,1018600011,29229,경기\n".encode("cp949")
    good, errors = check_rows(*read_rows(legacy, "f.csv"))
    assert errors == [] and good[0][1].name == "한글정밀"


def test_export_round_trips_through_import(world: World) -> None:
    with world.db.session(SYSTEM) as session:
        data = export_companies(session, CompanyFilter())
        report = import_companies(session, data, "export.xlsx")
    assert report.errors == [] and report.valid == 2
