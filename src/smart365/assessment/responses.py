"""Survey response files (응답 파일): CSV or Excel, one row per firm, read into a stage matrix.

Format (maturity-model.md): ``company_id`` or ``brn`` (사업자등록번호), then one column per item id
(``STR.1`` … ``KPI.6``) holding 0–5 or blank for N/A; optional ``answered_by``, ``answered_at`` and
``priority_kpis`` (e.g. ``KPI.2;KPI.4``). Nothing bad is dropped silently: every bad cell is reported with
the row number the user sees (the header is row 1, as in a spreadsheet), the column and the reason.

- A row with any bad cell is left out of the matrix (it is not scored); the other rows are.
- Header problems (unknown, duplicate or missing item columns) are reported once, on row 1; a missing item
  column reads as N/A for every row.
- The key of a row is its ``company_id``, or its ``brn`` (digits only) when ``company_id`` is blank or absent.
- Blank, ``N/A``, ``NA``, ``-`` and ``해당없음`` mean N/A. ``3`` and ``3.0`` are stage 3; ``3.5`` is an error.
- CSV files may be UTF-8 (with or without BOM) or CP949/EUC-KR, as Excel in Korea saves them.

>>> from smart365.assessment.instrument import default_instrument
>>> instrument = default_instrument()
>>> header = ["company_id", *instrument.item_ids, "Foo"]
>>> good, bad = ["A-1"] + ["3"] * 42, ["A-2", "3.5"] + ["3"] * 41
>>> result = parse_rows(instrument, header, [(2, good), (3, bad)])
>>> result.ids, [str(e) for e in result.errors]
(('A-1',), ['row 1, Foo: unknown column', 'row 3, STR.1: 3.5 is not a stage 0–5'])
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from smart365.assessment.instrument import FloatArray, Instrument, default_instrument
from smart365.core.errors import Invalid
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.uploads import REGISTRY, ReadLimits, bounded_rows, workbook_rows
from smart365.registry.brn import brn_is_valid, normalize_brn

ID_COLUMNS: Final = ("company_id", "brn")
OPTIONAL_COLUMNS: Final = ("answered_by", "answered_at", "priority_kpis")
NA_VALUES: Final = frozenset({"", "n/a", "na", "-", "해당없음", "해당 없음"})
_STAGE_TEXT: Final = {text: float(stage) for stage in range(6) for text in (str(stage), f"{stage}.0")}
_KPI_SPLIT: Final = re.compile(r"[;,\s]+")


class ResponseFileError(Invalid):
    """A response file that cannot be read at all (nothing could be scored)."""

    code = "invalid_response_file"
    default_message = N_("The response file cannot be read: {reason}")


@dataclass(frozen=True)
class CellError:
    """A bad cell (or header cell): ``row`` as the user sees it, ``column`` name, reason as an English msgid.

    >>> str(CellError(3, "STR.1", N_("{value} is not a stage 0–5"), {"value": "3.5"}))
    'row 3, STR.1: 3.5 is not a stage 0–5'
    """

    row: int
    column: str
    reason: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def english(self) -> str:
        return translate_in("en", self.reason).format(**self.params)

    def korean(self) -> str:
        return translate_in("ko", self.reason).format(**self.params)

    def localized(self) -> str:
        return gettext(self.reason).format(**self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.english(), "reason_ko": self.korean()}

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.english()}"


@dataclass(frozen=True, eq=False)
class ResponseSet:
    """The good rows of a response file as a stage matrix (NaN = N/A), and every error found.

    ``ids[r]``, ``rows[r]`` (file row), ``priority_kpis[r]``, ``answered_by[r]``, ``answered_at[r]`` and
    ``stages[r]`` describe the same response. ``rejected`` counts data rows left out because of bad cells.
    """

    instrument: Instrument
    ids: tuple[str, ...]
    id_columns: tuple[str, ...]
    rows: tuple[int, ...]
    stages: FloatArray
    priority_kpis: tuple[tuple[str, ...], ...]
    answered_by: tuple[str | None, ...]
    answered_at: tuple[str | None, ...]
    errors: tuple[CellError, ...]
    rejected: int

    def __len__(self) -> int:
        return len(self.ids)


def read_responses(
    path: str | Path, instrument: Instrument | None = None, limits: ReadLimits = REGISTRY
) -> ResponseSet:
    """Read a ``.csv``, ``.xlsx`` or ``.xlsm`` response file of at most ``limits.rows`` rows.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "survey.csv"
    >>> header = ",".join(["brn", *default_instrument().item_ids])
    >>> _ = path.write_text(header + "\\n220-81-62517,2" + "," * 41 + "\\n", encoding="utf-8")
    >>> result = read_responses(path)
    >>> result.ids, result.stages[0, :2].tolist(), result.errors
    (('2208162517',), [2.0, nan], ())
    """
    path = Path(path)
    instrument = instrument or default_instrument()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header_row, header, rows = _read_csv(path, limits)
    elif suffix in {".xlsx", ".xlsm"}:
        header_row, header, rows = _read_excel(path, limits)
    else:
        raise ResponseFileError(N_("The response file must be .csv, .xlsx or .xlsm."))
    return parse_rows(instrument, header, rows, header_row=header_row)


def _read_csv(path: Path, limits: ReadLimits) -> tuple[int, list[Any], Records]:
    raw = _read_bytes(path)
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ResponseFileError(N_("The response file is neither UTF-8 nor CP949 text."))
    records = enumerate(bounded_rows(_csv_rows(text), limits, header_rows=1), start=1)
    return _split_header(records)


def _csv_rows(text: str) -> Iterator[list[str]]:
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error as exc:  # e.g. a cell longer than the csv module reads
        raise ResponseFileError(reason=str(exc)) from exc


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ResponseFileError(reason=str(exc.strerror or exc)) from exc


def _read_excel(path: Path, limits: ReadLimits) -> tuple[int, list[Any], Records]:
    """The first sheet, streamed: refused before opening when it unpacks too large, and at the row limit."""
    records = enumerate(workbook_rows(path, limits), start=1)
    return _split_header(records)


Records = Iterator[tuple[int, list[Any]]]


def _split_header(records: Records) -> tuple[int, list[Any], Records]:
    """The first non-blank row is the header; the rest keep their own row numbers."""
    for number, values in records:
        if not all(_blank(value) for value in values):
            return number, values, records
    raise ResponseFileError(N_("The response file is empty."))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --------------------------------------------------------------------------- parsing


@dataclass
class _Columns:
    """Where each known column sits in the header."""

    items: dict[int, int] = field(default_factory=dict)  # header position → item column
    ids: dict[str, int] = field(default_factory=dict)
    optional: dict[str, int] = field(default_factory=dict)


def parse_rows(
    instrument: Instrument, header: Sequence[Any], rows: Iterable[tuple[int, Sequence[Any]]], *,
    header_row: int = 1,
) -> ResponseSet:
    """Check a header and its data rows (``(file row number, cells)``) and build the :class:`ResponseSet`."""
    errors: list[CellError] = []
    columns = _parse_header(instrument, header, header_row, errors)
    if not columns.ids:
        raise ResponseFileError(N_("The response file has no company_id or brn column."))
    names = [_column_name(value, position) for position, value in enumerate(header)]
    kept: list[tuple[int, str, list[float], tuple[str, ...], str | None, str | None]] = []
    first_row: dict[str, int] = {}
    rejected = 0
    for number, cells in rows:
        if all(_blank(cell) for cell in cells):
            continue
        row_errors: list[CellError] = []
        parsed = _parse_row(instrument, columns, names, number, list(cells), first_row, row_errors)
        errors.extend(row_errors)
        if row_errors or parsed is None:
            rejected += 1
        else:
            kept.append(parsed)
    n_items = len(instrument.items)
    return ResponseSet(
        instrument=instrument, ids=tuple(k[1] for k in kept), id_columns=tuple(columns.ids),
        rows=tuple(k[0] for k in kept),
        stages=np.array([k[2] for k in kept], dtype=np.float64).reshape(len(kept), n_items),
        priority_kpis=tuple(k[3] for k in kept), answered_by=tuple(k[4] for k in kept),
        answered_at=tuple(k[5] for k in kept), errors=tuple(errors), rejected=rejected,
    )


def _column_name(value: Any, position: int) -> str:
    """The header text, or the spreadsheet letter (A, B, …, AA) of a column without a name."""
    if not _blank(value):
        return str(value).strip()
    letters, number = "", position + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _parse_header(
    instrument: Instrument, header: Sequence[Any], header_row: int, errors: list[CellError]
) -> _Columns:
    columns = _Columns()
    item_lookup = {item_id.upper(): column for column, item_id in enumerate(instrument.item_ids)}
    seen: set[str] = set()
    for position, value in enumerate(header):
        name = _column_name(value, position)
        key = name.upper() if name.upper() in item_lookup else name.lower()
        if _blank(value):
            errors.append(CellError(header_row, name, N_("column without a name")))
        elif key in seen:
            errors.append(CellError(header_row, name, N_("duplicate column")))
        elif key in item_lookup:
            columns.items[position] = item_lookup[key]
        elif key in ID_COLUMNS:
            columns.ids[key] = position
        elif key in OPTIONAL_COLUMNS:
            columns.optional[key] = position
        else:
            errors.append(CellError(header_row, name, N_("unknown column")))
        seen.add(key)
    present = set(columns.items.values())
    missing = [item_id for column, item_id in enumerate(instrument.item_ids) if column not in present]
    if missing:
        reason = N_("missing item columns, read as N/A in every row")
        errors.append(CellError(header_row, ", ".join(missing), reason))
    return columns


def _parse_row(
    instrument: Instrument, columns: _Columns, names: list[str], number: int, cells: list[Any],
    first_row: dict[str, int], errors: list[CellError],
) -> tuple[int, str, list[float], tuple[str, ...], str | None, str | None] | None:
    def cell(position: int) -> Any:
        return cells[position] if position < len(cells) else None

    key, key_position = _row_key(columns, number, cell, names, errors)
    if key is not None and key in first_row:
        errors.append(CellError(number, names[key_position], N_("duplicate company: first at row {first}"),
                                {"first": first_row[key]}))
    elif key is not None:
        first_row[key] = number
    stages = [math.nan] * len(instrument.items)
    bad_stages = 0
    for position, column in columns.items.items():
        value, reason = _stage(cell(position))
        if reason is None:
            stages[column] = value
        else:
            bad_stages += 1
            errors.append(CellError(number, names[position], reason, {"value": _shown(cell(position))}))
    if not bad_stages and all(math.isnan(stage) for stage in stages):
        errors.append(CellError(number, names[min(columns.ids.values())], N_("no item answered")))
    kpis = _priority_kpis(instrument, columns, names, number, cell, errors)
    answered_by = cell(columns.optional["answered_by"]) if "answered_by" in columns.optional else None
    answered_at = _answered_at(columns, names, number, cell, errors)
    if key is None:
        return None
    return number, key, stages, kpis, None if _blank(answered_by) else str(answered_by).strip(), answered_at


def _row_key(
    columns: _Columns, number: int, cell: Any, names: list[str], errors: list[CellError]
) -> tuple[str | None, int]:
    """(key, its column): ``company_id`` when given, else the BRN as ten digits."""
    if "company_id" in columns.ids and not _blank(company := cell(columns.ids["company_id"])):
        return _shown(company), columns.ids["company_id"]
    if "brn" in columns.ids and not _blank(brn := cell(columns.ids["brn"])):
        digits = normalize_brn(_shown(brn))
        if brn_is_valid(digits):
            return digits, columns.ids["brn"]
        errors.append(CellError(number, names[columns.ids["brn"]],
                                N_("{value} is not a valid business registration number (10 digits, check digit)"),
                                {"value": _shown(brn)}))
        return None, columns.ids["brn"]
    first = min(columns.ids.values())
    errors.append(CellError(number, names[first], N_("missing company id (company_id or brn)")))
    return None, first


def _shown(value: Any) -> str:
    """A cell as the user typed it (Excel turns ``3`` into ``3.0`` and ids into numbers)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _stage(value: Any) -> tuple[float, str | None]:
    """(stage, None) or (nan, reason msgid); N/A reads as (nan, None)."""
    if value is None:
        return math.nan, None
    if isinstance(value, str):
        text = value.strip()
        if text in _STAGE_TEXT:
            return _STAGE_TEXT[text], None
        if text.lower() in NA_VALUES:
            return math.nan, None
        try:
            value = float(text)
        except ValueError:
            return math.nan, N_("{value} is not a stage 0–5")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan, N_("{value} is not a stage 0–5")
    if math.isfinite(value) and float(value).is_integer() and 0 <= value <= 5:
        return float(value), None
    return math.nan, N_("{value} is not a stage 0–5")


