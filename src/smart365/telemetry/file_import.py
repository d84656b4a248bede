"""The file connector: historical tag data from a CSV, Excel or Parquet file, through the pipeline, into the store.

Two layouts are read (the first column is always the time):

- **long**: ``timestamp,tag,value`` — one value per row;
- **wide**: ``timestamp,<tag>,<tag>,...`` — one column per tag, an empty cell means no value.

An Excel sheet or a Parquet file is read by pandas and goes through the same reader as a CSV, so its row
numbers are the sheet's (the header is row 1). A tag is named as the caller's ``names`` map knows it (e.g.
``MCT-01/spindle_load`` or a tag id). Times without a zone are read as ``naive_tz`` (Korean time by
default). Every row that cannot be stored is dead-lettered with its line and reason: unreadable rows here,
unknown tags, bad times and bad values by the pipeline's own checks.

>>> parsed = parse_csv(b"timestamp,tag,value\\n2026-01-05 09:00,M/t,1.5\\n2026-01-05 09:01,M/x,2\\n", {"M/t": 7})
>>> parsed.batch.tag_id.tolist(), parsed.lines.tolist()
([7, -1], [2, 3])
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from smart365.core.errors import Invalid
from smart365.core.i18n import N_, _, translate_in
from smart365.core.uploads import HISTORY, FileTooLarge, ReadLimits, bounded_rows, check_parquet, check_workbook
from smart365.telemetry.batch import Batch, to_epoch_us
from smart365.telemetry.metrics import INGEST_POINTS
from smart365.telemetry.pipeline import Pipeline, reason_text, unreadable_letters
from smart365.telemetry.store import TimeSeriesStore

MAX_VALUES = 5_000_000  # values (cells) of one wide file: the points it becomes are held in memory at once
SPREADSHEETS = (".xlsx", ".xlsm")
PARQUET = (".parquet", ".pq")
SAMPLE_ROWS = 10
MAX_RAW_CHARS = 1000  # how much of an unreadable row the dead-letter table keeps
MAX_REJECTED_SHOWN = 200  # rejected rows a report lists (all are counted, and dead-lettered when stored)
TIME_COLUMNS = {"timestamp", "ts", "time", "datetime", "시각", "일시"}
MALFORMED = N_("The row does not have the same number of columns as the header.")
_HAS_ZONE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedFile:
    """Points read from a file, the file line (and column, for wide files) of each, and unreadable lines."""

    batch: Batch
    lines: np.ndarray
    columns: list[str]
    malformed: list[int] = field(default_factory=list)
    malformed_raw: list[str] = field(default_factory=list)
    """Each unreadable row as it was written (cells joined by commas, cut short), for the dead-letter table."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    column: str
    reason: str  # in the current language
    reason_en: str


@dataclass(frozen=True)
class SampleRow:
    """One readable value as the file holds it (shown before anything is stored)."""

    line: int
    column: str
    tag_id: int
    at: datetime
    value: float


@dataclass(frozen=True)
class FileImportReport:
    """What became of a file: points read, stored now, already held, the first rejected rows with their
    reason (:data:`MAX_REJECTED_SHOWN`, by line) and how many were rejected in all, by reason code.

    A preview (``dry_run``) stores nothing: ``stored`` is 0 and ``sample`` shows the first readable values.
    """

    points: int
    stored: int
    already_stored: int
    rejected: list[RejectedRow]
    dry_run: bool = False
    sample: list[SampleRow] = field(default_factory=list)
    rejected_count: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


def rejection_text(code: str, locale: str | None = None) -> str:
    """The text of a file import's reason code (the pipeline's codes and ``malformed_row``).

    >>> rejection_text("malformed_row", "en")
    'The row does not have the same number of columns as the header.'
    """
    if code == "malformed_row":
        return _(MALFORMED) if locale is None else translate_in(locale, MALFORMED)
    return reason_text(code, locale)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp949"):  # Excel in Korea saves CSV as CP949
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid(N_("The file is not UTF-8 or CP949 text."))


