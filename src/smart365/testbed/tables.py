"""Staged tables: what a run will read, kept under the data directory per firm.

A table comes from an uploaded file (CSV, Excel, Parquet; size- and type-checked, stored under a random
name, only ever *read* as data, never executed or served back) or from a selection of the firm's tags,
pivoted from the time-series store to a wide table on a regular time grid and saved as Parquet. Either way
it gets a token (a random hex name) and a small JSON description beside it; a run names its table by token.

>>> import io, tempfile
>>> staging = Staging(Path(tempfile.mkdtemp()))
>>> token = staging.save_upload(7, "line3.csv", io.BytesIO(b"t,x,ok\\n1,2,y\\n2,3,n\\n"))
>>> staging.load(7, token).columns.tolist(), staging.meta(7, token)["name"]
(['t', 'x', 'ok'], 'line3.csv')
>>> staging.load(8, token)  # another firm's folder does not hold it
Traceback (most recent call last):
...
smart365.analytics.testbed.TestbedError: The prepared table was not found; please choose the data again.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from smart365.analytics.quality import Finding, data_quality
from smart365.analytics.testbed import TestbedError, as_datetime, load_table
from smart365.core.db import SEOUL
from smart365.core.i18n import N_
from smart365.core.uploads import HISTORY, ReadLimits
from smart365.registry.models import Tag
from smart365.telemetry.store import TimeSeriesStore, plan_buckets

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 500
UPLOAD_LIMITS = ReadLimits(rows=MAX_ROWS, unpacked_bytes=HISTORY.unpacked_bytes)  # read no further than this
MAX_GRID_ROWS = 5_000  # a tag selection becomes at most this many time steps
UNUSED_KEPT = timedelta(days=1)  # a staged table no run uses (previewed, never run) is deleted after this
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "excel", ".parquet": "parquet", ".pq": "parquet"}
TOKEN = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 1 << 20
_TIME_NAMES = re.compile(r"(time|date|timestamp|datetime|ts|시간|일시|시각|날짜|일자)$", re.IGNORECASE)


class TooLarge(TestbedError):
    """An upload over the size or table limits (413)."""

    status = 413
    code = "testbed_too_large"


class Staging:
    """The folder of staged tables: ``<data dir>/testbed/<company id>/<token>.<suffix>`` plus ``<token>.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, company_id: int) -> Path:
        return self.root / str(int(company_id))

    def save_upload(self, company_id: int, filename: str, stream: IO[bytes]) -> str:
        """Store an uploaded file if it is a readable table within the limits; else store nothing and raise."""
        suffix = Path(filename or "").suffix.lower()
        if suffix not in SUFFIXES:
            raise TestbedError(N_("Unsupported file type {suffix}: use CSV, Parquet or Excel."), suffix=suffix or "-")
        token = secrets.token_hex(16)
        folder = self.folder(company_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{token}{suffix}"
        try:
            size = _copy_limited(stream, path)
            _check_signature(path, SUFFIXES[suffix])
            frame = _bounded(_load(path, filename, UPLOAD_LIMITS))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        meta = {"kind": "file", "name": _plain_name(filename), "suffix": suffix, "bytes": size,
                "rows": len(frame), "columns": frame.shape[1], "staged_at": datetime.now(UTC).isoformat()}  # fmt: skip
        (folder / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return token

    def save_frame(self, company_id: int, frame: pd.DataFrame, meta: dict[str, Any]) -> str:
        """Store a table built here (a tag selection) as Parquet."""
        token = secrets.token_hex(16)
        folder = self.folder(company_id)
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / f"{token}.parquet", index=False)
        meta = meta | {"suffix": ".parquet", "rows": len(frame), "columns": frame.shape[1],
                       "staged_at": datetime.now(UTC).isoformat()}  # fmt: skip
        (folder / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False, default=str), encoding="utf-8")
        return token

    def meta(self, company_id: int, token: str) -> dict[str, Any]:
        """The description of a staged table (raises when the token is malformed or unknown)."""
        path = self.folder(company_id) / f"{_checked(token)}.json"
        if not path.is_file():
            raise TestbedError(N_("The prepared table was not found; please choose the data again."))
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return meta

    def load(self, company_id: int, token: str) -> pd.DataFrame:
        """Read a staged table."""
        meta = self.meta(company_id, token)
        return _load(self.folder(company_id) / f"{token}{meta['suffix']}", str(meta.get("name", "")))

    def prune(self, company_id: int, used: Collection[str], older_than: timedelta = UNUSED_KEPT) -> int:
        """Delete the company's staged tables that no run uses (``used``: their tokens) and that were staged
        longer than ``older_than`` ago: files previewed and left. A run's table stays, since deploying its
        winner refits on it. Returns how many were deleted."""
        cutoff = datetime.now(UTC) - older_than
        deleted = 0
        for meta_path in sorted(self.folder(company_id).glob("*.json")):
            token = meta_path.stem
            if token in used or not TOKEN.match(token):
                continue
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if datetime.fromisoformat(meta["staged_at"]) < cutoff:
                (meta_path.parent / f"{token}{meta['suffix']}").unlink(missing_ok=True)
                meta_path.unlink()
                deleted += 1
        return deleted


