"""Reading uploaded tables within limits, so a small file cannot unpack into a server-sized one.

An Excel workbook is a zip: a 690 KB ``.xlsx`` can declare 200 MB of sheet XML and two million rows. Its
declared unpacked sizes are checked before openpyxl or pandas opens it (Python's zip reader never inflates
a member past its declared size, so the check holds), a Parquet file's row count and unpacked size are
read from its footer first, and every reader stops at the row limit instead of reading the file whole.
A file that is not what its name says (random bytes, a truncated or non-zip ``.xlsx``) is a 422 with the
reason, never a 500.

>>> limits = ReadLimits(rows=2, unpacked_bytes=10**6)
>>> list(bounded_rows(iter([[1], [2]]), limits))
[[1], [2]]
>>> check_workbook(b"not a zip", limits)
Traceback (most recent call last):
...
smart365.core.errors.Invalid: The file is not an Excel workbook (.xlsx), or it is damaged.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_
from smart365.core.settings import Settings

T = TypeVar("T")
MB = 1024 * 1024


class FileTooLarge(AppError):
    """A file over a row or unpacked-size limit (413): nothing of it is kept."""

    status = 413
    code = "file_too_large"
    default_message = N_("The file has more than {limit} rows; split it.")


@dataclass(frozen=True)
class ReadLimits:
    """How much of one uploaded file is read: data rows, and bytes once unpacked (Excel, Parquet)."""

    rows: int
    unpacked_bytes: int

    @classmethod
    def history(cls, settings: Settings) -> ReadLimits:
        """For a firm's tag history (CSV, Excel, Parquet)."""
        return cls(settings.max_import_rows, settings.max_import_unpacked_bytes)

    @classmethod
    def registry(cls, settings: Settings) -> ReadLimits:
        """For a company registry or a survey response file."""
        return cls(settings.max_registry_rows, settings.max_import_unpacked_bytes)


DEFAULTS = Settings.model_construct()  # the settings' own defaults, without reading the environment
HISTORY = ReadLimits.history(DEFAULTS)
REGISTRY = ReadLimits.registry(DEFAULTS)


def megabytes(size: int) -> str:
    """A size in MB as a person reads it.

    >>> megabytes(200 * MB), megabytes(202_417_000), megabytes(512 * 1024)
    ('200', '193', '0.5')
    """
    return f"{size / MB:.3g}" if size < 1000 * MB else f"{size / MB:,.0f}"


def _source(data: bytes | Path) -> io.BytesIO | Path:
    return io.BytesIO(data) if isinstance(data, bytes | bytearray) else data


def check_workbook(data: bytes | Path, limits: ReadLimits) -> None:
    """Refuse a workbook that is not a readable zip, or whose parts declare more than ``limits.unpacked_bytes``."""
    try:
        with zipfile.ZipFile(_source(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise Invalid(N_("The file is not an Excel workbook (.xlsx), or it is damaged.")) from exc
    if unpacked > limits.unpacked_bytes:
        raise FileTooLarge(
            N_("The workbook unpacks to {size} MB, more than the {limit} MB allowed; split it."),
            size=megabytes(unpacked),
            limit=megabytes(limits.unpacked_bytes),
        )


def check_parquet(data: bytes | Path, limits: ReadLimits) -> None:
    """Refuse a Parquet file that is unreadable, or whose footer declares too many rows or unpacked bytes."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(_source(data)).metadata
    except Exception as exc:  # pyarrow's complaint about foreign bytes is always the same answer to the user
        raise Invalid(N_("The file is not a Parquet file, or it is damaged.")) from exc
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if meta.num_rows > limits.rows:
        raise FileTooLarge(limit=f"{limits.rows:,}")
    if unpacked > limits.unpacked_bytes:
        raise FileTooLarge(
            N_("The file unpacks to {size} MB, more than the {limit} MB allowed; split it."),
            size=megabytes(unpacked),
            limit=megabytes(limits.unpacked_bytes),
        )


def bounded_rows(rows: Iterable[T], limits: ReadLimits, header_rows: int = 0) -> Iterator[T]:
    """The rows as they are read, refused the moment there are more than ``limits.rows`` (plus the header)."""
    for count, row in enumerate(rows, start=1):
        if count > limits.rows + header_rows:
            raise FileTooLarge(limit=f"{limits.rows:,}")
        yield row


def workbook_rows(data: bytes | Path, limits: ReadLimits) -> Iterator[list[Any]]:
    """The first sheet's rows (cell values), header included, read as a stream within ``limits``: refused
    at once when the sheet declares more rows than allowed, else when reading passes the limit."""
    with _workbook(data, limits) as book:
        yield from bounded_rows(_rows(book.worksheets[0], limits), limits, header_rows=1)


def workbook_sheets(data: bytes | Path, limits: ReadLimits) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet's name and rows (header included), at most ``limits.rows`` data rows in all sheets together."""
    sheets, data_rows = [], 0
    with _workbook(data, limits) as book:
        for sheet in book.worksheets:
            rows = list(bounded_rows(_rows(sheet, limits), limits, header_rows=1))
            data_rows += max(len(rows) - 1, 0)
            if data_rows > limits.rows:
                raise FileTooLarge(limit=f"{limits.rows:,}")
            sheets.append((sheet.title, rows))
    return sheets


@contextmanager
def _workbook(data: bytes | Path, limits: ReadLimits) -> Iterator[Any]:
    """The workbook opened for streaming, once its declared sizes passed :func:`check_workbook`."""
    from openpyxl import load_workbook  # imported here: only Excel users pay for it

    check_workbook(data, limits)
    try:
        book = load_workbook(_source(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl's complaint about a damaged workbook is the same answer to the user
        raise Invalid(N_("The file is not an Excel workbook (.xlsx), or it is damaged.")) from exc
    try:
        if not book.worksheets:
            raise Invalid(N_("The workbook has no sheet."))
        yield book
    finally:
        book.close()


def _rows(sheet: Any, limits: ReadLimits) -> Iterator[list[Any]]:
    declared = sheet.max_row  # the sheet's own dimension, when its writer set one (Excel does)
    if isinstance(declared, int) and declared > limits.rows + 1:
        raise FileTooLarge(limit=f"{limits.rows:,}")
    try:
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    except Exception as exc:  # damaged XML or zip members surface only while the sheet streams
        raise Invalid(N_("The file is not an Excel workbook (.xlsx), or it is damaged.")) from exc