def parse_upload(
    data: bytes, filename: str, names: Mapping[str, int], naive_tz: str = "Asia/Seoul", limits: ReadLimits = HISTORY
) -> ParsedFile:
    """Read an uploaded file by its name: Excel (.xlsx) and Parquet through pandas, anything else as CSV.

    No file is read past ``limits``: an Excel or Parquet file's declared unpacked size and row count are
    checked before it is opened, and reading stops one row past the row limit.

    >>> buffer = io.BytesIO()
    >>> pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-05 09:00"]), "M/t": [1.5]}).to_parquet(buffer)
    >>> parsed = parse_upload(buffer.getvalue(), "history.parquet", {"M/t": 7})
    >>> parsed.batch.tag_id.tolist(), parsed.batch.value.tolist(), parsed.lines.tolist()
    ([7], [1.5], [2])
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in SPREADSHEETS + PARQUET:
        return parse_csv(data, names, naive_tz, limits)
    if suffix in SPREADSHEETS:
        check_workbook(data, limits)
    else:
        check_parquet(data, limits)
    try:
        source = io.BytesIO(data)
        frame = pd.read_excel(source, nrows=limits.rows + 1) if suffix in SPREADSHEETS else pd.read_parquet(source)
    except Exception as error:  # any library's complaint about the bytes is the same answer to the user
        raise Invalid(
            N_("The file cannot be read as {kind}: {error}"), kind=suffix[1:], error=str(error)[:200]
        ) from error
    if len(frame) > limits.rows:
        raise FileTooLarge(limit=f"{limits.rows:,}")
    text = frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S.%f%z")
    return parse_csv(text.encode(), names, naive_tz, limits)


def parse_csv(
    data: bytes, names: Mapping[str, int], naive_tz: str = "Asia/Seoul", limits: ReadLimits = HISTORY
) -> ParsedFile:
    """Read a long or wide CSV into a batch; unknown tags get id -1, unreadable times and values stay
    for the pipeline to reject with its reasons. Reading stops past ``limits.rows`` rows or
    :data:`MAX_VALUES` values."""
    try:
        rows = list(bounded_rows(csv.reader(io.StringIO(_decode(data))), limits, header_rows=1))
    except csv.Error as error:  # e.g. a cell longer than the csv module reads, or a quote never closed
        raise Invalid(N_("The file cannot be read as {kind}: {error}"), kind="CSV", error=str(error)[:200]) from error
    if not rows or len(rows[0]) < 2 or rows[0][0].strip().lower() not in TIME_COLUMNS:
        raise Invalid(N_("The first column must be the time (timestamp), e.g. timestamp,tag,value."))
    header = [h.strip() for h in rows[0]]
    body = [(n, row) for n, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    good = [(n, row) for n, row in body if len(row) == len(header)]
    malformed = [n for n, row in body if len(row) != len(header)]
    malformed_raw = [",".join(row)[:MAX_RAW_CHARS] for _n, row in body if len(row) != len(header)]
    long = [h.lower() for h in header] in (["timestamp", "tag", "value"], ["ts", "tag", "value"])
    if not long and len(good) * (len(header) - 1) > MAX_VALUES:
        raise FileTooLarge(N_("The file has more than {limit} values; split it."), limit=f"{MAX_VALUES:,}")
    parsed = _long(good, names) if long else _wide(good, header[1:], names)
    times, tags, values, lines, columns = parsed
    batch = Batch.from_columns(tags, _times(times, naive_tz), values) if lines else Batch.empty()
    return ParsedFile(batch, np.asarray(lines, dtype=np.int64), columns, malformed, malformed_raw)


_Columns = tuple[list[str], list[int], list[str], list[int], list[str]]


def _long(rows: list[tuple[int, list[str]]], names: Mapping[str, int]) -> _Columns:
    times = [row[0] for _n, row in rows]
    tags = [names.get(row[1].strip(), -1) for _n, row in rows]
    values = [row[2].strip() for _n, row in rows]
    return times, tags, values, [n for n, _row in rows], ["value"] * len(rows)


def _wide(rows: list[tuple[int, list[str]]], header: list[str], names: Mapping[str, int]) -> _Columns:
    times, tags, values, lines, columns = [], [], [], [], []
    for n, row in rows:
        for name, cell in zip(header, row[1:], strict=True):
            if cell.strip():
                times.append(row[0])
                tags.append(names.get(name, -1))
                values.append(cell.strip())
                lines.append(n)
                columns.append(name)
    return times, tags, values, lines, columns


def _times(texts: list[str], naive_tz: str) -> np.ndarray:
    """Epoch µs of each time text; a text without a zone is in ``naive_tz``; unreadable → NaT."""
    series = pd.Series([t.strip() for t in texts], dtype=object)
    zoned = series.str.contains(_HAS_ZONE)
    out = to_epoch_us(series.where(zoned, None)).copy()
    if (~zoned).any():
        local = pd.to_datetime(series[~zoned], errors="coerce", format="mixed")
        utc = local.dt.tz_localize(naive_tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        out[~zoned.to_numpy()] = to_epoch_us(utc.dt.tz_localize(None).to_numpy(dtype="datetime64[us]"))
    return out


def import_file(
    store: TimeSeriesStore, pipeline: Pipeline, parsed: ParsedFile, *, dry_run: bool = False
) -> FileImportReport:
    """Validate and store the points; dead-letter every rejected row (unreadable lines included).

    With ``dry_run`` nothing is written: the report says what storing would reject and shows a sample.
    """
    result = pipeline.process(parsed.batch)
    stored = 0
    if not dry_run:
        stored = store.append(result.accepted) if len(result.accepted) else 0
        INGEST_POINTS.labels("file").inc(stored)
        if len(result.dead):
            store.dead_letter(result.dead)
        if parsed.malformed:
            store.dead_letter(_malformed_letters(parsed))
    rejected = _first_rejected(parsed, result.dead.position, result.dead.reason_codes())
    counts = ({"malformed_row": len(parsed.malformed)} if parsed.malformed else {}) | result.dead.counts()
    total = len(parsed.malformed) + len(result.dead)
    if dry_run:
        return FileImportReport(
            len(parsed.batch), 0, 0, rejected, dry_run=True, sample=_sample(parsed, result.dead.position),
            rejected_count=total, rejected_by_reason=counts,
        )  # fmt: skip
    already = len(result.accepted) - stored
    return FileImportReport(
        len(parsed.batch), stored, already, rejected, rejected_count=total, rejected_by_reason=counts
    )


def _first_rejected(parsed: ParsedFile, positions: np.ndarray, codes: np.ndarray) -> list[RejectedRow]:
    """The first :data:`MAX_REJECTED_SHOWN` rejected rows by (line, column): a file of a million bad rows is
    answered with a sample and the counts, never a million objects."""
    rejected = [
        RejectedRow(n, "", _(MALFORMED), translate_in("en", MALFORMED)) for n in parsed.malformed[:MAX_REJECTED_SHOWN]
    ]
    lines = parsed.lines[positions] if len(positions) else np.empty(0, dtype=np.int64)
    if len(lines) > MAX_REJECTED_SHOWN:  # every row up to the line of the N-th, so ties by column sort right
        lines_cut = np.partition(lines, MAX_REJECTED_SHOWN - 1)[MAX_REJECTED_SHOWN - 1]
        keep = np.flatnonzero(lines <= lines_cut)
    else:
        keep = np.arange(len(lines))
    for i in keep:
        code = str(codes[i])
        line, column = int(lines[i]), parsed.columns[int(positions[i])]
        rejected.append(RejectedRow(line, column, reason_text(code), reason_text(code, "en")))
    rejected.sort(key=lambda r: (r.line, r.column))
    return rejected[:MAX_REJECTED_SHOWN]


def _sample(parsed: ParsedFile, dead_positions: np.ndarray) -> list[SampleRow]:
    batch = parsed.batch
    good = np.setdiff1d(np.arange(len(batch)), dead_positions)[:SAMPLE_ROWS]
    return [
        SampleRow(
            int(parsed.lines[p]),
            parsed.columns[p],
            int(batch.tag_id[p]),
            datetime.fromtimestamp(int(batch.ts_us[p]) / 1e6, UTC),
            float(batch.value[p]),
        )
        for p in good
    ]


def _malformed_letters(parsed: ParsedFile) -> pa.Table:
    count = len(parsed.malformed)
    english, korean = translate_in("en", MALFORMED), translate_in("ko", MALFORMED)
    raw: list[str | None] = list(parsed.malformed_raw) or [None] * count
    return unreadable_letters(["malformed_row"] * count, [english] * count, [korean] * count, raw)
