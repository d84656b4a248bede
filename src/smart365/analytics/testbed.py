"""AI test-bed: try candidate models on a table never seen before, against simple baselines, honestly.

1. :func:`load_table` reads CSV (separator and Korean Excel encodings sniffed), Parquet or Excel.
2. :func:`prepare` infers what each column is: numbers are kept; text that is really numbers is converted;
   text with few levels is one-hot encoded; identifiers, free text and date/time columns other than the
   time axis are left out, each with the reason. Rows without a target are dropped. The task is detected
   from the target unless given. Data-quality findings (:func:`~smart365.analytics.quality.data_quality`)
   come along, leak warnings included.
3. :func:`expanding_folds` splits in time order with no look-ahead: fold *k* trains on blocks 1..k and
   tests on block k+1; rows sharing a timestamp never straddle a cut. Without a time column the file order
   is used, and the report says so.
4. :func:`run_testbed` fits every candidate (LightGBM, a linear model, a random forest; for anomalies the
   detectors of :mod:`~smart365.analytics.anomaly`) and baseline (majority class; mean and last value;
   never / always alarm) on each fold and reports the metric's mean ± standard deviation across folds,
   training time and scoring throughput, and the winner.

>>> rng = np.random.default_rng(0)
>>> t = pd.DataFrame({"x": rng.normal(size=300), "noise": rng.normal(size=300)})
>>> t["y"] = 3 * t.x + rng.normal(0, 0.1, 300)
>>> report = run_testbed(t, target="y", folds=3)
>>> report.task, report.metric, report.winner in {"LightGBM", "linear (ridge)"}
('regression', 'rmse', True)
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from smart365.analytics import anomaly
from smart365.analytics.contract import stopwatch
from smart365.analytics.metrics import rmse, skab_outlier_metrics
from smart365.analytics.quality import (
    LEAK_KINDS,
    Finding,
    ber_threshold,
    data_quality,
    id_like_columns,
    is_regression_target,
    platt_scaling,
    sigmoid,
)
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_
from smart365.core.lazy import lazy
from smart365.core.uploads import FileTooLarge, ReadLimits, check_parquet, check_workbook

if TYPE_CHECKING:
    import lightgbm as lgb
    import sklearn.dummy as sk_dummy
    import sklearn.ensemble as sk_ensemble
    import sklearn.impute as sk_impute
    import sklearn.linear_model as sk_linear
    import sklearn.metrics as sk_metrics
    import sklearn.model_selection as sk_selection
    import sklearn.pipeline as sk_pipeline
    import sklearn.preprocessing as sk_preprocessing
else:
    lgb = lazy("lightgbm")
    sk_dummy = lazy("sklearn.dummy")
    sk_ensemble = lazy("sklearn.ensemble")
    sk_impute = lazy("sklearn.impute")
    sk_linear = lazy("sklearn.linear_model")
    sk_metrics = lazy("sklearn.metrics")
    sk_pipeline = lazy("sklearn.pipeline")
    sk_preprocessing = lazy("sklearn.preprocessing")
    sk_selection = lazy("sklearn.model_selection")

Task = Literal["classification", "regression", "anomaly"]
TASKS: tuple[Task, ...] = ("classification", "regression", "anomaly")
FloatArray = NDArray[np.float64]
MAX_LEVELS = 30  # one-hot at most this many levels of a text column
MAX_CLASSES = 50  # beyond this a "class" target is more likely an identifier or a number stored as text
RF_MAX_ROWS = 20_000  # each random-forest tree sees at most this many rows, so big files stay quick


class TestbedError(Invalid):
    """Input the test-bed cannot use (missing file, unknown column, one-class target, ...)."""

    __test__ = False  # not a pytest test class, despite the name

    code = "testbed_input"


# --- loading -------------------------------------------------------------------------------------------


def load_table(path: Path, limits: ReadLimits | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/TXT, Parquet or Excel file; CSV separator and encoding (UTF-8, CP949) are sniffed.

    With ``limits`` (an upload) an Excel or Parquet file is refused before it is opened when it declares
    more unpacked bytes or rows than allowed, and no file is read past ``limits.rows`` rows.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes("온도;불량\\n1,5;OK\\n".encode("cp949"))
    >>> load_table(p).columns.tolist()
    ['온도', '불량']
    """
    if not path.is_file():
        raise TestbedError(N_("File not found: {path}"), path=str(path))
    suffix = path.suffix.lower()
    rows = None if limits is None else limits.rows + 1
    try:
        if suffix in {".parquet", ".pq"}:
            if limits is not None:
                check_parquet(path, limits)
            frame = pd.read_parquet(path)
        elif suffix in {".xlsx", ".xlsm", ".xls"}:
            if limits is not None and suffix != ".xls":
                check_workbook(path, limits)
            frame = pd.read_excel(path, nrows=rows)
        elif suffix in {".csv", ".tsv", ".txt"}:
            frame = _read_text(path.read_bytes(), rows)
        else:
            raise TestbedError(N_("Unsupported file type {suffix}: use CSV, Parquet or Excel."), suffix=suffix)
    except AppError:
        raise
    except Exception as exc:  # any reader's complaint about the bytes (zip, XML, CSV) is the same answer
        raise TestbedError(N_("The file {path} cannot be read as a table."), path=str(path)) from exc
    if limits is not None and len(frame) > limits.rows:
        raise FileTooLarge(limit=f"{limits.rows:,}")
    if frame.empty or frame.shape[1] < 2:
        raise TestbedError(N_("The file {path} has no rows or fewer than two columns."), path=str(path))
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_text(raw: bytes, rows: int | None = None) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "cp949"):  # Excel in Korea saves CSV as CP949
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError("unknown text encoding")
    head = text[:65536]
    try:
        sep = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    decimal = "," if sep == ";" and _comma_decimals(head) else "."
    return pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, low_memory=False, nrows=rows)


def _comma_decimals(head: str) -> bool:
    """European-style CSV (``;`` separator, ``1,5`` numbers)."""
    lines = head.splitlines()[1:20]
    return any(part.count(",") == 1 and part.replace(",", "").strip().lstrip("-").isdigit()
               for line in lines for part in line.split(";"))  # fmt: skip


# --- preparing the table ------------------------------------------------------------------------------


@dataclass
class Prepared:
    """The table made ready: numeric ``x``, encoded ``y``, rows in time order, and what was done why.

    ``positive``: for a two-class target, the index of the rarer class (the failed part, the event) that
    ROC-AUC, PR-AUC and the probabilities are about. ``groups``: each row's batch/lot when a group column
    was given (a group never straddles a fold's cut)."""

    x: pd.DataFrame
    y: NDArray[Any]
    task: Task
    target: str
    time: str | None
    order: NDArray[Any] | None  # the time value of each row (None: file order)
    classes: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # column → reason (English msgid)
    encoded: list[str] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    group: str | None = None
    groups: NDArray[Any] | None = None
    positive: int | None = None

    @property
    def binary(self) -> bool:
        return self.task == "classification" and len(self.classes) == 2