def _load(path: Path, shown_name: str, limits: ReadLimits | None = None) -> pd.DataFrame:
    """Read a staged file (an upload within ``limits``); an error names the file as the person knows it, never
    the server's folder."""
    try:
        return load_table(path, limits)
    except TestbedError as exc:
        if "path" in exc.params:
            exc.params["path"] = _plain_name(shown_name) if shown_name else path.suffix
            exc.args = (exc.english(),)
        raise


def _checked(token: str) -> str:
    if not TOKEN.match(token or ""):
        raise TestbedError(N_("The prepared table was not found; please choose the data again."))
    return token


def _copy_limited(stream: IO[bytes], path: Path) -> int:
    size = 0
    with path.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise TooLarge(N_("The file is larger than {limit} MB."), limit=MAX_UPLOAD_BYTES // 2**20)
            out.write(chunk)
    if size == 0:
        raise TestbedError(N_("The file is empty."))
    return size


def _check_signature(path: Path, kind: str) -> None:
    """The first bytes must fit the file type (a renamed program or archive is refused before parsing)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    ok = {"parquet": head.startswith(b"PAR1"), "excel": head.startswith(b"PK\x03\x04"),
          "csv": b"\x00" not in head and not head.startswith((b"PK\x03\x04", b"MZ", b"\x7fELF", b"PAR1"))}  # fmt: skip
    if not ok[kind]:
        raise TestbedError(N_("The file's contents do not match its type {suffix}."), suffix=path.suffix)


def _bounded(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) > MAX_ROWS or frame.shape[1] > MAX_COLUMNS:
        raise TooLarge(N_("The table is too large: at most {rows} rows and {columns} columns."),
                           rows=f"{MAX_ROWS:,}", columns=MAX_COLUMNS)  # fmt: skip
    return frame


def _plain_name(filename: str) -> str:
    """The file's own name only (no folders), for display."""
    return Path(filename.replace("\\", "/")).name[:200] or "upload"


# -- tags from the store -----------------------------------------------------------------------------------


def tag_column(tag: Tag) -> str:
    """A tag's column name in the wide table as people read it: ``MACHINE/display name`` (MCT-01/주축 부하)."""
    return tag.machine_label


def tag_table(store: TimeSeriesStore, tags: Sequence[Tag], start: datetime, end: datetime) -> pd.DataFrame:
    """The tags per time step on a regular grid over ``[start, end)``: a ``time`` column (Korean time) and
    one column per tag, its mean in the step, or its highest value for a tag of a few whole-number codes (a
    reject flag, a machine state), whose mean would be a code that never happened. Short gaps (up to 3
    steps) carry the last value forward; steps with no value at all are left out."""
    if end <= start:
        raise TestbedError(N_("The end of the time range must be after its start."))
    if len(tags) < 2:
        raise TestbedError(N_("Choose at least two tags: a target and something to predict it from."))
    ids = [t.id for t in tags]
    start_us, end_us = int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)
    steps = _grid_steps(store, ids, start_us, end_us)
    plan = plan_buckets(start_us, end_us, steps)
    rows = store.range(ids, start_us, end_us, max_points=steps).to_pandas()
    codes = _code_tags(rows)
    rows["value"] = rows["avg"].where(~rows["tag_id"].isin(codes), rows["max"])
    wide = rows.pivot_table(index="bucket", columns="tag_id", values="value", aggfunc="mean")
    grid = pd.date_range(pd.Timestamp(plan.origin_us, unit="us"), pd.Timestamp(end_us, unit="us"),
                         freq=pd.Timedelta(microseconds=plan.width_us), inclusive="left")  # fmt: skip
    wide.index = pd.DatetimeIndex(wide.index).tz_localize(None) if wide.index.dtype.kind == "M" else wide.index
    wide = wide.reindex(grid).ffill(limit=3).dropna(how="all")
    frame = pd.DataFrame({"time": wide.index.tz_localize("UTC").tz_convert("Asia/Seoul").tz_localize(None)})
    for tag in tags:
        frame[tag_column(tag)] = wide[tag.id].to_numpy() if tag.id in wide.columns else np.nan
    return frame.reset_index(drop=True)


