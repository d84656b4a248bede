"""Company import (CSV/Excel) and export (Excel).

Import checks every row first and reports each bad cell as row + column + reason, using the row
numbers and headers the user sees in the file. Nothing changes unless ``commit`` is asked for; then
the good rows are imported (new BRNs created, known BRNs updated) and the bad ones left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.errors import Invalid, field_reason
from smart365.core.i18n import N_, _
from smart365.core.tenancy import Role, principal_of
from smart365.core.uploads import REGISTRY, ReadLimits, bounded_rows, workbook_rows
from smart365.registry.models import Company
from smart365.registry.schemas import CompanyIn, CompanyPatch
from smart365.registry.service import CompanyFilter, company_query, create_company, update_company

#: field → (Korean header, English header). Headers may be either, or "한국어 (english)".
COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("회사명", "name"),
    "brn": ("사업자등록번호", "brn"),
    "ksic_code": ("업종코드", "ksic_code"),
    "region": ("지역", "region"),
    "address": ("주소", "address"),
    "employees": ("종업원수", "employees"),
    "revenue_band": ("매출구간", "revenue_band"),
    "systems": ("보유시스템", "systems"),
    "smart_factory_year": ("스마트공장 구축연도", "smart_factory_year"),
    "sobujang": ("소부장", "sobujang"),
}
REQUIRED = ("name", "brn", "ksic_code", "region")
#: Columns the export writes for reading only; the import passes over them.
READ_ONLY = {"sobujang_flag": ("소부장 판정", "sobujang_flag")}


class CellError(BaseModel):
    row: int
    column: str
    reason: str


class ImportReport(BaseModel):
    """What an import found and, if committed, what it did."""

    rows: int
    valid: int
    errors: list[CellError]
    committed: bool
    created: int = 0
    updated: int = 0


def _header_key(header: str) -> str | None:
    text = header.strip().lower()
    for key, (ko, en) in (COLUMNS | READ_ONLY).items():
        if text in (ko.lower(), en, f"{ko.lower()} ({en})", key):
            return key
    return None


def read_rows(content: bytes, filename: str, limits: ReadLimits = REGISTRY) -> tuple[list[str], list[list[Any]]]:
    """Header and data rows of a CSV (UTF-8 or CP949) or Excel file, at most ``limits.rows`` data rows."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        rows = list(workbook_rows(content, limits))
    elif filename.lower().endswith((".csv", ".txt")):
        try:
            rows = list(bounded_rows(csv.reader(io.StringIO(decode_text(content))), limits, header_rows=1))
        except csv.Error as exc:  # e.g. a cell longer than the csv module reads
            raise Invalid(N_("The file cannot be read as CSV.")) from exc
    else:
        raise Invalid(N_("Unsupported file type: use .csv or .xlsx."))
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise Invalid(N_("The file is empty."))
    return [str(h or "").strip() for h in rows[0]], rows[1:]


def decode_text(content: bytes) -> str:
    """Text of a CSV file saved as UTF-8 (with or without a BOM) or CP949, as Korean Excel saves it."""
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid(N_("The file is not UTF-8 or CP949 text."))


def _cell_errors(row_no: int, exc: ValidationError, headers: dict[str, str]) -> list[CellError]:
    errors = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        errors.append(CellError(row=row_no, column=headers.get(field, field), reason=field_reason(err)))
    return errors


def check_rows(header: list[str], rows: Iterable[list[Any]]) -> tuple[list[tuple[int, CompanyIn]], list[CellError]]:
    """Validate every row: the good ones as ``(row number, CompanyIn)``, and every bad cell."""
    keys = [_header_key(h) for h in header]
    keys = [None if k in READ_ONLY else k for k in keys]
    shown = {k: h for k, h in zip(keys, header, strict=True) if k}
    errors = [CellError(row=1, column=h, reason=_("Unknown column.")) for h in header if h and _header_key(h) is None]
    if missing := [COLUMNS[k][0] for k in REQUIRED if k not in shown]:
        errors.append(CellError(row=1, column=", ".join(missing), reason=_("Required column is missing.")))
        return [], errors
    good: list[tuple[int, CompanyIn]] = []
    seen_brn: dict[str, int] = {}
    for offset, values in enumerate(rows):
        row_no = offset + 2  # the header is row 1, as in a spreadsheet
        record = {k: v for k, v in zip(keys, values, strict=False) if k and v not in (None, "")}
        try:
            company = CompanyIn.model_validate(record)
        except ValidationError as exc:
            errors.extend(_cell_errors(row_no, exc, shown))
            continue
        if company.brn in seen_brn:
            reason = _("Same registration number as row {row}.").format(row=seen_brn[company.brn])
            errors.append(CellError(row=row_no, column=shown["brn"], reason=reason))
            continue
        seen_brn[company.brn] = row_no
        good.append((row_no, company))
    return good, errors


def import_companies(
    session: Session, content: bytes, filename: str, commit: bool = False, limits: ReadLimits = REGISTRY
) -> ImportReport:
    """Check a companies file (at most ``limits.rows`` rows); with ``commit`` create or update its good rows
    (centre only)."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    header, rows = read_rows(content, filename, limits)
    good, errors = check_rows(header, rows)
    report = ImportReport(rows=len(rows), valid=len(good), errors=errors, committed=commit)
    if not commit:
        return report
    known = {c.brn: c for c in session.scalars(select(Company).where(Company.brn.in_([g.brn for _, g in good])))}
    for _row, data in good:
        if existing := known.get(data.brn):
            update_company(session, existing, CompanyPatch(**data.model_dump(exclude={"brn"})))
            report.updated += 1
        else:
            create_company(session, data)
            report.created += 1
    details = {"file": filename, "rows": report.rows, "created": report.created, "updated": report.updated}
    audit.record(session, audit.Action.IMPORT, "companies", details=details)
    return report


def export_companies(session: Session, flt: CompanyFilter) -> bytes:
    """An Excel workbook of the visible companies; its headers import back unchanged."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("companies")
    sheet.append([f"{ko} ({en})" for ko, en in (COLUMNS | READ_ONLY).values()])
    for c in session.scalars(company_query(flt).order_by(Company.name)):
        override = ("Y" if c.sobujang else "N") if c.sobujang_manual else None
        sheet.append(
            [
                c.name,
                c.brn,
                c.ksic_code,
                c.region,
                c.address,
                c.employees,
                c.revenue_band,
                ";".join(c.systems),
                c.smart_factory_year,
                override,
                "Y" if c.sobujang else "N",
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    filters = {k: v for k, v in vars(flt).items() if v is not None}
    audit.record(session, audit.Action.EXPORT, "companies", details={"filters": filters})
    return buffer.getvalue()