NOTE_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "no_time": N_("No time column given: rows are taken in file order (oldest first)."),
        "no_time_but": N_("No time column given: rows are taken in file order (oldest first). {columns} holds dates "
                          "and times: give it as the time column to order the rows and split the folds by time."),
        "bad_time": N_("{count} rows have no readable time in {column}; they are left out."),
        "task_classification": N_("Task detected from the target: classification."),
        "task_regression": N_("Task detected from the target: regression."),
        "skipped_fold": N_("Fold {fold} skipped: its training part has only one class."),
        "no_event_fold": N_(
            "Fold {fold} has no labelled anomaly in its test part: its F1 and missed-alarm rate are left out, "
            "its false alarms still count."
        ),
        "one_class_fold": N_(
            "Fold {fold} has no {label} row in its test part: nothing there can be told apart, so the fold is "
            "left out of the ranking's mean (it is not scored as perfect)."
        ),
        "groups": N_("Rows are split by {column} ({count} groups): a group is never on both sides of a cut."),
        "calibration": N_(
            "Probabilities are calibrated and the decision threshold chosen on the training part of each fold "
            "only ({folds}-fold inner split); the test part never influences either."
        ),
    }
)
LABEL_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "conflicting_labels": N_(
            "{rows} rows ({sets} sets of identical feature values) carry different labels, e.g. file rows "
            "{examples}: no model can tell these rows apart; check the labels or add what differs."
        ),
        "burst": N_(
            "Rows labelled {label} come in bursts: {runs} runs of them in a row, the longest {longest} (from {start}; "
            "chance alone would give about {expected}). A burst often has one cause and counts many times in a "
            "fold's score; if a batch or lot column exists, give it as the group."
        ),
    }
)
TASK_NAMES: dict[Task, str] = {
    "classification": N_("classification"), "regression": N_("regression"), "anomaly": N_("anomaly detection"),
}  # fmt: skip
DROP_REASONS = {
    "constant": N_("constant"),
    "id": N_("identifier (a different value in every row)"),
    "id_named": N_("identifier (by its name and distinct values)"),
    "counter": N_("running number or counter"),
    "text": N_("free text with too many distinct values"),
    "datetime": N_("date or time (not used as a feature)"),
    "empty": N_("entirely missing"),
    "leak": N_("leaks the target (see the findings)"),
    "group": N_("group column (keeps batches together, not a feature)"),
}
_LEFT_OUT = {"id_like": "id", "id_named": "id_named", "counter": "counter"}


def _note(kind: str, **params: Any) -> Finding:
    return Finding(kind, params.get("column"), params, NOTE_MESSAGES)


def prepare(
    frame: pd.DataFrame,
    target: str,
    time: str | None = None,
    task: Task | None = None,
    drop: Sequence[str] = (),
    group: str | None = None,
) -> Prepared:
    """Check the columns, order the rows in time, detect the task, encode the target and the features.
    ``drop``: columns the user leaves out (e.g. other label columns); ``group``: a batch/lot/experiment
    column that keeps its rows together in every split (never a feature).

    Identifiers (by values or by name), counters and dates are left out; so are columns that leak the
    label by whether they are filled in or by their text values. A number that nearly determines the target
    is reported but kept (a spec limit can truly decide a defect).

    >>> f = pd.DataFrame({"t": ["2026-01-02", "2026-01-01"], "shift": ["day", "night"], "ok": ["y", "n"]})
    >>> p = prepare(f, "ok", time="t")
    >>> p.task, p.classes, p.y.tolist(), list(p.x.columns)
    ('classification', ['n', 'y'], [0, 1], ['shift=night', 'shift=day'])
    """
    for column in (target, time, group, *drop):
        if column is not None and column not in frame.columns:
            raise TestbedError(N_("Column {column} is not in the data. Columns: {columns}"), column=column,
                               columns=", ".join(map(str, frame.columns[:30])))  # fmt: skip
    if time is not None and time == target:
        raise TestbedError(N_("The time column cannot also be the target."))
    if group is not None and group in (target, time):
        raise TestbedError(N_("The group column cannot also be the target or the time column."))
    frame = frame.drop(columns=[c for c in drop if c not in (target, time, group)])
    checked = frame.drop(columns=[group]) if group else frame
    findings = data_quality(checked, target, times=[time] if time else ())
    findings = [f for f in findings if not (f.kind == "id_like" and _is_time_column(checked[f.column]))]  # a date
    unlabelled = int(frame[target].isna().sum())
    if unlabelled:
        findings.append(Finding("target_missing", target, {"count": unlabelled}))
    frame, notes, order, source_rows = _order_rows(frame[frame[target].notna()], time)
    task = task or _detect(frame[target], notes)
    if task == "anomaly":  # a signal that shows the fault is what a detector needs, not a leak
        findings = [replace(f, kind="separates") if f.kind == "leak" else f for f in findings]
    y, classes = _encode_target(frame[target], task, target)
    left_out = {str(f.column): _LEFT_OUT[f.kind] for f in findings if f.kind in _LEFT_OUT}
    left_out |= {str(f.column): "leak" for f in findings if f.kind in LEAK_KINDS}
    x, dropped, encoded = _features(frame.drop(columns=[c for c in (target, time, group) if c]), left_out)
    groups = None
    if group:
        groups = frame[group].astype(str).where(frame[group].notna(), "—").to_numpy()
        dropped[group] = DROP_REASONS["group"]
        notes.append(_note("groups", column=group, count=int(pd.unique(groups).size)))
    positive = _positive(y) if task == "anomaly" or len(classes) == 2 else None
    prep = Prepared(x, y, task, target, time, order, classes, dropped, encoded, notes, findings, group, groups,
                    positive)  # fmt: skip
    prep.findings += label_findings(prep, source_rows)
    return prep


def _positive(y: NDArray[Any]) -> int:
    """The rarer of two class indices (a tie: 1)."""
    counts = np.bincount(y.astype(np.int64), minlength=2)
    return 0 if counts[0] < counts[1] else 1


