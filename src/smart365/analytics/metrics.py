"""The benchmarks' standard metrics, computed the way each benchmark defines them.

- C-MAPSS (remaining useful life): :func:`rmse` and the PHM08 / NASA :func:`nasa_score`.
- SKAB (anomaly detection): :func:`skab_outlier_metrics` (F1, FAR, MAR over all test points of all files)
  and :func:`skab_nab_score` (changepoints, NAB standard / LowFP / LowFN as in SKAB's ``core/metrics.py``).
- SECOM (pass/fail): :func:`balanced_error_rate`.

Implemented from the published definitions (SOURCE.md of each dataset); no benchmark code is copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smart365.core.errors import Invalid
from smart365.core.i18n import N_

FloatArray = NDArray[np.float64]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[FloatArray, FloatArray]:
    t, p = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape or t.size == 0:
        raise Invalid(N_("Truth and prediction must be non-empty and of the same length."))
    return t, p


# --- C-MAPSS -------------------------------------------------------------------------------------


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error.

    >>> rmse([10, 20], [13, 16])
    3.5355339059327378
    """
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def nasa_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """PHM08 / NASA scoring function S = Σ e^{−d/13} − 1 (d < 0) + Σ e^{d/10} − 1 (d ≥ 0), d = pred − true.

    Late predictions (d > 0) cost more than early ones. Lower is better; 0 is perfect.

    >>> round(nasa_score([50, 50, 50], [50, 37, 60]), 4)  # e^1 − 1 + e^1 − 1
    3.4366
    """
    t, p = _pair(y_true, y_pred)
    d = p - t
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


# --- SKAB: outlier detection -----------------------------------------------------------------------


@dataclass(frozen=True)
class OutlierMetrics:
    """SKAB's outlier-detection figures over all test points pooled: F1, FAR % and MAR %."""

    f1: float
    far: float
    mar: float
    tp: int
    tn: int
    fp: int
    fn: int


def _files(data: Sequence[ArrayLike]) -> list[NDArray[np.bool_]]:
    return [np.asarray(x, dtype=float).ravel() == 1 for x in data]


def skab_outlier_metrics(true: Sequence[ArrayLike], pred: Sequence[ArrayLike]) -> OutlierMetrics:
    """F1 = TP/(TP + (FP+FN)/2), FAR = FP/(FP+TN)·100, MAR = FN/(FN+TP)·100, pooled over files.

    ``true`` and ``pred`` hold one 0/1 array per experiment file (the test part after the first 400
    rows). SKAB's leaderboard rounds to two decimals; these are unrounded.

    >>> m = skab_outlier_metrics([[0, 0, 1, 1], [0, 1]], [[0, 1, 1, 0], [0, 1]])
    >>> (m.tp, m.tn, m.fp, m.fn), round(m.f1, 4), round(m.far, 2), round(m.mar, 2)
    ((2, 2, 1, 1), 0.6667, 33.33, 33.33)
    """
    if len(true) != len(pred) or not true:
        raise Invalid(N_("Give one prediction per labelled file."))
    tp = tn = fp = fn = 0
    for t, p in zip(_files(true), _files(pred), strict=True):
        if t.shape != p.shape:
            raise Invalid(N_("Truth and prediction must be non-empty and of the same length."))
        tp, tn = tp + int(np.sum(t & p)), tn + int(np.sum(~t & ~p))
        fp, fn = fp + int(np.sum(~t & p)), fn + int(np.sum(t & ~p))
    f1 = tp / (tp + (fn + fp) / 2) if tp + fn + fp else 1.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return OutlierMetrics(f1, far, mar, tp, tn, fp, fn)


# --- SKAB: changepoint detection (NAB) ----------------------------------------------------------

#: NAB application profiles (A_tp, A_fp, A_fn) as SKAB sets them.
NAB_PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, -0.11, -1.0),
    "low_fp": (1.0, -0.22, -1.0),
    "low_fn": (1.0, -0.11, -2.0),
}
_DETAIL = 1000  # resolution of the scoring curve, as in SKAB


def _seconds(times: ArrayLike | None, size: int) -> FloatArray:
    if times is None:
        return np.arange(size, dtype=float)
    t = np.asarray(times)
    if np.issubdtype(t.dtype, np.datetime64):
        return np.asarray((t - t[0]) / np.timedelta64(1, "s"), dtype=float)
    return t.astype(float)


def nab_windows(cp_times: FloatArray, width: float, side: Literal["right", "left", "center"] = "right") -> FloatArray:
    """Detection windows around true changepoints; overlaps cut from the right window (SKAB default).

    >>> nab_windows(np.array([0.0, 30.0]), 60.0).tolist()
    [[0.0, 60.0], [60.0, 90.0]]
    """
    offset = {"right": (0.0, width), "left": (-width, 0.0), "center": (-width / 2, width / 2)}[side]
    win = np.column_stack([cp_times + offset[0], cp_times + offset[1]])
    for i in range(len(win) - 1):  # sequential: a cut can cascade
        if win[i, 1] >= win[i + 1, 0]:
            win[i + 1, 0] = win[i, 1]
    return win


