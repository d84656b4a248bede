"""A firm's tags in bulk: import from Excel or CSV, export to Excel, and a template to fill in.

A file holds either one long sheet (a row per tag, with its machine in the 설비 column) or one sheet per
machine (the sheet named after the machine, no 설비 column). A machine is found by its name in the firm, with
the 라인 column where two lines have machines of the same name; machines are registered first, on the firm's
page, because their connection (protocol, endpoint) belongs to them, not to a tag.

Every row is tried as it would be written, inside a savepoint, so the check reports exactly what the import
would refuse, by sheet, row and column: a bad cell, an unknown machine, the same tag twice, and an address the
machine's connector cannot read (the registry's write check, whichever path writes). Nothing changes unless
``commit`` is asked for; then the good rows are written (new tags created, known ones updated) and the bad
ones left out. The export writes the same headers, so a firm can export, edit and import back.

>>> key_of("태그"), key_of("최솟값 (min_value)"), key_of("Machine"), key_of("gain")
('name', 'min_value', 'machine', None)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.errors import AppError, Forbidden, Invalid, field_reason
from smart365.core.i18n import N_, _, translate_in
from smart365.core.tenancy import principal_of
from smart365.core.uploads import REGISTRY, ReadLimits, bounded_rows, workbook_sheets
from smart365.registry.importer import decode_text
from smart365.registry.models import Company, Equipment, Line, Tag
from smart365.registry.schemas import TagIn
from smart365.registry.vocab import DATA_TYPES

#: field → (Korean header, English header). Headers may be either, or "한국어 (english)".
COLUMNS: dict[str, tuple[str, str]] = {
    "line": ("라인", "line"),
    "machine": ("설비", "machine"),
    "name": ("태그", "tag"),
    "display_name": ("표시 이름", "display_name"),
    "unit": ("단위", "unit"),
    "data_type": ("데이터 형식", "data_type"),
    "address": ("주소", "address"),
    "min_value": ("최솟값", "min_value"),
    "max_value": ("최댓값", "max_value"),
}
TAG_FIELDS = tuple(TagIn.model_fields)
#: What the template says of each column, in a comment on its header.
GUIDE: dict[str, str] = {
    "line": N_("Needed only when two lines have a machine of the same name."),
    "machine": N_("A machine registered on the firm's page. Leave the column out on a sheet named after its machine."),
    "name": N_("The machine's own name of the signal, e.g. spindle_load (required)."),
    "display_name": N_("What people read, e.g. 주축 부하."),
    "data_type": N_("float, int, bool or str (실수, 정수, 켜짐/꺼짐, 문자); float when empty."),
    "address": N_(
        "Where the connector reads it: an OPC UA node id (ns=2;s=…), an MQTT topic#json.path, "
        "or a Modbus table:address[:type][:option=value…] such as holding:10:float32:scale=0.1."
    ),
}
_TYPE_WORDS = {translate_in("ko", label): key for key, label in DATA_TYPES.items()}


class TagCellError(BaseModel):
    sheet: str | None = None  # for a workbook of one sheet per machine; None for a CSV or a single sheet
    row: int
    column: str
    reason: str


class TagImportReport(BaseModel):
    """What a tag import found and, if committed, what it did."""

    rows: int
    valid: int
    errors: list[TagCellError]
    committed: bool
    created: int = 0
    updated: int = 0


@dataclass(frozen=True)
class _Sheet:
    title: str | None  # a workbook sheet's name; None for a CSV
    named: bool  # whether errors name the sheet (a workbook of several)
    header: list[str]
    rows: list[list[Any]]


def key_of(header: str) -> str | None:
    """The field a column header names (Korean, English, ``한국어 (english)`` or the field), else ``None``."""
    text = header.strip().lower()
    for key, (ko, en) in COLUMNS.items():
        if text in (ko, en, f"{ko} ({en})", key):
            return key
    return None


def _sheets(content: bytes, filename: str, limits: ReadLimits) -> list[_Sheet]:
    if filename.lower().endswith((".xlsx", ".xlsm")):
        tables: list[tuple[str | None, list[list[Any]]]] = list(workbook_sheets(content, limits))
    elif filename.lower().endswith((".csv", ".txt")):
        try:
            rows = list(bounded_rows(csv.reader(io.StringIO(decode_text(content))), limits, header_rows=1))
        except csv.Error as exc:
            raise Invalid(N_("The file cannot be read as CSV.")) from exc
        tables = [(None, rows)]
    else:
        raise Invalid(N_("Unsupported file type: use .csv or .xlsx."))
    sheets = []
    for title, rows in tables:
        kept = [r for r in rows if any(c not in (None, "") for c in r)]
        if kept:
            sheets.append(_Sheet(title, len(tables) > 1, [str(h or "").strip() for h in kept[0]], kept[1:]))
    if not sheets:
        raise Invalid(N_("The file is empty."))
    return sheets


class _Machines:
    """The firm's machines by name, and by line and name where a name is on two lines."""

    def __init__(self, session: Session, company_id: int) -> None:
        query = select(Equipment, Line.name).join(Line, Equipment.line_id == Line.id)
        found = session.execute(query.where(Equipment.company_id == company_id)).all()
        self.by_name: dict[str, list[Equipment]] = {}
        self.by_line: dict[tuple[str, str], Equipment] = {}
        for machine, line in found:
            self.by_name.setdefault(machine.name, []).append(machine)
            self.by_line[(line, machine.name)] = machine

    def find(self, name: str, line: str | None) -> Equipment | str:
        """The machine, or why it cannot be told (a reason msgid)."""
        if line:
            return self.by_line.get((line, name)) or N_("No machine of this name on that line.")
        candidates = self.by_name.get(name, [])
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            return N_("Machines of this name are on several lines: add the 라인 (line) column.")
        return N_("No machine of this name is registered for the firm: register it on the firm's page first.")