def _order_rows(
    frame: pd.DataFrame, time: str | None
) -> tuple[pd.DataFrame, list[Finding], NDArray[Any] | None, NDArray[np.intp]]:
    """Rows in time order, the notes, each row's time and its row number in the file (1 = first data row)."""
    integer = pd.api.types.is_integer_dtype(frame.index)
    rows = np.asarray(frame.index.to_numpy() if integer else np.arange(len(frame))) + 1
    if time is None:
        dated = [str(c) for c in frame.columns if _is_time_column(frame[c])]
        note = _note("no_time_but", columns=", ".join(dated)) if dated else _note("no_time")
        return frame.reset_index(drop=True), [note], None, rows
    values = _as_time(frame[time])
    bad = int(values.isna().sum())
    notes = [_note("bad_time", count=bad, column=time)] if bad else []
    keep = values.notna().to_numpy()
    frame, values, rows = frame[keep], values[keep], rows[keep]
    order = np.argsort(values.to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True), notes, values.to_numpy()[order], rows[order]


_KO_DATE = r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일?"
_KO_TIME = r"(\d{1,2})\s*시(?:\s*(\d{1,2})\s*분)?(?:\s*(\d{1,2})\s*초)?"
_DOT_DATE = r"^(\d{4})\s*[./]\s*(\d{1,2})\s*[./]\s*(\d{1,2})\.?(?=\s|$)"
_AM_PM = r"(오전|오후)\s*(\d{1,2}:\d{2}(?::\d{2})?)"


