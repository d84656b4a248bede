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
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, f1_score, mean_absolute_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from smart365.analytics import anomaly
from smart365.analytics.contract import stopwatch
from smart365.analytics.metrics import rmse, skab_outlier_metrics
from smart365.analytics.quality import Finding, data_quality, id_like_columns, is_regression_target
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_
from smart365.core.uploads import FileTooLarge, ReadLimits, check_parquet, check_workbook

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
    """The table made ready: numeric ``x``, encoded ``y``, rows in time order, and what was done why."""

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


NOTE_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "no_time": N_("No time column given: rows are taken in file order (oldest first)."),
        "bad_time": N_("{count} rows have no readable time in {column}; they are left out."),
        "task_classification": N_("Task detected from the target: classification."),
        "task_regression": N_("Task detected from the target: regression."),
        "skipped_fold": N_("Fold {fold} skipped: its training part has only one class."),
        "no_event_fold": N_(
            "Fold {fold} has no labelled anomaly in its test part: its F1 and missed-alarm rate are left out, "
            "its false alarms still count."
        ),
    }
)
TASK_NAMES: dict[Task, str] = {
    "classification": N_("classification"), "regression": N_("regression"), "anomaly": N_("anomaly detection"),
}  # fmt: skip
DROP_REASONS = {
    "constant": N_("constant"),
    "id": N_("identifier (a different value in every row)"),
    "text": N_("free text with too many distinct values"),
    "datetime": N_("date or time (not used as a feature)"),
    "empty": N_("entirely missing"),
}


def _note(kind: str, **params: Any) -> Finding:
    return Finding(kind, params.get("column"), params, NOTE_MESSAGES)


def prepare(
    frame: pd.DataFrame, target: str, time: str | None = None, task: Task | None = None, drop: Sequence[str] = ()
) -> Prepared:
    """Check the columns, order the rows in time, detect the task, encode the target and the features.
    ``drop``: columns the user leaves out (e.g. other label columns).

    >>> f = pd.DataFrame({"t": ["2026-01-02", "2026-01-01"], "shift": ["day", "night"], "ok": ["y", "n"]})
    >>> p = prepare(f, "ok", time="t")
    >>> p.task, p.classes, p.y.tolist(), list(p.x.columns)
    ('classification', ['n', 'y'], [0, 1], ['shift=night', 'shift=day'])
    """
    for column in (target, time, *drop):
        if column is not None and column not in frame.columns:
            raise TestbedError(N_("Column {column} is not in the data. Columns: {columns}"), column=column,
                               columns=", ".join(map(str, frame.columns[:30])))  # fmt: skip
    if time is not None and time == target:
        raise TestbedError(N_("The time column cannot also be the target."))
    frame = frame.drop(columns=[c for c in drop if c not in (target, time)])
    findings = data_quality(frame, target, times=[time] if time else ())
    unlabelled = int(frame[target].isna().sum())
    if unlabelled:
        findings.append(Finding("target_missing", target, {"count": unlabelled}))
    frame, notes, order = _order_rows(frame[frame[target].notna()], time)
    task = task or _detect(frame[target], notes)
    if task == "anomaly":  # a signal that shows the fault is what a detector needs, not a leak
        findings = [replace(f, kind="separates") if f.kind == "leak" else f for f in findings]
    y, classes = _encode_target(frame[target], task, target)
    x, dropped, encoded = _features(frame.drop(columns=[c for c in (target, time) if c]))
    return Prepared(x, y, task, target, time, order, classes, dropped, encoded, notes, findings)


def _order_rows(frame: pd.DataFrame, time: str | None) -> tuple[pd.DataFrame, list[Finding], NDArray[Any] | None]:
    if time is None:
        return frame.reset_index(drop=True), [_note("no_time")], None
    values = _as_time(frame[time])
    bad = int(values.isna().sum())
    notes = [_note("bad_time", count=bad, column=time)] if bad else []
    keep = values.notna().to_numpy()
    frame, values = frame[keep], values[keep]
    order = np.argsort(values.to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True), notes, values.to_numpy()[order]