def import_tags(
    session: Session,
    company: Company,
    content: bytes,
    filename: str,
    commit: bool = False,
    limits: ReadLimits = REGISTRY,
) -> TagImportReport:
    """Check a file of the firm's tags (at most ``limits.rows`` rows); with ``commit`` write its good rows.

    Whoever may change the firm's plant may import (its members with write access, the centre)."""
    if not principal_of(session).can_change(company.id):
        raise Forbidden()
    sheets = _sheets(content, filename, limits)
    machines = _Machines(session, company.id)
    report = TagImportReport(rows=sum(len(s.rows) for s in sheets), valid=0, errors=[], committed=commit)
    trial = session.begin_nested()  # the check writes every row as the import would, then takes it all back
    seen: dict[tuple[int, str], str] = {}
    for sheet in sheets:
        _import_sheet(session, sheet, machines, seen, report)
    if commit:
        trial.commit()
        details = {"file": filename, "rows": report.rows, "created": report.created, "updated": report.updated}
        target = f"companies:{company.id}:tags"
        audit.record(session, audit.Action.IMPORT, target, company_id=company.id, details=details)
    else:
        trial.rollback()
        report.created = report.updated = 0
    return report


def _import_sheet(
    session: Session, sheet: _Sheet, machines: _Machines, seen: dict[tuple[int, str], str], report: TagImportReport
) -> None:
    keys = [key_of(h) for h in sheet.header]
    shown = {k: h for k, h in zip(keys, sheet.header, strict=True) if k}
    errors = [_error(sheet, 1, h, _("Unknown column.")) for h in sheet.header if h and key_of(h) is None]
    machine_of_sheet = sheet.title if sheet.title in machines.by_name else None  # one sheet per machine
    if missing := [
        COLUMNS[k][0] for k in ("name", "machine") if k not in shown and not (k == "machine" and machine_of_sheet)
    ]:
        errors.append(_error(sheet, 1, ", ".join(missing), _("Required column is missing.")))
        report.errors += errors
        return
    for offset, values in enumerate(sheet.rows):
        row_no = offset + 2  # the header is row 1, as in a spreadsheet
        record = {k: _cell(v) for k, v in zip(keys, values, strict=False) if k and v not in (None, "")}
        machine_name = str(record.pop("machine", machine_of_sheet or "")).strip()
        line_name = str(record.pop("line", "")).strip() or None
        problem = _write_row(session, machines, record, machine_name, line_name, seen, sheet, row_no, report)
        if problem is None:
            report.valid += 1
        else:
            errors.append(_error(sheet, row_no, shown.get(problem[0], COLUMNS[problem[0]][0]), problem[1]))
    report.errors += errors


