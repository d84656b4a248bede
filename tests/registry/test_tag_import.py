"""Bulk tags: a file's every bad cell by sheet, row and column, nothing changed until the good rows are
imported, the connector's own address check, one sheet per machine, and an export that imports back."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from smart365.core.audit import AuditEntry
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Company, Equipment, Tag
from smart365.registry.tag_import import export_tags, import_tags, tag_template
from smart365.telemetry.sources import refuse_unreadable_sources
from tests.conftest import SENTINEL, World, bearer
from tests.registry.test_plant_pages import _login

MACHINE = f"{SENTINEL} MCT"
LONG_SHEET = (
    "라인,설비,태그,표시 이름,단위,데이터 형식,최솟값,최댓값,비고\n"
    f",{MACHINE},coolant_temp,절삭유 온도,°C,실수,0,80,\n"  # row 2: new
    f",{MACHINE},{SENTINEL} spindle,주축 부하,%,float,0,200,\n"  # row 3: updates the registered tag
    ",없는설비,feed,,,,,,\n"  # row 4: no such machine
    f",{MACHINE},door,,,boolean,,,\n"  # row 5: unknown data type
    f",{MACHINE},coolant_temp,,,,,,\n"  # row 6: the same tag as row 2
    f",{MACHINE},vibration,,mm/s,,낮음,,\n"  # row 7: a minimum that is not a number
    ",,current,,A,,,,\n"  # row 8: no machine at all
)


def _tags(world: World) -> dict[str, Tag]:
    with world.db.session(SYSTEM) as session:
        found = session.scalars(select(Tag).where(Tag.company_id == world.firm_a))
        return {tag.name: tag for tag in found}


def test_check_names_every_bad_cell_and_changes_nothing_until_imported(world: World) -> None:
    before = _tags(world)
    with world.db.session(SYSTEM) as session:
        report = import_tags(session, session.get_one(Company, world.firm_a), LONG_SHEET.encode(), "tags.csv")
    cells = {(e.row, e.column): e.reason for e in report.errors}
    assert set(cells) == {(1, "비고"), (4, "설비"), (5, "데이터 형식"), (6, "태그"), (7, "최솟값"), (8, "설비")}
    assert cells[(6, "태그")] == "2행과 같은 태그입니다."
    assert "등록된 설비가 없습니다" in cells[(4, "설비")]
    assert (report.rows, report.valid, report.committed, report.created) == (7, 2, False, 0)
    assert _tags(world).keys() == before.keys()  # the check wrote nothing
    assert _tags(world)[f"{SENTINEL} spindle"].max_value == 150

    with world.db.session(SYSTEM) as session:
        done = import_tags(
            session, session.get_one(Company, world.firm_a), LONG_SHEET.encode(), "tags.csv", commit=True
        )
    assert (done.created, done.updated, done.valid) == (1, 1, 2)
    after = _tags(world)
    assert (after["coolant_temp"].display_name, after["coolant_temp"].data_type) == ("절삭유 온도", "float")
    assert (after[f"{SENTINEL} spindle"].display_name, after[f"{SENTINEL} spindle"].max_value) == ("주축 부하", 200)
    with world.db.session(SYSTEM) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.target == f"companies:{world.firm_a}:tags")).one()
        assert entry.details["created"] == 1


def test_one_sheet_per_machine_and_the_connectors_own_address_check(world: World) -> None:
    refuse_unreadable_sources()  # installed by the composition root; the import relies on it
    with world.db.session(SYSTEM) as session:
        first = session.scalars(select(Equipment).where(Equipment.name == MACHINE)).one()
        session.add(Equipment(company_id=world.firm_a, line_id=first.line_id, name="PRS-02", kind="press",
                              protocol="modbus", endpoint="modbus://10.0.0.7:502/1"))  # fmt: skip
    book = Workbook()
    mct = book.active
    assert mct is not None
    mct.title = MACHINE
    mct.append(["태그", "단위"])
    mct.append(["feed_rate", "mm/min"])
    press = book.create_sheet("PRS-02")
    press.append(["tag", "address", "data_type"])
    press.append(["tonnage", "holding:10:uint16:scale=0.1", "정수"])
    press.append(["stroke", "holding:ten", ""])  # the Modbus connector cannot read this
    buffer = io.BytesIO()
    book.save(buffer)
    with world.db.session(SYSTEM) as session:
        company = session.get_one(Company, world.firm_a)
        report = import_tags(session, company, buffer.getvalue(), "plant.xlsx", commit=True)
    [error] = report.errors
    assert (error.sheet, error.row, error.column) == ("PRS-02", 3, "address")
    assert "Modbus 주소는" in error.reason
    tags = _tags(world)
    assert (tags["tonnage"].address, tags["tonnage"].data_type, tags["feed_rate"].unit) == (
        "holding:10:uint16:scale=0.1",
        "int",
        "mm/min",
    )
    assert "stroke" not in tags


def test_the_export_imports_back_unchanged_and_the_template_explains_its_columns(world: World) -> None:
    with world.db.session(SYSTEM) as session:
        company = session.get_one(Company, world.firm_a)
        exported = export_tags(session, company)
        again = import_tags(session, company, exported, "export.xlsx")
    assert (again.errors, again.valid, again.updated, again.created) == ([], len(_tags(world)), 0, 0)
    sheet = load_workbook(io.BytesIO(exported)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["라인 (line)", "설비 (machine)", "태그 (tag)"]
    assert [c.value for c in sheet[2]][1:3] == [MACHINE, f"{SENTINEL} spindle"]
    template = load_workbook(io.BytesIO(tag_template())).active
    assert template is not None and template.max_row == 1
    comment = template["G1"].comment
    assert comment is not None and "Modbus" in comment.text and "수집기" in comment.text


def test_the_page_checks_then_imports_for_the_firms_member_only(client: TestClient, world: World) -> None:
    csrf = _login(client, world.emails["member_a"])
    page = client.get(f"/companies/{world.firm_a}")
    assert f"/companies/{world.firm_a}/tags/import" in page.text
    form = client.get(f"/companies/{world.firm_a}/tags/import")
    assert form.status_code == 200 and "태그 가져오기" in form.text
    files = {"file": ("tags.csv", LONG_SHEET.encode(), "text/csv")}
    checked = client.post(f"/companies/{world.firm_a}/tags/import", data={"csrf_token": csrf}, files=files)
    assert "7개 행 중 2개 행이 올바릅니다." in checked.text and "2행과 같은 태그입니다." in checked.text
    token = re.search(r'name="token" value="([^"]+)"', checked.text).group(1)  # type: ignore[union-attr]
    assert "coolant_temp" not in _tags(world)
    done = client.post(f"/companies/{world.firm_a}/tags/import", data={"csrf_token": csrf, "token": token})
    assert done.status_code == 200 and "coolant_temp" in _tags(world)
    assert "태그 1개 추가, 1개 갱신, 5개 행 제외." in done.text
    download = client.get(f"/companies/{world.firm_a}/tags/export.xlsx")
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert client.get(f"/companies/{world.firm_b}/tags/import").status_code in (403, 404)


def test_another_firm_cannot_import_into_or_export_a_firms_tags(client: TestClient, world: World) -> None:
    other = bearer(client, world.emails["member_b"])
    files = {"file": ("tags.csv", LONG_SHEET.encode(), "text/csv")}
    refused = client.post(f"/api/v1/companies/{world.firm_a}/tags/import?commit=true", files=files, headers=other)
    assert refused.status_code in (403, 404)
    assert client.get(f"/api/v1/companies/{world.firm_a}/tags/export", headers=other).status_code in (403, 404)
    own = bearer(client, world.emails["member_a"])
    answer = client.post(f"/api/v1/companies/{world.firm_a}/tags/import", files=files, headers=own)
    assert answer.status_code == 200 and answer.json()["valid"] == 2
    partner = bearer(client, world.emails["partner"])
    assert client.post(f"/api/v1/companies/{world.firm_a}/tags/import", files=files, headers=partner).status_code in (
        403,
        404,
    )