def _code_tags(rows: pd.DataFrame, most: int = 10) -> set[int]:
    """Tags whose points are all whole numbers from a set of at most ``most`` codes."""
    whole = (rows["min"] % 1 == 0) & (rows["max"] % 1 == 0)
    codes = pd.concat([rows[["tag_id", "min"]].set_axis(["tag_id", "v"], axis=1),
                       rows[["tag_id", "max"]].set_axis(["tag_id", "v"], axis=1)])  # fmt: skip
    distinct = codes.groupby("tag_id")["v"].nunique()
    all_whole = whole.groupby(rows["tag_id"]).all()
    return {int(t) for t in distinct.index if distinct[t] <= most and all_whole[t]}


def _grid_steps(store: TimeSeriesStore, ids: list[int], start_us: int, end_us: int) -> int:
    """How many time steps: no finer than the sparsest tag's usual spacing (a grid finer than the data
    would be mostly empty), at most :data:`MAX_GRID_ROWS`. The usual spacing is read from the typical
    (median) number of points in a probe step that has any, so missing minutes and outages do not coarsen
    the grid."""
    probe_points = 100
    probe = store.range(ids, start_us, end_us, max_points=probe_points).to_pandas()
    if probe.empty:
        raise TestbedError(N_("The store holds no data for these tags in this time range."))
    width = plan_buckets(start_us, end_us, probe_points).width_us
    spacing = float((width / probe.groupby("tag_id")["count"].median()).max())
    return int(max(2, min(MAX_GRID_ROWS, (end_us - start_us) // max(spacing, 1e6))))


def stage_tags(
    staging: Staging, store: TimeSeriesStore, company_id: int, tags: Sequence[Tag], start: datetime, end: datetime
) -> str:
    """Pivot ``tags`` over ``[start, end)`` (:func:`tag_table`) and stage the table; returns its token."""
    frame = tag_table(store, tags, start, end)
    names = ", ".join(tag_column(t) for t in tags[:6]) + (" …" if len(tags) > 6 else "")
    span = f"{start.astimezone(SEOUL):%Y-%m-%d %H:%M} – {end.astimezone(SEOUL):%Y-%m-%d %H:%M}"
    meta = {
        "kind": "tags",
        "tag_ids": [t.id for t in tags],
        "equipment_ids": sorted({t.equipment_id for t in tags}),
        "columns_of": {tag_column(t): t.id for t in tags},
        "start": start.isoformat(),
        "end": end.isoformat(),
        "description": f"{names} ({span})",
    }
    return staging.save_frame(company_id, frame, meta)


# -- preview -------------------------------------------------------------------------------------------------

COLUMN_KINDS = {"number": N_("number"), "text": N_("text"), "time": N_("date/time"), "flag": N_("yes/no")}


@dataclass
class Preview:
    """What a person sees before starting: the first rows, each column's kind and the data findings."""

    rows: int
    columns: list[dict[str, Any]]
    head: list[list[str]]
    findings: list[Finding]
    time_guess: str | None


def preview(frame: pd.DataFrame, head: int = 8, gaps: bool = False) -> Preview:
    """Summarise a table for the preview. ``gaps``: a table built from tags on a time grid, whose missing
    values are time steps without a reading; each such column's gaps are reported.

    >>> p = preview(pd.DataFrame({"일시": ["2026-01-01 08:00", "2026-01-01 09:00"], "x": [1.5, None]}))
    >>> p.rows, [(c["name"], c["kind"], c["missing"]) for c in p.columns], p.time_guess
    (2, [('일시', 'time', 0.0), ('x', 'number', 0.5)], '일시')
    """
    columns = [{"name": str(c), "kind": column_kind(frame[c]), "missing": float(frame[c].isna().mean()),
                "distinct": int(frame[c].nunique())} for c in frame.columns]  # fmt: skip
    shown = frame.head(head).astype(object).where(frame.head(head).notna(), "")
    cells = [[_cell(v) for v in row] for row in shown.itertuples(index=False)]
    times: list[str] = [str(c["name"]) for c in columns if c["kind"] == "time"]
    named = [n for n in times if _TIME_NAMES.search(n)]
    guesses = named or times
    findings = data_quality(frame, times=times)
    if gaps:
        findings += gap_findings(frame.drop(columns=times))
    return Preview(len(frame), columns, cells, findings, guesses[0] if guesses else None)


GAP_MESSAGES = {
    "gaps": N_("Column {column} has no reading in {count} of {rows} time steps (the longest gap {longest} steps "
               "in a row). Models treat them as missing values; rows without a target value are left out."),
}


def gap_findings(frame: pd.DataFrame) -> list[Finding]:
    """One finding per column with time steps that have no value: how many, and the longest run.

    >>> [f.english() for f in gap_findings(pd.DataFrame({"a": [1.0, None, None, 2.0], "b": [1.0] * 4}))]
    ['Column a has no reading in 2 of 4 time steps (the longest gap 2 steps in a row). Models treat them as \
missing values; rows without a target value are left out.']
    """
    found = []
    for col in frame.columns:
        missing = frame[col].isna().to_numpy()
        if missing.any():
            padded = np.concatenate([[0], missing.astype(np.int8), [0]])
            edges = np.flatnonzero(np.diff(padded))
            longest = int((edges[1::2] - edges[::2]).max())
            found.append(Finding("gaps", str(col), {"column": str(col), "count": int(missing.sum()),
                                 "rows": len(frame), "longest": longest}, GAP_MESSAGES))  # fmt: skip
    return found


def column_kind(s: pd.Series) -> str:
    """``number``, ``flag``, ``time`` or ``text``."""
    if pd.api.types.is_bool_dtype(s) or (s.nunique(dropna=True) == 2 and set(s.dropna().unique()) <= {0, 1}):
        return "flag"
    if pd.api.types.is_numeric_dtype(s):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "time"
    sample = s.dropna().astype(str).head(200)
    if len(sample) and sample.str.contains(r"\d\s*[-/.:]\s*\d|\d\s*년").mean() >= 0.9:
        parsed = as_datetime(sample)
        if parsed.notna().mean() >= 0.9:
            return "time"
    numbers = pd.to_numeric(sample, errors="coerce")
    return "number" if len(sample) and numbers.notna().mean() >= 0.95 else "text"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)[:60]