def _write_row(
    session: Session,
    machines: _Machines,
    record: dict[str, Any],
    machine_name: str,
    line_name: str | None,
    seen: dict[tuple[int, str], str],
    sheet: _Sheet,
    row_no: int,
    report: TagImportReport,
) -> tuple[str, str] | None:
    """Write one row in its own savepoint; the (field, reason) that refused it, or ``None``."""
    if not machine_name:
        return "machine", _("Which machine? The 설비 (machine) cell is empty.")
    machine = machines.find(machine_name, line_name)
    if isinstance(machine, str):
        return "machine", _(machine)
    if isinstance(record.get("data_type"), str):
        record["data_type"] = _TYPE_WORDS.get(record["data_type"].strip(), record["data_type"].strip())
    try:
        data = TagIn.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        return (str(first["loc"][0]) if first["loc"] else "name"), field_reason(first)
    where = f"{sheet.title} {row_no}" if sheet.named else str(row_no)
    if (key := (machine.id, data.name)) in seen:
        return "name", _("Same tag as row {row}.").format(row=seen[key])
    seen[key] = where
    existing = session.scalar(select(Tag).where(Tag.equipment_id == machine.id, Tag.name == data.name))
    try:
        with session.begin_nested():
            if existing is None:
                session.add(Tag(**data.model_dump(), company_id=machine.company_id, equipment_id=machine.id))
            else:
                for field, value in data.model_dump().items():
                    setattr(existing, field, value)
            session.flush()
    except AppError as exc:  # the registry's write checks: an address the machine's connector cannot read (422)
        if existing is not None:
            session.refresh(existing)
        return ("address" if exc.status == 422 else "name"), exc.localized()
    if existing is None:
        report.created += 1
    else:
        report.updated += 1
    return None


def _cell(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _error(sheet: _Sheet, row: int, column: str, reason: str) -> TagCellError:
    return TagCellError(sheet=sheet.title if sheet.named else None, row=row, column=column, reason=reason)


def _headers() -> list[str]:
    return [f"{ko} ({en})" for ko, en in COLUMNS.values()]


def export_tags(session: Session, company: Company) -> bytes:
    """An Excel workbook of the firm's tags, one row each; its headers import back unchanged."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("tags")
    sheet.append(_headers())
    found = session.execute(
        select(Tag, Equipment.name, Line.name)
        .join(Equipment, Tag.equipment_id == Equipment.id)
        .join(Line, Equipment.line_id == Line.id)
        .where(Tag.company_id == company.id)
        .order_by(Line.name, Equipment.name, Tag.name)
    ).all()
    for tag, machine, line in found:
        sheet.append([line, machine, *(getattr(tag, field) for field in TAG_FIELDS)])
    buffer = io.BytesIO()
    book.save(buffer)
    audit.record(session, audit.Action.EXPORT, f"companies:{company.id}:tags", company_id=company.id,
                 details={"tags": len(found)})  # fmt: skip
    return buffer.getvalue()


def tag_template() -> bytes:
    """An empty tags workbook: the headers, each with a comment saying what goes in it, and a choice of types."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "tags"
    sheet.append(_headers())
    for column, key in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=column)
        if key in GUIDE:
            cell.comment = Comment(f"{translate_in('ko', GUIDE[key])}\n{translate_in('en', GUIDE[key])}", "Smart365")
        sheet.column_dimensions[cell.column_letter].width = 18
    types = DataValidation(type="list", formula1='"' + ",".join(DATA_TYPES) + '"', allow_blank=True)
    sheet.add_data_validation(types)
    types.add(f"F2:F{REGISTRY.rows + 1}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