def as_datetime(s: pd.Series) -> pd.Series:
    """Text as date/time, also in the forms Korean factory software exports (unreadable → NaT).

    >>> as_datetime(pd.Series(["2020-10-16 오전 12:00:00", "2020-10-16 오후 3:05:00", "2020.10.16",
    ...                        "2020년 10월 16일", "2020년 10월 16일 14시 30분", "16/10/2020 x"])).tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [Timestamp('2020-10-16 00:00:00'), Timestamp('2020-10-16 15:05:00'), Timestamp('2020-10-16 00:00:00'),
     Timestamp('2020-10-16 00:00:00'), Timestamp('2020-10-16 14:30:00'), NaT]
    """
    text = s.astype("string").str.strip()
    text = text.str.replace(_KO_DATE, r"\1-\2-\3", regex=True)
    text = text.str.replace(_DOT_DATE, r"\1-\2-\3", regex=True)
    text = text.str.replace(_KO_TIME, lambda m: f"{m[1]}:{m[2] or '00'}:{m[3] or '00'}", regex=True)
    text = text.str.replace(_AM_PM, lambda m: f"{m[2]} {'AM' if m[1] == '오전' else 'PM'}", regex=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(text.astype(object), errors="coerce", format="mixed")


def _as_time(s: pd.Series) -> pd.Series:
    """Numbers stay numbers (e.g. a cycle counter); anything else is parsed as date/time."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return s
    return as_datetime(s)


def _detect(y: pd.Series, notes: list[Finding]) -> Task:
    task: Task = "regression" if is_regression_target(y) else "classification"
    notes.append(_note(f"task_{task}"))
    return task


def _encode_target(y: pd.Series, task: Task, name: str) -> tuple[NDArray[Any], list[str]]:
    if len(y) == 0:
        raise TestbedError(N_("The target {column} is empty."), column=name)
    if task == "regression":
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            raise TestbedError(N_("The target {column} is not numeric; choose classification."), column=name)
        return values.to_numpy(dtype=float), []
    labels = _label_text(y)
    counts = labels.value_counts()
    if len(counts) < 2:
        raise TestbedError(N_("The target {column} has only one class ({value}); there is nothing to learn."),
                           column=name, value=str(counts.index[0]))  # fmt: skip
    if task == "anomaly":
        if len(counts) != 2:
            raise TestbedError(N_("An anomaly target needs exactly two values (normal and anomaly)."))
        # numbers and booleans: the larger value is the anomaly (1, True); text: the rarer value
        numeric = pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)
        positive = _label_text(pd.Series([y.max()])).iloc[0] if numeric else str(counts.index[-1])
        normal = next(c for c in counts.index if c != positive)
        return (labels == positive).to_numpy(dtype=np.int64), [str(normal), positive]
    if len(counts) > MAX_CLASSES:
        raise TestbedError(N_("The target {column} has {count} classes; at most {limit} can be classified."),
                           column=name, count=len(counts), limit=MAX_CLASSES)  # fmt: skip
    classes = sorted(counts.index)
    return pd.Categorical(labels, categories=classes).codes.astype(np.int64), classes


def _label_text(y: pd.Series) -> pd.Series:
    """Class labels as text; whole-number floats lose their ``.0`` (a CSV's ``1.0`` is class ``1``).

    >>> _label_text(pd.Series([0.0, 1.0, 2.5])).tolist(), _label_text(pd.Series(["OK", "NG"])).tolist()
    (['0', '1', '2.5'], ['OK', 'NG'])
    """
    if pd.api.types.is_float_dtype(y):
        return y.map(lambda v: str(int(v)) if float(v).is_integer() else str(v))
    return y.astype(str)


def _features(frame: pd.DataFrame, left_out: Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Numeric features; text becomes numbers, one-hot levels or is left out (with the reason).
    ``left_out``: column → reason key, decided by the data checks (identifiers, counters, leaks)."""
    ids = set(id_like_columns(frame))
    kept: dict[str, pd.Series] = {}
    dropped: dict[str, str] = {}
    encoded: list[str] = []
    for col in frame.columns:
        reason = left_out.get(str(col)) or _feature(frame[col], col in ids, kept, encoded)
        if reason:
            dropped[str(col)] = DROP_REASONS[reason]
    x = pd.DataFrame(kept, index=frame.index) if kept else pd.DataFrame(index=frame.index)
    if x.shape[1] == 0:
        raise TestbedError(N_("No usable feature columns are left."))
    return x.astype(float), dropped, encoded


def _feature(s: pd.Series, is_id: bool, kept: dict[str, pd.Series], encoded: list[str]) -> str | None:
    """Add ``s`` (or its one-hot levels) to ``kept``; return a drop reason key otherwise."""
    name = str(s.name)
    if s.isna().all():
        return "empty"
    if s.nunique(dropna=True) <= 1:
        return "constant"
    if is_id:
        return "datetime" if _is_time_column(s) else "id"  # a different date in every row is still a date
    if pd.api.types.is_datetime64_any_dtype(s) or _day_numbers(s):
        return "datetime"
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        kept[name] = s.astype(float)
        return None
    numbers = pd.to_numeric(s, errors="coerce")
    if numbers.notna().sum() >= 0.95 * s.notna().sum():
        kept[name] = numbers
        return None
    if _looks_like_time(s):
        return "datetime"
    if s.nunique() > MAX_LEVELS:
        return "text"
    for level in s.value_counts().index:
        kept[f"{name}={level}"] = (s == level).astype(float)
    encoded.append(name)
    return None


def _day_numbers(s: pd.Series) -> bool:
    """Whole numbers that are all dates written as YYYYMMDD (``20201016``), as plan dates often are.

    >>> _day_numbers(pd.Series([20201016, 20201017, 20201101])), _day_numbers(pd.Series([20201016, 5]))
    (True, False)
    """
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return False
    values = s.dropna()
    if values.empty or not np.all(values == np.round(values)) or values.min() < 19000101 or values.max() > 21001231:
        return False
    parsed = pd.to_datetime(values.astype(np.int64).astype(str), format="%Y%m%d", errors="coerce")
    return bool(parsed.notna().all())


def _is_time_column(s: pd.Series) -> bool:
    """Dates or times, stored as such or as text in a readable form."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if not (pd.api.types.is_string_dtype(s) or s.dtype == object) or _numbers_as_text(s):
        return False  # numbers written as text ("3.19") are numbers
    return _looks_like_time(s)


def _numbers_as_text(s: pd.Series) -> bool:
    return bool(pd.to_numeric(s.dropna().head(200), errors="coerce").notna().mean() >= 0.95)


def _looks_like_time(s: pd.Series) -> bool:
    sample = s.dropna().astype(str).head(200)
    parsed = as_datetime(sample)
    return bool(len(sample) and parsed.notna().mean() >= 0.9 and sample.str.contains(r"[-/:.년]").mean() >= 0.9)


def label_findings(prep: Prepared, source_rows: NDArray[np.intp] | None = None) -> list[Finding]:
    """What the labels say about the table: identical feature rows with different labels, and bursts of
    the rarer class (runs of consecutive failures in time order). ``source_rows``: each row's number in
    the file, to name examples."""
    if prep.task == "regression":
        return []
    rows = source_rows if source_rows is not None else np.arange(len(prep.y)) + 1
    found = []
    keys = pd.util.hash_pandas_object(prep.x.round(9), index=False).to_numpy()
    table = pd.DataFrame({"key": keys, "y": prep.y})
    labels_per_key = table.groupby("key")["y"].transform("nunique").to_numpy()
    clash = labels_per_key > 1
    if clash.any():
        examples = ", ".join(str(int(r)) for r in np.sort(rows[clash])[:6])
        found.append(Finding("conflicting_labels", None, {"rows": int(clash.sum()),
                     "sets": int(pd.unique(keys[clash]).size), "examples": examples}, LABEL_MESSAGES))  # fmt: skip
    if prep.positive is not None and prep.task == "classification":  # anomalies come in runs by nature
        runs = _runs(prep.y == prep.positive)
        expected = chance_longest_run(len(prep.y), float(np.mean(prep.y == prep.positive)))
        if runs.size and runs[:, 1].max() >= max(BURST_MIN, math.ceil(expected) + 2):
            start, longest = runs[np.argmax(runs[:, 1])]
            where = _moment(prep.order[start]) if prep.order is not None else f"#{int(rows[start])}"
            params = {"label": prep.classes[prep.positive], "runs": int((runs[:, 1] >= 2).sum()),
                      "longest": int(longest), "start": where, "expected": f"{expected:.0f}"}
            found.append(Finding("burst", None, params, LABEL_MESSAGES))
    return found


BURST_MIN = 3  # a run of at least this many consecutive failures, and 2 more than chance gives, is reported


def chance_longest_run(n: int, p: float) -> float:
    """The longest run of positives that independent rows with positive share ``p`` give by chance over
    ``n`` rows (about log(n(1 − p)) / log(1/p)).

    >>> round(chance_longest_run(400, 0.2), 1), round(chance_longest_run(300, 0.1), 1)
    (3.6, 2.4)
    """
    if not 0 < p < 1 or n < 2:
        return 0.0
    return max(1.0, math.log(n * (1 - p)) / math.log(1 / p))


def _moment(value: Any) -> str:
    """A time value as a person reads it (minutes; a number stays a number)."""
    if isinstance(value, np.datetime64 | pd.Timestamp):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _runs(flags: NDArray[np.bool_]) -> NDArray[np.intp]:
    """(start, length) of each run of True.

    >>> _runs(np.array([0, 1, 1, 0, 1, 1, 1], dtype=bool)).tolist()
    [[1, 2], [4, 3]]
    """
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    return np.stack([starts, ends - starts], axis=1) if starts.size else np.zeros((0, 2), dtype=np.intp)


# --- time-ordered folds ---------------------------------------------------------------------------


def expanding_folds(
    n: int, folds: int = 4, order: NDArray[Any] | None = None
) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Expanding-window folds over rows already in time order: fold k trains on blocks 0..k, tests on k+1.

    With ``order`` (the sorted time value of each row) a cut never falls between equal times, so no
    training row is as late as a test row.

    >>> [(tr.tolist(), te.tolist()) for tr, te in expanding_folds(6, folds=2)]
    [([0, 1], [2, 3]), ([0, 1, 2, 3], [4, 5])]
    >>> [(tr.tolist(), te.tolist()) for tr, te in expanding_folds(6, 2, np.array([1, 1, 1, 2, 3, 3]))]
    [([0, 1, 2], [3]), ([0, 1, 2, 3], [4, 5])]
    """
    if folds < 1 or n < folds + 1:
        raise TestbedError(N_("Too few rows ({rows}) for {folds} time-ordered folds."), rows=n, folds=folds)
    cuts = [round(n * k / (folds + 1)) for k in range(1, folds + 2)]
    if order is not None:
        cuts = [int(np.searchsorted(order, order[c - 1], side="right")) if c < n else n for c in cuts]
    out = []
    for k in range(folds):
        train, test = np.arange(cuts[k]), np.arange(cuts[k], cuts[k + 1])
        if len(train) and len(test):
            out.append((train, test))
    if not out:
        raise TestbedError(N_("Too few rows ({rows}) for {folds} time-ordered folds."), rows=n, folds=folds)
    return out


def group_folds(groups: NDArray[Any], folds: int = 4) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Expanding folds over *groups* in the order they first appear (rows in time order): fold k trains on
    the rows of the earliest groups and tests on the rows of the groups that follow, so no batch, lot or
    experiment is ever on both sides of a cut.

    >>> g = np.array(["a", "a", "b", "c", "b", "d", "d", "e"])
    >>> [(tr.tolist(), te.tolist()) for tr, te in group_folds(g, folds=2)]
    [([0, 1, 2, 4], [3, 5, 6]), ([0, 1, 2, 3, 4, 5, 6], [7])]
    """
    ranks = pd.factorize(pd.Series(groups))[0]
    count = int(ranks.max()) + 1 if ranks.size else 0
    if folds < 1 or count < folds + 1:
        raise TestbedError(N_("Too few groups ({groups}) for {folds} folds that keep each group together."),
                           groups=count, folds=folds)  # fmt: skip
    rows_before = np.cumsum(np.bincount(ranks))  # rows in groups 0..g
    n = len(ranks)
    cuts = [min(count - 1, max(1, int(np.searchsorted(rows_before, n * k / (folds + 1))) + 1))
            for k in range(1, folds + 1)]  # fmt: skip
    bounds = [*sorted(set(cuts)), count]
    out = []
    for a, b in itertools.pairwise(bounds):
        out.append((np.flatnonzero(ranks < a), np.flatnonzero((ranks >= a) & (ranks < b))))
    return out


def scorable_folds(prep: Prepared, folds: int = 4) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """:func:`expanding_folds` (or :func:`group_folds` with a group column) over a prepared table, refused
    when no fold can be scored: at least one test block must hold both classes (for anomalies a labelled
    anomaly; F1, ROC-AUC and balanced accuracy are undefined without one)."""
    if prep.groups is not None:
        splits = group_folds(prep.groups, folds)
    else:
        splits = expanding_folds(len(prep.y), folds, prep.order)
    if prep.task == "anomaly" and not any(np.any(prep.y[test]) for _, test in splits):
        raise TestbedError(N_("No test fold contains a labelled anomaly, so no detector can be scored; "
                              "give a longer history that includes some events."))  # fmt: skip
    if prep.task == "classification" and not any(np.unique(prep.y[test]).size > 1 for _, test in splits):
        raise TestbedError(N_("No test fold holds more than one class, so no model can be scored; give a longer "
                              "history that includes some of each."))  # fmt: skip
    return splits


# --- candidates --------------------------------------------------------------------------------------


class Fitted(Protocol):
    def predict(self, x: pd.DataFrame) -> NDArray[Any]: ...


@dataclass(frozen=True)
class Candidate:
    """A named model or baseline: ``fit(x, y, groups=None)`` returns something with ``predict(x)`` (and,
    for classification, ``predict_proba(x)``: one column per class)."""

    name: str
    baseline: bool
    fit: Callable[..., Fitted]


class _Matrix:
    """A scikit-learn-style model fitted and used on a DataFrame's values (warnings kept quiet)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, x: pd.DataFrame, y: NDArray[Any], groups: NDArray[Any] | None = None) -> _Matrix:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(x.to_numpy(dtype=float), y)
        return self

    def predict(self, x: pd.DataFrame) -> NDArray[Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.model.predict(x.to_numpy(dtype=float)))

    def predict_proba(self, x: pd.DataFrame) -> FloatArray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.model.predict_proba(x.to_numpy(dtype=float)), dtype=float)


INNER_FOLDS = 3  # the inner split of each training part that calibrates and picks the threshold
_EPS = 1e-6


def _logit(p: FloatArray) -> FloatArray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(p / (1 - p)), dtype=float)