def _nab_curve(a_tp: float, a_fp: float) -> FloatArray:
    """SKAB's "improved" NAB scoring curve: A_tp at the window start, falling to A_fp at its end."""
    x = np.linspace(-np.pi / 2, np.pi / 2, _DETAIL)
    half = (a_tp - a_fp) / 2
    return np.asarray(-half * np.tanh(x) / np.tanh(np.pi / 2) + half + a_fp, dtype=float)


@dataclass(frozen=True)
class NabCounts:
    """One file's changepoint confusion: windows, missed windows, false alarms, relative detection times."""

    windows: int
    missed: int
    false_alarms: int
    detection_positions: FloatArray  # (first detection − window start) / window width, per hit window


def nab_counts(windows: FloatArray, alarm_times: FloatArray) -> NabCounts:
    """Match alarms to windows: the first alarm inside a window scores it; alarms outside are false.

    >>> c = nab_counts(np.array([[10.0, 20.0]]), np.array([2.0, 15.0, 18.0, 25.0]))
    >>> c.missed, c.false_alarms, c.detection_positions.tolist()
    (0, 2, [0.5])
    """
    alarms = np.sort(alarm_times)
    if len(windows) == 0:
        return NabCounts(0, 0, int(alarms.size), np.zeros(0))
    inside = np.zeros(alarms.size, dtype=bool)
    positions: list[float] = []
    for start, end in windows:
        hit = (alarms >= start) & (alarms <= end)
        inside |= hit
        if hit.any():
            positions.append((float(alarms[hit][0]) - start) / (end - start))
    missed = len(windows) - len(positions)
    return NabCounts(len(windows), missed, int(np.sum(~inside)), np.asarray(positions, dtype=float))


def _nab_raw(counts: NabCounts, profile: tuple[float, float, float]) -> tuple[float, float, float]:
    """(score, null score, perfect score) of one file under one profile."""
    a_tp, a_fp, a_fn = profile
    curve = _nab_curve(a_tp, a_fp)
    events = np.minimum((counts.detection_positions * _DETAIL).astype(int), _DETAIL - 1)
    score = a_fp * counts.false_alarms + a_fn * counts.missed + float(curve[events].sum())
    return score, counts.windows * a_fn, counts.windows * a_tp


def skab_nab_score(
    true_cp: Sequence[ArrayLike],
    pred_cp: Sequence[ArrayLike],
    times: Sequence[ArrayLike | None] | None = None,
    window: float = 60.0,
    side: Literal["right", "left", "center"] = "right",
) -> dict[str, float]:
    """NAB score (0 = null detector, 100 = perfect) per profile, summed over files as SKAB does.

    ``true_cp``/``pred_cp``: one 0/1 array per file marking changepoints and alarms. ``times``: each
    file's timestamps (datetime64, or numbers); by default row positions, which is seconds at SKAB's
    1 Hz. ``window`` is in seconds (60 s to the right of each true changepoint in the SKAB protocol).

    >>> truth = [[0] * 10 + [1] + [0] * 89]
    >>> skab_nab_score(truth, truth, window=60)["standard"]  # alarm at the changepoint
    100.0
    >>> skab_nab_score(truth, [[0] * 100], window=60)["standard"]  # silence
    0.0
    >>> round(skab_nab_score(truth, [[1] + [0] * 99], window=60)["standard"], 2)  # one false alarm
    -5.5
    """
    if len(true_cp) != len(pred_cp) or not true_cp:
        raise Invalid(N_("Give one prediction per labelled file."))
    file_times = list(times) if times is not None else [None] * len(true_cp)
    all_counts = []
    for t, p, ts in zip(_files(true_cp), _files(pred_cp), file_times, strict=True):
        secs = _seconds(ts, t.size)
        all_counts.append(nab_counts(nab_windows(secs[t], window, side), secs[p]))
    result: dict[str, float] = {}
    for name, profile in NAB_PROFILES.items():
        raw = np.array([_nab_raw(c, profile) for c in all_counts]).sum(axis=0)
        score, null, perfect = raw
        result[name] = float(100 * (score - null) / (perfect - null)) if perfect != null else float("nan")
    return result


# --- SECOM -----------------------------------------------------------------------------------------


def balanced_error_rate(y_true: ArrayLike, y_pred: ArrayLike, positive: float = 1) -> float:
    """Balanced error rate: the mean of the two classes' error rates, ½(FN/P + FP/N).

    SECOM labels fails ``1`` and passes ``-1``; anything other than ``positive`` counts as negative.

    >>> balanced_error_rate([1, 1, -1, -1, -1, -1], [1, -1, -1, -1, -1, 1])  # ½(1/2 + 1/4)
    0.375
    """
    t, p = _pair(y_true, y_pred)
    pos, neg = t == positive, t != positive
    if not pos.any() or not neg.any():
        raise Invalid(N_("Balanced error rate needs both classes in the truth."))
    fnr = float(np.mean(p[pos] != positive))
    fpr = float(np.mean(p[neg] == positive))
    return 0.5 * (fnr + fpr)