def _as_time(s: pd.Series) -> pd.Series:
    """Numbers stay numbers (e.g. a cycle counter); anything else is parsed as date/time."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, errors="coerce", format="mixed")


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


def _features(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Numeric features; text becomes numbers, one-hot levels or is left out (with the reason)."""
    ids = set(id_like_columns(frame))
    kept: dict[str, pd.Series] = {}
    dropped: dict[str, str] = {}
    encoded: list[str] = []
    for col in frame.columns:
        reason = _feature(frame[col], col in ids, kept, encoded)
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
        return "id"
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        kept[name] = s.astype(float)
        return None
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
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


def _looks_like_time(s: pd.Series) -> bool:
    sample = s.dropna().astype(str).head(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(len(sample) and parsed.notna().mean() >= 0.9 and sample.str.contains(r"[-/:]").mean() >= 0.9)


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


def scorable_folds(prep: Prepared, folds: int = 4) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """:func:`expanding_folds` over a prepared table, refused when no fold can be scored: for anomalies
    at least one test block must hold a labelled anomaly (F1 is undefined without one)."""
    splits = expanding_folds(len(prep.y), folds, prep.order)
    if prep.task == "anomaly" and not any(np.any(prep.y[test]) for _, test in splits):
        raise TestbedError(N_("No test fold contains a labelled anomaly, so no detector can be scored; "
                              "give a longer history that includes some events."))  # fmt: skip
    return splits


# --- candidates --------------------------------------------------------------------------------------


class Fitted(Protocol):
    def predict(self, x: pd.DataFrame) -> NDArray[Any]: ...


@dataclass(frozen=True)
class Candidate:
    """A named model or baseline: ``fit(x, y)`` returns something with ``predict(x)``."""

    name: str
    baseline: bool
    fit: Callable[[pd.DataFrame, NDArray[Any]], Fitted]


class _Matrix:
    """A scikit-learn-style model fitted and used on a DataFrame's values (warnings kept quiet)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, x: pd.DataFrame, y: NDArray[Any]) -> _Matrix:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(x.to_numpy(dtype=float), y)
        return self

    def predict(self, x: pd.DataFrame) -> NDArray[Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.model.predict(x.to_numpy(dtype=float)))


def _wrapped(factory: Callable[[], Any]) -> Callable[[pd.DataFrame, NDArray[Any]], Fitted]:
    return lambda x, y: _Matrix(factory()).fit(x, y)


def _linear(model: Any) -> Callable[[], Any]:
    return lambda: make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), model)


def _forest(cls: Any, n: int, threads: int, **kw: Any) -> Callable[[], Any]:
    share = min(1.0, RF_MAX_ROWS / max(n, 1))
    return lambda: make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        cls(n_estimators=100, min_samples_leaf=2, max_samples=share, n_jobs=threads, random_state=0, **kw),
    )


def classification_candidates(n: int, threads: int = 1) -> list[Candidate]:
    """LightGBM, logistic regression, random forest (all class-balanced) and the majority-class baseline."""
    boost = lambda: lgb.LGBMClassifier(  # noqa: E731
        n_estimators=200, learning_rate=0.05, num_leaves=15, class_weight="balanced", n_jobs=threads, verbose=-1,
        random_state=0)  # fmt: skip
    return [
        Candidate("LightGBM", False, _wrapped(boost)),
        Candidate("linear (logistic)", False, _wrapped(_linear(LogisticRegression(class_weight="balanced",
                                                                                  max_iter=2000)))),
        Candidate("random forest", False, _wrapped(_forest(RandomForestClassifier, n, threads,
                                                           class_weight="balanced_subsample"))),
        Candidate("majority class", True, _wrapped(lambda: DummyClassifier(strategy="most_frequent"))),
    ]  # fmt: skip


def regression_candidates(n: int, threads: int = 1) -> list[Candidate]:
    """LightGBM, ridge, random forest, and the mean and last-value baselines."""
    boost = lambda: lgb.LGBMRegressor(  # noqa: E731
        n_estimators=200, learning_rate=0.05, num_leaves=31, n_jobs=threads, verbose=-1, random_state=0
    )
    return [
        Candidate("LightGBM", False, _wrapped(boost)),
        Candidate("linear (ridge)", False, _wrapped(_linear(Ridge(alpha=1.0)))),
        Candidate("random forest", False, _wrapped(_forest(RandomForestRegressor, n, threads))),
        Candidate("mean (training)", True, lambda x, y: _Constant(float(np.mean(y)))),
        Candidate("last value", True, lambda x, y: _Constant(float(y[-1]))),
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


def _normal_fit(
    factory: Callable[[], anomaly.AnyDetector],
) -> Callable[[pd.DataFrame, NDArray[Any]], Fitted]:
    def fit(x: pd.DataFrame, y: NDArray[Any]) -> Fitted:
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
        Candidate("never alarm", True, lambda x, y: _Constant(0.0)),
        Candidate("always alarm", True, lambda x, y: _Constant(1.0)),
    ]  # fmt: skip


# --- metrics ----------------------------------------------------------------------------------------

#: task → (primary metric, higher is better)
PRIMARY: dict[Task, tuple[str, bool]] = {
    "classification": ("balanced_accuracy", True), "regression": ("rmse", False), "anomaly": ("f1", True),
}  # fmt: skip


def fold_metrics(task: Task, y: NDArray[Any], pred: NDArray[Any]) -> dict[str, float]:
    """The task's metrics on one test block.

    >>> fold_metrics("regression", np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    {'rmse': 1.0, 'mae': 1.0, 'r2': 0.0}
    >>> fold_metrics("anomaly", np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]))
    {'f1': 0.5, 'far': 50.0, 'mar': 50.0}

    A block without any anomaly has no F1 (never alarming would score a perfect 1 there):

    >>> fold_metrics("anomaly", np.array([0, 0, 0, 0]), np.array([0, 1, 0, 0]))
    {'f1': nan, 'far': 25.0, 'mar': nan}
    """
    if task == "regression":
        return {"rmse": rmse(y, pred), "mae": float(mean_absolute_error(y, pred)), "r2": float(r2_score(y, pred))}
    if task == "anomaly":
        m = skab_outlier_metrics([y], [pred])
        if not np.any(y):
            return {"f1": float("nan"), "far": m.far, "mar": float("nan")}
        return {"f1": m.f1, "far": m.far, "mar": m.mar}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"balanced_accuracy": float(balanced_accuracy_score(y, pred)),
                "f1_macro": float(f1_score(y, pred, average="macro"))}  # fmt: skip


def fmt(value: float | None, digits: int = 4) -> str:
    """A readable number: ``—`` when missing or undefined, thousands separators when large.

    >>> fmt(None), fmt(float("nan")), fmt(0.123456), fmt(2.0), fmt(12345678.9)
    ('—', '—', '0.1235', '2', '12,345,679')
    """
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


# --- running ----------------------------------------------------------------------------------------


@dataclass
class CandidateResult:
    """One candidate across the folds."""

    name: str
    baseline: bool
    folds: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0
    score_rows: int = 0
    score_seconds: float = 0.0

    def _defined(self, metric: str) -> FloatArray:
        values = np.array([f[metric] for f in self.folds], dtype=float)
        return values[np.isfinite(values)]

    def mean(self, metric: str) -> float:
        """Mean over the folds where ``metric`` is defined (NaN if none)."""
        values = self._defined(metric)
        return float(np.mean(values)) if values.size else float("nan")

    def spread(self, metric: str) -> float:
        """Standard deviation over the folds where ``metric`` is defined (NaN if none)."""
        values = self._defined(metric)
        if not values.size:
            return float("nan")
        return float(np.std(values)) if np.ptp(values) > 0 else 0.0  # equal folds: 0, not rounding noise

    @property
    def rows_per_second(self) -> float:
        return self.score_rows / self.score_seconds if self.score_seconds > 0 else float("nan")


@dataclass(frozen=True)
class Step:
    """What the test-bed is about to do: fit and score ``candidate`` on fold ``fold`` of ``folds``;
    ``done`` of ``total`` fits are finished."""

    fold: int
    folds: int
    candidate: str
    done: int
    total: int


@dataclass
class TestbedReport:
    """Everything the test-bed found: task, data summary, results per candidate and the winner."""

    prepared: Prepared
    results: list[CandidateResult]
    folds: list[tuple[int, int]]  # (training rows, test rows) per fold used

    @property
    def task(self) -> Task:
        return self.prepared.task

    @property
    def metric(self) -> str:
        return PRIMARY[self.task][0]

    def ranked(self) -> list[CandidateResult]:
        """Best first by the mean primary metric (undefined last)."""
        name, higher = PRIMARY[self.task]

        def key(r: CandidateResult) -> tuple[bool, float]:
            value = r.mean(name)
            return (not np.isfinite(value), -value if higher else value)

        return sorted(self.results, key=key)

    @property
    def winner(self) -> str:
        return self.ranked()[0].name

    def best_baseline(self) -> CandidateResult:
        """The best simple baseline (the bar every model must clear)."""
        return next(r for r in self.ranked() if r.baseline)

    def beats_baselines(self) -> bool:
        """Whether the best model is strictly better than every baseline (a tie does not count)."""
        name, higher = PRIMARY[self.task]
        best = {kind: max(r.mean(name) * (1 if higher else -1) for r in self.results if r.baseline == kind)
                for kind in (False, True)}  # fmt: skip
        return best[False] > best[True]


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
) -> TestbedReport:
    """Prepare ``frame``, then fit and score every candidate on every expanding-window fold.

    ``progress(done, total, name)`` is called after each fit; ``on_step`` before each one (which candidate
    on which fold), so a page can say what is running now.
    """
    prep = prepare(frame, target, time, task, drop)
    splits = scorable_folds(prep, folds)
    candidates = _candidates(prep.task, len(prep.y), threads)
    results = [CandidateResult(c.name, c.baseline) for c in candidates]
    used: list[tuple[int, int]] = []
    total, done = len(splits) * len(candidates), 0
    for k, (train, test) in enumerate(splits, start=1):
        if prep.task == "classification" and np.unique(prep.y[train]).size < 2:
            prep.notes.append(_note("skipped_fold", fold=k))
            done += len(candidates)
            continue
        if prep.task == "anomaly" and not np.any(prep.y[test]):
            prep.notes.append(_note("no_event_fold", fold=k))
        used.append((len(train), len(test)))
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


def _candidates(task: Task, n: int, threads: int) -> list[Candidate]:
    if task == "classification":
        return classification_candidates(n, threads)
    if task == "regression":
        return regression_candidates(n, threads)
    return anomaly_candidates()


def _run_fold(
    prep: Prepared, cand: Candidate, res: CandidateResult, train: NDArray[np.intp], test: NDArray[np.intp]
) -> None:
    x_tr, x_te, y_tr = prep.x.iloc[train], prep.x.iloc[test], prep.y[train]
    with stopwatch() as t_fit:
        model = cand.fit(x_tr, y_tr)
    with stopwatch() as t_score:
        pred = model.predict(x_te)
    if cand.name == "last value":  # persistence: each test row gets the previous row's actual target
        pred = np.concatenate([[y_tr[-1]], prep.y[test][:-1]])
    res.folds.append(fold_metrics(prep.task, prep.y[test], pred))
    res.fit_seconds += t_fit[0]
    res.score_rows += len(test)
    res.score_seconds += t_score[0]