class Calibrated:
    """A two-class model whose probability of the ``positive`` class is Platt-calibrated and whose decision
    threshold has the lowest balanced error, both on out-of-fold scores of the *training rows only*
    (:data:`INNER_FOLDS` stratified folds, grouped when groups are given); then refitted on all of them.

    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({"a": rng.normal(size=300)})
    >>> y = (x.a + rng.normal(0, 0.5, 300) > 1.2).astype(np.int64).to_numpy()
    >>> m = Calibrated(lambda: sk_linear.LogisticRegression(), positive=1).fit(x, y)
    >>> bool(0.0 < m.cut < 1.0), bool(m.predict_proba(pd.DataFrame({"a": [3.0]}))[0, 1] > 0.8)
    (True, True)
    """

    def __init__(self, factory: Callable[[], Any], positive: int) -> None:
        self.factory, self.positive = factory, positive
        self.a, self.b, self.cut, self.calibrated = 1.0, 0.0, 0.5, False
        self.model = _Matrix(None)

    def fit(self, x: pd.DataFrame, y: NDArray[Any], groups: NDArray[Any] | None = None) -> Calibrated:
        target = (y == self.positive).astype(np.int64)
        oof = self._out_of_fold(x, y, target, groups)
        if oof is not None:
            self.a, self.b = platt_scaling(oof, target)
            self.cut = ber_threshold(sigmoid(self.a * oof + self.b), target)
            self.calibrated = True
        self.model = _Matrix(self.factory()).fit(x, y)
        return self

    def _score(self, model: _Matrix, x: pd.DataFrame) -> FloatArray:
        proba = model.predict_proba(x)
        return _logit(proba[:, self.positive]) if proba.shape[1] > 1 else np.zeros(len(x))

    def _out_of_fold(
        self, x: pd.DataFrame, y: NDArray[Any], target: NDArray[np.int64], groups: NDArray[Any] | None
    ) -> FloatArray | None:
        if min(target.sum(), (1 - target).sum()) < INNER_FOLDS:
            return None  # too few of a class to calibrate: raw probabilities, threshold 0.5
        grouped = groups is not None and pd.unique(groups).size >= INNER_FOLDS
        splitter = (sk_selection.StratifiedGroupKFold(INNER_FOLDS) if grouped
                    else sk_selection.StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=0))  # fmt: skip
        oof = np.zeros(len(y))
        for tr, va in splitter.split(x, target, groups if grouped else None):
            if np.unique(target[tr]).size < 2 or np.unique(target[va]).size < 2:
                return None
            oof[va] = self._score(_Matrix(self.factory()).fit(x.iloc[tr], y[tr]), x.iloc[va])
        return oof

    def positive_proba(self, x: pd.DataFrame) -> FloatArray:
        return sigmoid(self.a * self._score(self.model, x) + self.b)

    def predict_proba(self, x: pd.DataFrame) -> FloatArray:
        p = self.positive_proba(x)
        return np.stack([1 - p, p] if self.positive == 1 else [p, 1 - p], axis=1)

    def predict(self, x: pd.DataFrame) -> NDArray[Any]:
        return np.where(self.positive_proba(x) >= self.cut, self.positive, 1 - self.positive)


def _wrapped(factory: Callable[[], Any], positive: int | None = None) -> Callable[..., Fitted]:
    if positive is not None:
        return lambda x, y, groups=None: Calibrated(factory, positive).fit(x, y, groups)
    return lambda x, y, groups=None: _Matrix(factory()).fit(x, y)


def _linear(model: Any) -> Callable[[], Any]:
    def pipeline() -> Any:
        imputer = sk_impute.SimpleImputer(strategy="median", keep_empty_features=True)
        return sk_pipeline.make_pipeline(imputer, sk_preprocessing.StandardScaler(), model)

    return pipeline