def _priority_kpis(
    instrument: Instrument, columns: _Columns, names: list[str], number: int, cell: Any,
    errors: list[CellError],
) -> tuple[str, ...]:
    if "priority_kpis" not in columns.optional:
        return ()
    position = columns.optional["priority_kpis"]
    raw = cell(position)
    if _blank(raw):
        return ()
    kpis = []
    for token in _KPI_SPLIT.split(str(raw).strip()):
        if token.upper() in instrument.kpi_ids:
            kpis.append(token.upper())
        elif token:
            errors.append(CellError(number, names[position], N_("{value} is not a KPI item ({kpis})"),
                                    {"value": token, "kpis": ", ".join(instrument.kpi_ids)}))
    return tuple(dict.fromkeys(kpis))


def _answered_at(
    columns: _Columns, names: list[str], number: int, cell: Any, errors: list[CellError]
) -> str | None:
    if "answered_at" not in columns.optional:
        return None
    raw = cell(columns.optional["answered_at"])
    if _blank(raw):
        return None
    if isinstance(raw, dt.datetime | dt.date):
        return raw.isoformat()
    text = str(raw).strip()
    try:
        moment = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
        return moment.isoformat()
    except ValueError:
        errors.append(CellError(number, names[columns.optional["answered_at"]],
                                N_("{value} is not a date (YYYY-MM-DD)"), {"value": _shown(raw)}))
        return None