def _forest(cls: Any, n: int, threads: int, **kw: Any) -> Callable[[], Any]:
    share = min(1.0, RF_MAX_ROWS / max(n, 1))
    return lambda: sk_pipeline.make_pipeline(
        sk_impute.SimpleImputer(strategy="median", keep_empty_features=True),
        cls(n_estimators=100, min_samples_leaf=2, max_samples=share, n_jobs=threads, random_state=0, **kw),
    )


def classification_candidates(n: int, threads: int = 1, positive: int | None = None) -> list[Candidate]:
    """LightGBM, logistic regression, random forest (all class-balanced) and the majority-class baseline
    (which predicts the training share of each class as its probability). With ``positive`` (a two-class
    target) the models are :class:`Calibrated`."""
    boost = lambda: lgb.LGBMClassifier(  # noqa: E731
        n_estimators=200, learning_rate=0.05, num_leaves=15, class_weight="balanced", n_jobs=threads, verbose=-1,
        random_state=0)  # fmt: skip
    return [
        Candidate("LightGBM", False, _wrapped(boost, positive)),
        Candidate("linear (logistic)", False, _wrapped(_linear(sk_linear.LogisticRegression(class_weight="balanced",
                                                                                  max_iter=2000)), positive)),
        Candidate("random forest", False, _wrapped(_forest(sk_ensemble.RandomForestClassifier, n, threads,
                                                           class_weight="balanced_subsample"), positive)),
        Candidate("majority class", True, _wrapped(lambda: sk_dummy.DummyClassifier(strategy="prior"))),
    ]  # fmt: skip


def regression_candidates(n: int, threads: int = 1) -> list[Candidate]:
    """LightGBM, ridge, random forest, and the mean and last-value baselines."""
    boost = lambda: lgb.LGBMRegressor(  # noqa: E731
        n_estimators=200, learning_rate=0.05, num_leaves=31, n_jobs=threads, verbose=-1, random_state=0
    )
    return [
        Candidate("LightGBM", False, _wrapped(boost)),
        Candidate("linear (ridge)", False, _wrapped(_linear(sk_linear.Ridge(alpha=1.0)))),
        Candidate("random forest", False, _wrapped(_forest(sk_ensemble.RandomForestRegressor, n, threads))),
        Candidate("mean (training)", True, lambda x, y, groups=None: _Constant(float(np.mean(y)))),
        Candidate("last value", True, lambda x, y, groups=None: _Constant(float(y[-1]))),
    ]  # fmt: skip


class _Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, x: pd.DataFrame) -> NDArray[Any]:
        return np.full(len(x), self.value)


class _Detector:
    """An anomaly detector fitted on the training rows labelled normal; predicts 0/1 flags."""

    def __init__(self, detector: anomaly.AnyDetector):
        self.detector = detector

    def predict(self, x: pd.DataFrame) -> NDArray[Any]:
        return self.detector.detect(x).astype(np.int64)


def _normal_fit(factory: Callable[[], anomaly.AnyDetector]) -> Callable[..., Fitted]:
    def fit(x: pd.DataFrame, y: NDArray[Any], groups: NDArray[Any] | None = None) -> Fitted:
        normal = x[y == 0] if (y == 0).sum() >= 10 else x  # calibrate on anomaly-free rows when there are some
        return _Detector(factory().fit(normal))

    return fit


def anomaly_candidates() -> list[Candidate]:
    """EWMA, PCA T²+SPE, isolation forest and trend (fitted on normal training rows), never / always alarm."""
    return [
        Candidate("EWMA robust z", False, _normal_fit(anomaly.EwmaDetector)),
        Candidate("PCA T²+SPE", False, _normal_fit(anomaly.PcaDetector)),
        Candidate("isolation forest", False, _normal_fit(anomaly.IsolationForestDetector)),
        Candidate("trend (slope)", False, _normal_fit(anomaly.TrendDetector)),
        Candidate("never alarm", True, lambda x, y, groups=None: _Constant(0.0)),
        Candidate("always alarm", True, lambda x, y, groups=None: _Constant(1.0)),
    ]  # fmt: skip


# --- metrics ----------------------------------------------------------------------------------------

#: task → (primary metric, higher is better)
PRIMARY: dict[Task, tuple[str, bool]] = {
    "classification": ("balanced_accuracy", True), "regression": ("rmse", False), "anomaly": ("f1", True),
}  # fmt: skip
NAN = float("nan")


def fold_metrics(
    task: Task, y: NDArray[Any], pred: NDArray[Any], proba: FloatArray | None = None, positive: int | None = None
) -> dict[str, float]:
    """The task's metrics on one test block (scikit-learn's). For two classes with ``proba`` (probability of
    class ``positive`` per row) also ROC-AUC, PR-AUC (average precision; a model without skill scores the
    share of positives) and the Brier score.

    >>> fold_metrics("regression", np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    {'rmse': 1.0, 'mae': 1.0, 'r2': 0.0}
    >>> fold_metrics("anomaly", np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]))
    {'f1': 0.5, 'far': 50.0, 'mar': 50.0}
    >>> m = fold_metrics("classification", np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]),
    ...                  np.array([0.1, 0.6, 0.7, 0.9]), positive=1)
    >>> {k: round(v, 3) for k, v in m.items()}
    {'balanced_accuracy': 0.75, 'f1_macro': 0.733, 'roc_auc': 1.0, 'pr_auc': 1.0, 'brier': 0.118}

    A block without any anomaly (or without one of two classes) has no F1 or balanced accuracy: never
    alarming, or always passing, would score a perfect 1 there. Its false alarms still count:

    >>> fold_metrics("anomaly", np.array([0, 0, 0, 0]), np.array([0, 1, 0, 0]))
    {'f1': nan, 'far': 25.0, 'mar': nan}
    >>> fold_metrics("classification", np.array([0, 0, 0]), np.array([0, 0, 0]), np.array([0.1, 0.2, 0.1]), 1)
    {'balanced_accuracy': nan, 'f1_macro': nan, 'roc_auc': nan, 'pr_auc': nan, 'brier': nan}
    """
    if task == "regression":
        mae, r2 = sk_metrics.mean_absolute_error(y, pred), sk_metrics.r2_score(y, pred)
        return {"rmse": rmse(y, pred), "mae": float(mae), "r2": float(r2)}
    if task == "anomaly":
        m = skab_outlier_metrics([y], [pred])
        if not np.any(y):
            return {"f1": NAN, "far": m.far, "mar": NAN}
        return {"f1": m.f1, "far": m.far, "mar": m.mar}
    scored = proba is not None and positive is not None
    keys = ["balanced_accuracy", "f1_macro"] + (["roc_auc", "pr_auc", "brier"] if scored else [])
    if np.unique(y).size < 2:
        return dict.fromkeys(keys, NAN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"balanced_accuracy": float(sk_metrics.balanced_accuracy_score(y, pred)),
               "f1_macro": float(sk_metrics.f1_score(y, pred, average="macro"))}  # fmt: skip
    if scored:
        assert proba is not None
        hit = (y == positive).astype(np.int64)
        out |= {"roc_auc": float(sk_metrics.roc_auc_score(hit, proba)),
                "pr_auc": float(sk_metrics.average_precision_score(hit, proba)),
                "brier": float(sk_metrics.brier_score_loss(hit, np.clip(proba, 0.0, 1.0)))}  # fmt: skip
    return out


def reliability(y: NDArray[np.int64], proba: FloatArray, bins: int = 10) -> list[dict[str, float]]:
    """The reliability curve of probabilities ``proba`` against 0/1 outcomes ``y``: per bin of predicted
    probability (equal widths), the mean prediction, the observed share and the rows. Calibrated
    probabilities lie on the diagonal.

    >>> reliability(np.array([0, 0, 1, 1]), np.array([0.1, 0.15, 0.8, 0.9]), bins=2)
    [{'predicted': 0.125, 'observed': 0.0, 'rows': 2}, {'predicted': 0.85, 'observed': 1.0, 'rows': 2}]
    """
    which = np.minimum((np.clip(proba, 0, 1) * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append({"predicted": round(float(proba[mask].mean()), 4), "observed": round(float(y[mask].mean()), 4),
                        "rows": int(mask.sum())})  # fmt: skip
    return out


def fmt(value: float | None, digits: int = 4) -> str:
    """A readable number: ``—`` when missing or undefined, thousands separators when large.

    >>> fmt(None), fmt(float("nan")), fmt(0.123456), fmt(2.0), fmt(12345678.9)
    ('—', '—', '0.1235', '2', '12,345,679')
    """
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


R2_WORDS = {
    "worse": N_("predicts worse than simply using the average of the period (R² {r2})"),
    "none": N_("is hardly better than the average of the period (R² {r2})"),
    "some": N_("explains about {share}% of the ups and downs of the target (R² {r2})"),
}


def r2_reading(r2: float | None) -> tuple[str, dict[str, str]] | None:
    """What an R² says in words: a msgid and its values (None when undefined).

    >>> r2_reading(-0.4)
    ('predicts worse than simply using the average of the period (R² {r2})', {'r2': '-0.40', 'share': '0'})
    >>> r2_reading(0.83)[1]
    {'r2': '0.83', 'share': '83'}
    """
    if r2 is None or not math.isfinite(r2):
        return None
    kind = "worse" if r2 < 0 else "none" if r2 < 0.1 else "some"
    return R2_WORDS[kind], {"r2": f"{r2:.2f}", "share": f"{max(r2, 0) * 100:.0f}"}


# --- running ----------------------------------------------------------------------------------------


@dataclass
class CandidateResult:
    """One candidate across the folds; for two classes also its pooled test probabilities (reliability)."""

    name: str
    baseline: bool
    folds: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0
    score_rows: int = 0
    score_seconds: float = 0.0
    pooled_y: list[NDArray[np.int64]] = field(default_factory=list, repr=False)
    pooled_p: list[FloatArray] = field(default_factory=list, repr=False)

    def values(self, metric: str) -> FloatArray:
        """The metric per fold (NaN where undefined)."""
        return np.array([f.get(metric, NAN) for f in self.folds], dtype=float)

    def _defined(self, metric: str) -> FloatArray:
        values = self.values(metric)
        return values[np.isfinite(values)]

    def mean(self, metric: str) -> float:
        """Mean over the folds where ``metric`` is defined (NaN if none)."""
        values = self._defined(metric)
        return float(np.mean(values)) if values.size else NAN

    def spread(self, metric: str) -> float:
        """Standard deviation over the folds where ``metric`` is defined (NaN if none)."""
        values = self._defined(metric)
        if not values.size:
            return NAN
        return float(np.std(values)) if np.ptp(values) > 0 else 0.0  # equal folds: 0, not rounding noise

    def scored_folds(self, metric: str) -> int:
        return int(self._defined(metric).size)

    def reliability(self) -> list[dict[str, float]]:
        """The reliability curve of its test probabilities, pooled over the folds (empty without them)."""
        if not self.pooled_p:
            return []
        return reliability(np.concatenate(self.pooled_y), np.concatenate(self.pooled_p))

    @property
    def rows_per_second(self) -> float:
        return self.score_rows / self.score_seconds if self.score_seconds > 0 else NAN


@dataclass(frozen=True)
class Step:
    """What the test-bed is about to do: fit and score ``candidate`` on fold ``fold`` of ``folds``;
    ``done`` of ``total`` fits are finished."""

    fold: int
    folds: int
    candidate: str
    done: int
    total: int


@dataclass(frozen=True)
class FoldInfo:
    """One fold used: its training and test rows, and (two classes, anomalies) the positives in each."""

    number: int
    train_rows: int
    test_rows: int
    test_positives: int | None = None
    train_positives: int | None = None

    @property
    def scored(self) -> bool:
        """Whether the test part can tell anything apart (it holds positives and negatives)."""
        return self.test_positives is None or 0 < self.test_positives < self.test_rows


@dataclass(frozen=True)
class Margin:
    """The best model against the best simple baseline, fold by fold (positive: the model is better).

    ``shown`` is the rule for calling a winner: at least two folds scored and the margin's mean over the
    folds exceeds its standard deviation across them (mean > sd, i.e. a paired t-statistic above √n; with
    four folds about a one-sided 7 % chance that a model no better than the baseline passes). A margin
    smaller than its own spread may well vanish on the next month of data.

    >>> Margin("m", "b", 0.05, 0.02, 4).shown, Margin("m", "b", 0.05, 0.08, 4).shown, Margin("m", "b", 0.1, 0, 1).shown
    (True, False, False)
    """

    model: str
    baseline: str
    mean: float
    sd: float
    folds: int

    @property
    def shown(self) -> bool:
        return bool(self.folds >= 2 and math.isfinite(self.mean) and self.mean > 0 and self.mean > self.sd)


@dataclass
class TestbedReport:
    """Everything the test-bed found: task, data summary, results per candidate and the winner."""

    __test__ = False  # not a pytest test class, despite the name

    prepared: Prepared
    results: list[CandidateResult]
    fold_info: list[FoldInfo]

    @property
    def folds(self) -> list[tuple[int, int]]:
        """(training rows, test rows) per fold used."""
        return [(f.train_rows, f.test_rows) for f in self.fold_info]

    @property
    def task(self) -> Task:
        return self.prepared.task

    @property
    def metric(self) -> str:
        return PRIMARY[self.task][0]

    def ranked(self) -> list[CandidateResult]:
        """Best first by the mean primary metric over the folds where it is defined (undefined last)."""
        name, higher = PRIMARY[self.task]

        def key(r: CandidateResult) -> tuple[bool, float]:
            value = r.mean(name)
            return (not np.isfinite(value), -value if higher else value)

        return sorted(self.results, key=key)

    def best_model(self) -> CandidateResult:
        """The best candidate that is not a baseline."""
        return next(r for r in self.ranked() if not r.baseline)

    def best_baseline(self) -> CandidateResult:
        """The best simple baseline (the bar every model must clear)."""
        return next(r for r in self.ranked() if r.baseline)

    def margin(self) -> Margin:
        """The best model's margin over the best baseline on the folds where both are scored."""
        name, higher = PRIMARY[self.task]
        model, base = self.best_model(), self.best_baseline()
        diff = (model.values(name) - base.values(name)) * (1 if higher else -1)
        diff = diff[np.isfinite(diff)]
        sd = float(np.std(diff, ddof=1)) if diff.size > 1 and np.ptp(diff) > 0 else 0.0
        return Margin(model.name, base.name, float(np.mean(diff)) if diff.size else NAN, sd, int(diff.size))

    def beats_baselines(self) -> bool:
        """Whether the best model is shown better than the best baseline (:attr:`Margin.shown`)."""
        return self.margin().shown

    @property
    def winner(self) -> str | None:
        """The best model when it is shown better than every baseline; else None (no model is)."""
        return self.best_model().name if self.beats_baselines() else None


def run_testbed(
    frame: pd.DataFrame,
    target: str,
    time: str | None = None,
    task: Task | None = None,
    folds: int = 4,
    threads: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    drop: Sequence[str] = (),
    on_step: Callable[[Step], None] | None = None,
    group: str | None = None,
) -> TestbedReport:
    """Prepare ``frame``, then fit and score every candidate on every expanding-window fold.

    ``progress(done, total, name)`` is called after each fit; ``on_step`` before each one (which candidate
    on which fold), so a page can say what is running now. ``group``: see :func:`prepare`.
    """
    prep = prepare(frame, target, time, task, drop, group)
    splits = scorable_folds(prep, folds)
    candidates = _candidates(prep, threads)
    if prep.binary:
        prep.notes.append(_note("calibration", folds=INNER_FOLDS))
    results = [CandidateResult(c.name, c.baseline) for c in candidates]
    used: list[FoldInfo] = []
    total, done = len(splits) * len(candidates), 0
    for k, (train, test) in enumerate(splits, start=1):
        if prep.task == "classification" and np.unique(prep.y[train]).size < 2:
            prep.notes.append(_note("skipped_fold", fold=k))
            done += len(candidates)
            continue
        info = _fold_info(prep, k, train, test)
        if prep.task == "anomaly" and not info.scored:
            prep.notes.append(_note("no_event_fold", fold=k))
        elif prep.task == "classification" and np.unique(prep.y[test]).size < 2:
            label = prep.classes[prep.positive] if prep.positive is not None else "/".join(prep.classes)
            missing = [c for i, c in enumerate(prep.classes) if i not in set(prep.y[test].tolist())]
            prep.notes.append(_note("one_class_fold", fold=k, label=label if prep.binary else missing[0]))
        used.append(info)
        for cand, res in zip(candidates, results, strict=True):
            if on_step:
                on_step(Step(k, len(splits), cand.name, done, total))
            _run_fold(prep, cand, res, train, test)
            done += 1
            if progress:
                progress(done, total, cand.name)
    if not used:
        raise TestbedError(N_("Every fold's training part has only one class; give more data."))
    return TestbedReport(prep, results, used)


def _fold_info(prep: Prepared, k: int, train: NDArray[np.intp], test: NDArray[np.intp]) -> FoldInfo:
    if prep.positive is None:
        return FoldInfo(k, len(train), len(test))
    hits = prep.y == prep.positive
    return FoldInfo(k, len(train), len(test), int(hits[test].sum()), int(hits[train].sum()))


def _candidates(prep: Prepared, threads: int) -> list[Candidate]:
    n = len(prep.y)
    if prep.task == "classification":
        return classification_candidates(n, threads, prep.positive if prep.binary else None)
    if prep.task == "regression":
        return regression_candidates(n, threads)
    return anomaly_candidates()


def _run_fold(
    prep: Prepared, cand: Candidate, res: CandidateResult, train: NDArray[np.intp], test: NDArray[np.intp]
) -> None:
    x_tr, x_te, y_tr = prep.x.iloc[train], prep.x.iloc[test], prep.y[train]
    groups = prep.groups[train] if prep.groups is not None else None
    with stopwatch() as t_fit:
        model = cand.fit(x_tr, y_tr, groups=groups)
    proba = None
    with stopwatch() as t_score:
        pred = model.predict(x_te)
        if prep.task == "classification" and hasattr(model, "predict_proba"):
            proba = model.predict_proba(x_te)
    if cand.name == "last value":  # persistence: each test row gets the previous row's actual target
        pred = np.concatenate([[y_tr[-1]], prep.y[test][:-1]])
    y_te = prep.y[test]
    if prep.binary and proba is not None and prep.positive is not None:
        p = _class_proba(proba, y_tr, prep.positive)
        res.folds.append(fold_metrics(prep.task, y_te, pred, p, prep.positive))
        res.pooled_y.append((y_te == prep.positive).astype(np.int64))
        res.pooled_p.append(p)
    else:
        metrics = fold_metrics(prep.task, y_te, pred)
        if prep.task == "classification" and proba is not None:
            metrics["roc_auc"] = _multiclass_auc(y_te, proba, y_tr, len(prep.classes))
        res.folds.append(metrics)
    res.fit_seconds += t_fit[0]
    res.score_rows += len(test)
    res.score_seconds += t_score[0]


def _class_proba(proba: FloatArray, y_train: NDArray[Any], positive: int) -> FloatArray:
    """The probability of class ``positive`` from a model's ``predict_proba`` (a model that saw one class
    in training has one column)."""
    if proba.shape[1] == 2:
        return np.asarray(proba[:, positive], dtype=float)
    return np.full(len(proba), float(np.all(y_train == positive)))


def _multiclass_auc(y: NDArray[Any], proba: FloatArray, y_train: NDArray[Any], classes: int) -> float:
    """One-vs-rest macro ROC-AUC when the test block holds every class and the model saw every class."""
    if np.unique(y).size < classes or proba.shape[1] != classes:
        return NAN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sk_metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
