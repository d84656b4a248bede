"""Anomaly detection: streaming univariate and multivariate detectors, calibration, alarms, explanations.

Every detector follows the model contract (:mod:`smart365.analytics.contract`): ``fit(history)`` on
normal, time-ordered data, ``score(batch)`` (higher is more anomalous), ``state()`` / ``from_state()``.
Fitting also *calibrates* a threshold on the history's own scores (:func:`calibrate_threshold`), so
``detect(batch)`` gives flags without a hand-set limit.

- :class:`EwmaDetector`: the fast default. Per signal a robust z-score (median / MAD of the history),
  smoothed by an EWMA (a linear filter, so one vectorised :func:`scipy.signal.lfilter` call);
  ``update()`` carries the filter state across batches for streaming.
- :class:`PcaDetector`: Hotelling T² in the principal subspace plus the squared prediction error (SPE,
  Q) in the residual space, each scaled by its calibrated limit.
- :class:`IsolationForestDetector`: scikit-learn's isolation forest; the trees are saved as plain arrays
  and scored with NumPy, so loading a model never unpickles anything.
- :class:`AutoencoderDetector`: reconstruction error of a small dense autoencoder (scikit-learn MLP),
  weights saved as arrays.
- :class:`StuckSignalDetector`: a sensor that stopped changing (frozen transmitter, dead link): a
  noisy signal unchanged far longer than it ever was in the history. The others miss it, since a frozen
  value sits right at normal.
- :class:`TrendDetector`: a signal rising or falling faster than ever in the history (a tool wearing out
  too fast, a heater drifting), a ramp in both halves of its window, so a step is not a trend.

:func:`alarms` turns flags into de-duplicated events (start, end, peak) and explains each one by the
signals furthest from normal, in robust sigmas.

>>> rng = np.random.default_rng(0)
>>> normal = pd.DataFrame({"temp": rng.normal(50, 1, 500), "flow": rng.normal(10, 0.5, 500)})
>>> det = EwmaDetector().fit(normal)
>>> batch = normal.iloc[:60].copy()
>>> batch.loc[batch.index[30:40], "temp"] += 6.0
>>> events = alarms(det, batch)
>>> [(e.start, e.explanation[0].signal) for e in events]
[(31, 'temp')]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from smart365.analytics.contract import Detector, EvalResult, ModelState, register, stopwatch
from smart365.analytics.datasets import SKAB_SENSORS, SkabExperiment, load_skab
from smart365.analytics.metrics import skab_outlier_metrics
from smart365.analytics.trees import flatten as flatten_trees
from smart365.analytics.trees import walk as walk_trees
from smart365.core.errors import Invalid
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.lazy import lazy

if TYPE_CHECKING:
    import scipy.signal as sp_signal
    import sklearn.ensemble as sk_ensemble
    import sklearn.exceptions as sk_exceptions
    import sklearn.neural_network as sk_neural
else:
    sk_ensemble = lazy("sklearn.ensemble")
    sk_exceptions = lazy("sklearn.exceptions")
    sk_neural = lazy("sklearn.neural_network")
    sp_signal = lazy("scipy.signal")

FloatArray = NDArray[np.float64]
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 σ
_EPS = 1e-9


# --- robust baseline and threshold calibration ------------------------------------------------------


@dataclass(frozen=True)
class RobustBaseline:
    """Per-signal centre (median) and scale (MAD in sigma units) of normal data.

    A constant signal gets scale 1 in its own units, so a later change still shows (instead of ∞).

    >>> b = RobustBaseline.fit(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 100.0], "k": [5.0] * 5}))
    >>> b.center.tolist(), b.scale.round(4).tolist()
    ([3.0, 5.0], [1.4826, 1.0])
    >>> b.z(pd.DataFrame({"a": [6.0], "k": [7.0]})).round(3).tolist()
    [[2.023, 2.0]]
    """

    columns: list[str]
    center: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> RobustBaseline:
        """Median and MAD·1.4826 per column (falls back to the standard deviation, then to 1)."""
        values = _numeric(frame)
        center = np.nanmedian(values, axis=0)
        scale = MAD_TO_SIGMA * np.nanmedian(np.abs(values - center), axis=0)
        std = np.nanstd(values, axis=0)
        scale = np.where(scale > _EPS, scale, np.where(std > _EPS, std, 1.0))
        return cls(list(map(str, frame.columns)), center, scale)

    def z(self, frame: pd.DataFrame) -> FloatArray:
        """Robust z-scores (signed), one column per signal; missing values count as normal (0)."""
        z = (_numeric(frame[self.columns]) - self.center) / self.scale
        return np.nan_to_num(z, nan=0.0)


def _numeric(frame: pd.DataFrame) -> FloatArray:
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise Invalid(N_("Anomaly detection needs at least one numeric signal and one row."))
    try:
        return frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise Invalid(N_("Anomaly detection needs numeric signals only.")) from exc


def calibrate_threshold(normal_scores: ArrayLike, quantile: float = 0.99, margin: float = 1.0) -> float:
    """Alarm threshold from anomaly-free scores: their ``quantile`` times ``margin``.

    With ``quantile`` q, about (1 − q) of normal points alarm before the margin; ``margin`` > 1 trades
    sensitivity for fewer false alarms when the normal history is short.

    >>> calibrate_threshold(np.arange(101.0), quantile=0.9)
    90.0
    >>> calibrate_threshold([1.0, 2.0, 3.0], quantile=1.0, margin=1.5)
    4.5
    """
    scores = np.asarray(normal_scores, dtype=float).ravel()
    scores = scores[np.isfinite(scores)]
    if scores.size == 0 or not 0.0 < quantile <= 1.0 or margin <= 0:
        raise Invalid(N_("Threshold calibration needs finite normal scores, 0 < quantile ≤ 1 and a positive margin."))
    return float(np.quantile(scores, quantile) * margin)


# --- EWMA streaming detector ----------------------------------------------------------------------


@dataclass(frozen=True)
class EwmaConfig:
    """``alpha``: EWMA weight of the newest point (0.2 is the usual EWMA-chart λ). The score is in
    sigmas of the smoothed statistic, so a threshold of 3 is the classic chart limit; calibration takes the
    larger of ``min_threshold`` and the ``quantile`` of the history's scores times ``margin``."""

    alpha: float = 0.2
    quantile: float = 0.995
    margin: float = 1.0
    min_threshold: float = 3.0


def ewma(x: FloatArray, alpha: float, start: FloatArray) -> tuple[FloatArray, FloatArray]:
    """EWMA along axis 0, s_t = α·x_t + (1 − α)·s_{t−1} from s_{−1} = ``start``; returns (s, last s).

    >>> s, last = ewma(np.array([[1.0], [1.0], [4.0]]), 0.5, np.zeros(1))
    >>> s.ravel().tolist(), last.tolist()
    ([0.5, 0.75, 2.375], [2.375])
    """
    if len(x) == 0:
        return x.copy(), start
    zi = ((1 - alpha) * start)[None, :]
    s, _ = sp_signal.lfilter([alpha], [1.0, -(1.0 - alpha)], x, axis=0, zi=zi)
    smoothed = np.asarray(s, dtype=float)
    return smoothed, smoothed[-1].copy()


@register
@dataclass
class EwmaDetector:
    """Robust z-score per signal, EWMA-smoothed; score = largest |smoothed z| in EWMA sigmas.

    ``score(batch)`` starts each call from the normal level; ``update(batch)`` continues from the previous
    ``update`` call, so feeding a stream in chunks gives the same scores as one call.
    """

    kind: ClassVar[str] = "anomaly.ewma"
    config: EwmaConfig = field(default_factory=EwmaConfig)
    baseline: RobustBaseline | None = None
    threshold: float = float("inf")
    _carry: FloatArray | None = None

    @property
    def _sigma(self) -> float:
        a = self.config.alpha
        return float(np.sqrt(a / (2.0 - a)))  # asymptotic sd of the EWMA of unit-variance noise

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn the robust baseline and calibrate the threshold on the history's own scores."""
        if not 0.0 < self.config.alpha <= 1.0:
            raise Invalid(N_("EWMA needs 0 < λ ≤ 1 and a positive sigma."))
        self.baseline = RobustBaseline.fit(history)
        cfg = self.config
        calibrated = calibrate_threshold(self.score(history), cfg.quantile, cfg.margin)
        self.threshold = max(cfg.min_threshold, calibrated)
        self._carry = None
        return self

    def _smoothed(self, batch: pd.DataFrame, start: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        z = _require_fitted(self.baseline).z(batch)
        return ewma(z, self.config.alpha, np.zeros(z.shape[1]) if start is None else start)

    def score(self, batch: pd.DataFrame) -> FloatArray:
        """Largest |EWMA of robust z| over the signals, in sigmas of the EWMA, per row."""
        smoothed, _ = self._smoothed(batch, None)
        return np.asarray(np.abs(smoothed).max(axis=1) / self._sigma, dtype=float)

    def update(self, batch: pd.DataFrame) -> FloatArray:
        """Streaming :meth:`score`: the EWMA continues from the end of the previous ``update`` call."""
        smoothed, self._carry = self._smoothed(batch, self._carry)
        return np.asarray(np.abs(smoothed).max(axis=1) / self._sigma, dtype=float)

    def detect(self, batch: pd.DataFrame) -> NDArray[np.bool_]:
        """Alarm flags: score above the calibrated threshold."""
        return self.score(batch) > self.threshold

    def state(self) -> ModelState:
        base = _require_fitted(self.baseline)
        params = {"config": asdict(self.config), "columns": base.columns, "threshold": self.threshold}
        return ModelState(self.kind, params, {"center": base.center, "scale": base.scale})

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        return cls(EwmaConfig(**state.params["config"]), _baseline_from(state), float(state.params["threshold"]))


def _require_fitted(baseline: RobustBaseline | None) -> RobustBaseline:
    if baseline is None:
        raise Invalid(N_("The model is not fitted yet."))
    return baseline


def _baseline_from(state: ModelState) -> RobustBaseline:
    return RobustBaseline(list(state.params["columns"]), state.arrays["center"], state.arrays["scale"])


# --- PCA T² + SPE -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PcaConfig:
    """``explained``: share of variance the principal subspace keeps (SKAB's T²+Q uses 0.85).
    ``quantile``: limits of T² and SPE from the history's own statistics. ``smooth``: causal rolling
    median over this many points (1 = none), which suppresses single-point spikes."""

    explained: float = 0.85
    quantile: float = 0.99
    margin: float = 1.0
    smooth: int = 1


@register
@dataclass
class PcaDetector:
    """score = max(T² / T²-limit, SPE / SPE-limit); 1.0 is the calibrated threshold (times ``margin``)."""

    kind: ClassVar[str] = "anomaly.pca"
    config: PcaConfig = field(default_factory=PcaConfig)
    baseline: RobustBaseline | None = None
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    std: FloatArray = field(default_factory=lambda: np.ones(0))
    components: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # (signals, k)
    eigenvalues: FloatArray = field(default_factory=lambda: np.zeros(0))
    limits: FloatArray = field(default_factory=lambda: np.ones(2))  # T², SPE
    threshold: float = float("inf")

    def fit(self, history: pd.DataFrame) -> Self:
        """Standardise, eigen-decompose the covariance, keep ``explained`` variance, calibrate limits."""
        x = _numeric(history)
        if len(x) < 2:
            raise Invalid(N_("The baseline needs at least two points."))
        self.baseline = RobustBaseline.fit(history)
        self.mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0)
        self.std = np.where(std > _EPS, std, 1.0)
        xs = np.nan_to_num((x - self.mean) / self.std)
        eigval, eigvec = np.linalg.eigh(np.cov(xs, rowvar=False).reshape(x.shape[1], x.shape[1]))
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = np.maximum(eigval[order], _EPS), eigvec[:, order]
        share = np.cumsum(eigval) / eigval.sum()
        k = int(min(np.searchsorted(share, self.config.explained) + 1, max(1, x.shape[1] - 1)))
        self.components, self.eigenvalues = eigvec[:, :k], eigval[:k]
        t2, spe = self.statistics(history)
        q = self.config.quantile
        self.limits = np.array([calibrate_threshold(t2, q), max(calibrate_threshold(spe, q), _EPS)])
        self.threshold = self.config.margin
        return self

    def statistics(self, batch: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
        """(T², SPE) per row: Mahalanobis distance in the principal subspace, squared residual outside it."""
        _require_fitted(self.baseline)
        xs = np.nan_to_num((_numeric(batch[self.baseline.columns]) - self.mean) / self.std)  # type: ignore[union-attr]
        scores = xs @ self.components
        t2 = np.sum(scores**2 / self.eigenvalues, axis=1)
        spe = np.sum((xs - scores @ self.components.T) ** 2, axis=1)
        return np.asarray(t2, dtype=float), np.asarray(spe, dtype=float)

    def score(self, batch: pd.DataFrame) -> FloatArray:
        t2, spe = self.statistics(batch)
        raw = np.maximum(t2 / self.limits[0], spe / self.limits[1])
        return rolling_median(raw, self.config.smooth)

    def detect(self, batch: pd.DataFrame) -> NDArray[np.bool_]:
        """Alarm flags: either statistic beyond its calibrated limit (times ``margin``)."""
        return self.score(batch) > self.threshold

    def state(self) -> ModelState:
        base = _require_fitted(self.baseline)
        params = {"config": asdict(self.config), "columns": base.columns, "threshold": self.threshold}
        arrays = {"center": base.center, "scale": base.scale, "mean": self.mean, "std": self.std,
                  "components": self.components, "eigenvalues": self.eigenvalues, "limits": self.limits}  # fmt: skip
        return ModelState(self.kind, params, arrays)

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        a = state.arrays
        return cls(PcaConfig(**state.params["config"]), _baseline_from(state), a["mean"], a["std"],
                   a["components"], a["eigenvalues"], a["limits"], float(state.params["threshold"]))  # fmt: skip


def rolling_median(x: FloatArray, window: int) -> FloatArray:
    """Causal rolling median (the first points use what is there so far).

    >>> rolling_median(np.array([0.0, 9.0, 0.0, 5.0, 5.0]), 3).tolist()
    [0.0, 4.5, 0.0, 5.0, 5.0]
    """
    if window <= 1:
        return x
    return np.asarray(pd.Series(x).rolling(window, min_periods=1).median().to_numpy(), dtype=float)


# --- isolation forest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForestConfig:
    """scikit-learn :class:`~sklearn.ensemble.IsolationForest` settings and threshold calibration."""

    trees: int = 100
    max_samples: int = 256
    quantile: float = 0.99
    margin: float = 1.0
    smooth: int = 1
    seed: int = 0


def average_path_length(n: ArrayLike) -> FloatArray:
    """c(n): mean path length of an unsuccessful search in a binary search tree of n points.

    >>> average_path_length([1, 2, 256]).round(4).tolist()
    [0.0, 1.0, 10.2448]
    """
    n = np.asarray(n, dtype=float)
    safe = np.maximum(n, 3.0)
    c = 2.0 * (np.log(safe - 1.0) + np.euler_gamma) - 2.0 * (safe - 1.0) / safe
    return np.asarray(np.where(n <= 1, 0.0, np.where(n <= 2, 1.0, c)), dtype=float)


@register
@dataclass
class IsolationForestDetector:
    """Isolation forest on standardised signals; score = 2^(−E[path length]/c(max_samples)) in (0, 1).

    The fitted trees are kept as flat arrays (children, split feature, threshold, leaf size) and scored
    with NumPy, identically to scikit-learn's ``-score_samples``.
    """

    kind: ClassVar[str] = "anomaly.iforest"
    config: ForestConfig = field(default_factory=ForestConfig)
    baseline: RobustBaseline | None = None
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    std: FloatArray = field(default_factory=lambda: np.ones(0))
    trees: dict[str, NDArray[Any]] = field(default_factory=dict)
    threshold: float = float("inf")

    def fit(self, history: pd.DataFrame) -> Self:
        """Fit scikit-learn's forest, flatten its trees, calibrate the threshold."""
        x = _numeric(history)
        self.baseline = RobustBaseline.fit(history)
        self.mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0)
        self.std = np.where(std > _EPS, std, 1.0)
        cfg = self.config
        forest = sk_ensemble.IsolationForest(
            n_estimators=cfg.trees, max_samples=min(cfg.max_samples, len(x)), random_state=cfg.seed
        ).fit(self._standard(x))
        self.trees = _flatten_forest(forest)
        scores = self.score(history)
        self.threshold = calibrate_threshold(scores, cfg.quantile, cfg.margin)
        return self

    def _standard(self, x: FloatArray) -> NDArray[np.float32]:
        return np.nan_to_num((x - self.mean) / self.std).astype(np.float32)  # the forest splits in float32

    def score(self, batch: pd.DataFrame) -> FloatArray:
        base = _require_fitted(self.baseline)
        x = self._standard(_numeric(batch[base.columns]))
        raw = _forest_scores(self.trees, x)
        return rolling_median(raw, self.config.smooth)

    def detect(self, batch: pd.DataFrame) -> NDArray[np.bool_]:
        return self.score(batch) > self.threshold

    def state(self) -> ModelState:
        base = _require_fitted(self.baseline)
        params = {"config": asdict(self.config), "columns": base.columns, "threshold": self.threshold}
        arrays = {"center": base.center, "scale": base.scale, "mean": self.mean, "std": self.std}
        arrays |= {f"tree_{k}": v for k, v in self.trees.items()}
        return ModelState(self.kind, params, arrays)

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        a = state.arrays
        trees = {k[len("tree_") :]: v for k, v in a.items() if k.startswith("tree_")}
        return cls(ForestConfig(**state.params["config"]), _baseline_from(state), a["mean"], a["std"], trees,
                   float(state.params["threshold"]))  # fmt: skip


def _flatten_forest(forest: sk_ensemble.IsolationForest) -> dict[str, NDArray[Any]]:
    """The forest's trees as arrays (:func:`~smart365.analytics.trees.flatten`) and the sample size its path
    lengths scale by."""
    flat = flatten_trees(forest.estimators_, forest.estimators_features_)
    return flat | {"max_samples": np.asarray([forest.max_samples_], dtype=np.int64)}


def _forest_scores(flat: dict[str, NDArray[Any]], x: NDArray[np.float32]) -> FloatArray:
    """Every row down every tree at once, then 2^(−mean path / c(max_samples))."""
    leaf, depth = walk_trees(flat, x)
    path = depth + average_path_length(flat["size"][leaf])
    c = float(average_path_length(flat["max_samples"])[0])
    return np.asarray(2.0 ** (-path.mean(axis=1) / c), dtype=float)


# --- reconstruction (autoencoder) ---------------------------------------------------------------------


@dataclass(frozen=True)
class AutoencoderConfig:
    """A small dense autoencoder (scikit-learn :class:`~sklearn.neural_network.MLPRegressor` trained to
    reproduce its input through a ``bottleneck``-wide tanh layer); score = mean squared reconstruction error."""

    hidden: int = 16
    bottleneck: int = 3
    quantile: float = 0.99
    margin: float = 1.0
    smooth: int = 1
    max_iter: int = 500
    seed: int = 0


@register
@dataclass
class AutoencoderDetector:
    """Reconstruction error of standardised signals; the weights are saved as arrays, scored with NumPy."""

    kind: ClassVar[str] = "anomaly.autoencoder"
    config: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    baseline: RobustBaseline | None = None
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    std: FloatArray = field(default_factory=lambda: np.ones(0))
    weights: list[FloatArray] = field(default_factory=list)
    biases: list[FloatArray] = field(default_factory=list)
    threshold: float = float("inf")

    def fit(self, history: pd.DataFrame) -> Self:
        """Train the autoencoder on standardised history, then calibrate the threshold on its errors."""
        x = _numeric(history)
        self.baseline = RobustBaseline.fit(history)
        self.mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0)
        self.std = np.where(std > _EPS, std, 1.0)
        xs = np.nan_to_num((x - self.mean) / self.std)
        cfg = self.config
        net = sk_neural.MLPRegressor(hidden_layer_sizes=(cfg.hidden, cfg.bottleneck, cfg.hidden), activation="tanh",
                                     alpha=1e-3, max_iter=cfg.max_iter, random_state=cfg.seed)  # fmt: skip
        with warnings.catch_warnings():  # a short normal history rarely converges fully
            warnings.simplefilter("ignore", sk_exceptions.ConvergenceWarning)
            net.fit(xs, xs)
        self.weights = [np.asarray(w, dtype=float) for w in net.coefs_]
        self.biases = [np.asarray(b, dtype=float) for b in net.intercepts_]
        self.threshold = calibrate_threshold(self.score(history), cfg.quantile, cfg.margin)
        return self

    def reconstruct(self, batch: pd.DataFrame) -> FloatArray:
        """The autoencoder's output for ``batch``, in standardised units."""
        base = _require_fitted(self.baseline)
        h = np.nan_to_num((_numeric(batch[base.columns]) - self.mean) / self.std)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.tanh(h)  # the output layer is linear
        return np.asarray(h, dtype=float)

    def score(self, batch: pd.DataFrame) -> FloatArray:
        base = _require_fitted(self.baseline)
        xs = np.nan_to_num((_numeric(batch[base.columns]) - self.mean) / self.std)
        error = np.mean((xs - self.reconstruct(batch)) ** 2, axis=1)
        return rolling_median(np.asarray(error, dtype=float), self.config.smooth)

    def detect(self, batch: pd.DataFrame) -> NDArray[np.bool_]:
        return self.score(batch) > self.threshold

    def state(self) -> ModelState:
        base = _require_fitted(self.baseline)
        params = {"config": asdict(self.config), "columns": base.columns, "threshold": self.threshold,
                  "layers": len(self.weights)}  # fmt: skip
        arrays = {"center": base.center, "scale": base.scale, "mean": self.mean, "std": self.std}
        arrays |= {f"w{i}": w for i, w in enumerate(self.weights)} | {f"b{i}": b for i, b in enumerate(self.biases)}
        return ModelState(self.kind, params, arrays)

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        a, n = state.arrays, int(state.params["layers"])
        return cls(AutoencoderConfig(**state.params["config"]), _baseline_from(state), a["mean"], a["std"],
                   [a[f"w{i}"] for i in range(n)], [a[f"b{i}"] for i in range(n)],
                   float(state.params["threshold"]))  # fmt: skip


# --- stuck sensors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StuckConfig:
    """A signal counts as unchanged while each new value is within ``tolerance`` robust sigmas of the one
    before (0: exactly equal, which is what a frozen transmitter or a dead link repeats). It is stuck once it
    stays unchanged ``factor`` times longer than its longest unchanged run in the history, and at least
    ``min_points`` points. A signal unchanged for over ``constant_share`` of the history is left out: it is
    normally constant, so it cannot freeze."""

    tolerance: float = 0.0
    factor: float = 3.0
    min_points: int = 60
    constant_share: float = 0.5


def run_lengths(unchanged: NDArray[np.bool_], carry: NDArray[np.int64]) -> NDArray[np.int64]:
    """Per row and column, how many points in a row the value has been unchanged (0: it just changed).

    ``unchanged[t]``: row t equals row t − 1; ``carry``: the run length before the first row.

    >>> run_lengths(np.array([[False], [True], [True], [False], [True]]), np.zeros(1, dtype=np.int64)).ravel()
    array([0, 1, 2, 0, 1])
    >>> run_lengths(np.array([[True], [True], [False]]), np.array([5])).ravel()
    array([6, 7, 0])
    """
    rows = np.arange(len(unchanged))[:, None]
    last_change = np.maximum.accumulate(np.where(unchanged, -1, rows), axis=0)
    return np.where(last_change >= 0, rows - last_change, carry[None, :] + rows + 1).astype(np.int64)


@register
@dataclass
class StuckSignalDetector:
    """Flags signals that stopped changing: score = largest (points unchanged / the signal's limit), so 1.0
    is the threshold. The limits come from the history itself (see :class:`StuckConfig`).

    ``score(batch)`` starts each call afresh; ``update(batch)`` carries the last values and run lengths
    over, so a value frozen across batches keeps counting. :meth:`explain` names the stuck signals of the
    batch scored last.

    >>> rng = np.random.default_rng(1)
    >>> normal = pd.DataFrame({"load": rng.normal(50, 1, 300), "speed": [8000.0] * 300})
    >>> det = StuckSignalDetector(StuckConfig(min_points=20)).fit(normal)
    >>> det.limits.tolist()  # speed never changes in the history: it is left out
    [20.0, inf]
    >>> batch = normal.iloc[:60].copy()
    >>> batch.loc[batch.index[10:], "load"] = 51.5  # frozen from row 10 on
    >>> int(np.argmax(det.score(batch) > det.threshold)), det.explain(batch, 59)[0].describe()
    (31, 'load: 49포인트째 51.5에서 변화 없음 (경보 기준 20포인트)')
    """

    kind: ClassVar[str] = "anomaly.stuck"
    config: StuckConfig = field(default_factory=StuckConfig)
    baseline: RobustBaseline | None = None
    limits: FloatArray = field(default_factory=lambda: np.zeros(0))
    threshold: float = 1.0
    _carry: tuple[FloatArray, NDArray[np.int64]] | None = None
    _runs: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn each signal's longest unchanged run in the history and set its limit from it."""
        cfg = self.config
        if cfg.tolerance < 0 or cfg.factor <= 0 or cfg.min_points < 1:
            raise Invalid(N_("Stuck-signal detection needs tolerance ≥ 0, factor > 0 and at least one point."))
        self.baseline = RobustBaseline.fit(history)
        self._carry = None
        longest = self._run_lengths(history, None)[0].max(axis=0)
        constant = longest > cfg.constant_share * len(history)
        self.limits = np.where(constant, np.inf, np.maximum(cfg.min_points, cfg.factor * longest)).astype(float)
        return self

    def _run_lengths(
        self, batch: pd.DataFrame, carry: tuple[FloatArray, NDArray[np.int64]] | None
    ) -> tuple[NDArray[np.int64], tuple[FloatArray, NDArray[np.int64]]]:
        base = _require_fitted(self.baseline)
        x = _numeric(batch[base.columns])
        before = np.vstack([x[:1] if carry is None else carry[0][None, :], x[:-1]])
        with np.errstate(invalid="ignore"):
            unchanged = np.abs(x - before) <= self.config.tolerance * base.scale  # NaN: not unchanged
        if carry is None:
            unchanged[0] = False
        runs = run_lengths(unchanged, np.zeros(x.shape[1], np.int64) if carry is None else carry[1])
        return runs, (x[-1].copy(), runs[-1].copy())

    def _scores(self, runs: NDArray[np.int64]) -> FloatArray:
        self._runs = runs
        return np.asarray((runs / self.limits).max(axis=1), dtype=float)

    def score(self, batch: pd.DataFrame) -> FloatArray:
        """Largest points-unchanged / limit over the signals, per row."""
        return self._scores(self._run_lengths(batch, None)[0])

    def update(self, batch: pd.DataFrame) -> FloatArray:
        """Streaming :meth:`score`: runs continue from the end of the previous ``update`` call."""
        runs, self._carry = self._run_lengths(batch, self._carry)
        return self._scores(runs)

    def detect(self, batch: pd.DataFrame) -> NDArray[np.bool_]:
        """Alarm flags: some signal unchanged for longer than its limit."""
        return self.score(batch) > self.threshold

    def explain(self, batch: pd.DataFrame, position: int, top: int = 3) -> tuple[Contribution, ...]:
        """The signals stuck at row ``position`` of the batch scored last, longest (relative to limit) first."""
        base = _require_fitted(self.baseline)
        runs = self._runs[position]
        ratio = runs / self.limits
        values = _numeric(batch[base.columns].iloc[[position]])[0]
        z = np.nan_to_num((values - base.center) / base.scale)
        stuck = [i for i in np.argsort(-ratio, kind="stable")[:top] if ratio[i] > self.threshold]
        return tuple(
            Contribution(base.columns[i], float(values[i]), float(base.center[i]), float(z[i]),
                         float(ratio[i] / ratio[stuck].sum()), unchanged=int(runs[i]), limit=float(self.limits[i]))
            for i in stuck
        )  # fmt: skip

    def state(self) -> ModelState:
        base = _require_fitted(self.baseline)
        params = {"config": asdict(self.config), "columns": base.columns, "threshold": self.threshold}
        return ModelState(self.kind, params, {"center": base.center, "scale": base.scale, "limits": self.limits})

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        return cls(StuckConfig(**state.params["config"]), _baseline_from(state), state.arrays["limits"],
                   float(state.params["threshold"]))  # fmt: skip


# --- slow trends -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendConfig:
    """``window``: rows in the trailing window, two halves of ``window // 2``. A signal trends when its
    least-squares slope, in robust sigmas per row, goes the same way in both halves: a ramp does, a step
    (a tool change, a restart) moves only one half. Limits for rising and for falling per signal: the
    ``quantile`` of the history's own moves that way, times ``margin``. With a :class:`pandas.DatetimeIndex`,
    a gap over ``max_gap_s`` seconds (a stop) restarts the window, so a run's first ``window`` rows score 0."""

    window: int = 120
    quantile: float = 0.995
    margin: float = 2.0
    max_gap_s: float = 300.0


def slope_filter(half: int) -> FloatArray:
    """FIR coefficients (newest point first) of the least-squares slope over the last ``half`` points.

    >>> slope_filter(3).tolist()  # points at x = 0, 1, 2: slope = (y2 − y0) / 2
    [0.5, 0.0, -0.5]
    """
    x = np.arange(half, dtype=float) - (half - 1) / 2
    return np.asarray((x / np.sum(x**2))[::-1], dtype=float)


def _seconds(batch: pd.DataFrame) -> FloatArray | None:
    index = batch.index
    return index.as_unit("ns").asi8 / 1e9 if isinstance(index, pd.DatetimeIndex) else None


@register
@dataclass
class TrendDetector:
    """Flags a signal that keeps rising or falling faster than it ever did in its history (a tool wearing
    out five times too fast, a heater drifting): score = largest slope beyond its limit, 1.0 = threshold.

    ``update(batch)`` carries the last ``window`` rows over, so a stream in chunks scores as one batch.

    >>> t = pd.date_range("2026-01-01", periods=600, freq="10s")
    >>> rng = np.random.default_rng(0)
    >>> history = pd.DataFrame({"load": 50 + 0.002 * np.arange(600) + rng.normal(0, 1, 600)}, index=t)
    >>> det = TrendDetector(TrendConfig(window=60)).fit(history)
    >>> batch = history.copy()
    >>> batch["load"] += np.r_[np.zeros(300), 0.2 * np.arange(300)]  # rising 0.2 per row from row 300 on
    >>> bool(det.detect(batch)[:300].any()), bool(det.detect(batch)[400:].all())
    (False, True)
    >>> det.explain(batch, 599)[0].describe()
    'load: 포인트당 +0.167씩 변화 (경보 기준 +0.0628)'
    """

    kind: ClassVar[str] = "anomaly.trend"
    config: TrendConfig = field(default_factory=TrendConfig)
    baseline: RobustBaseline | None = None
    center: FloatArray = field(default_factory=lambda: np.zeros(0))  # median slope (σ per row)
    limits: FloatArray = field(default_factory=lambda: np.ones((2, 0)))  # rising, falling (σ per row)
    threshold: float = 1.0
    _carry: tuple[FloatArray, FloatArray | None, int] | None = None
    _dev: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def _half(self) -> int:
        return max(2, self.config.window // 2)

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn the median slope and the rising / falling limits of each signal from the history."""
        cfg = self.config
        if cfg.window < 4 or not 0.0 < cfg.quantile <= 1.0 or cfg.margin <= 0:
            raise Invalid(N_("Trend detection needs a window of at least 4 rows, 0 < quantile ≤ 1 and margin > 0."))
        self.baseline = RobustBaseline.fit(history)
        self._carry = None
        moves, valid = self._both_halves(history, None)[:2]
        moves = moves[valid]
        if len(moves) == 0:
            raise Invalid(N_("The history is shorter than one trend window ({rows} rows)."), rows=2 * self._half)
        self.center = np.median(moves, axis=0)
        dev = moves - self.center
        self.limits = np.array([[_tail(d, cfg.quantile) for d in side.T] for side in (dev, -dev)]) * cfg.margin
        return self

    def _both_halves(
        self, batch: pd.DataFrame, carry: tuple[FloatArray, FloatArray | None, int] | None
    ) -> tuple[FloatArray, NDArray[np.bool_], tuple[FloatArray, FloatArray | None, int]]:
        """Per row: the slope where both halves move the same way (the smaller one), else 0; whether the
        row had a whole window behind it in its run; the rows to carry over."""
        h = self._half
        z, t = _require_fitted(self.baseline).z(batch), _seconds(batch)
        earlier = carry[0] if carry is not None else np.zeros((0, z.shape[1]))
        zz = np.vstack([earlier, z])
        restart = np.zeros(len(z), dtype=bool)
        if t is not None:
            before = carry[1] if carry is not None and carry[1] is not None else t[:1]
            restart = np.diff(np.r_[before, t]) > self.config.max_gap_s
        restart[0] |= carry is None
        position = run_lengths(~restart[:, None], np.array([carry[2] if carry else 0]))[:, 0]
        slopes = sp_signal.lfilter(slope_filter(h), [1.0], zz, axis=0)  # over the last h rows, the first rows padded
        recent = slopes[len(earlier) :]
        older = np.vstack([np.zeros((h, z.shape[1])), slopes])[len(earlier) : len(earlier) + len(z)]  # h rows before
        valid = position >= 2 * h - 1
        same = (np.sign(recent) == np.sign(older)) & valid[:, None]
        moves = np.where(same, np.sign(recent) * np.minimum(np.abs(recent), np.abs(older)), 0.0)
        keep = zz[-(2 * h - 1) :]
        return moves, valid, (keep, None if t is None else t[-1:], int(position[-1]))

    def _scores(self, moves: FloatArray) -> FloatArray:
        self._dev = np.where(moves != 0.0, moves - self.center, 0.0)
        return np.asarray(self._ratios(self._dev).max(axis=1), dtype=float)

    def _ratios(self, dev: FloatArray) -> FloatArray:
        """Each signal's move beyond the median slope, as a share of its limit that way."""
        return np.asarray(np.maximum(dev / self.limits[0], -dev / self.limits[1]), dtype=float)

    def score(self, batch: pd.DataFrame) -> FloatArray:
        """Largest trend beyond its limit over the signals, per row (a fresh start: the first rows score 0)."""
        return self._scores(self._both_halves(batch, None)[0])

    def update(self, batch: pd.DataFrame) -> FloatArray:
        """Streaming :meth:`score`: the window continues from the end of the previous ``update`` call."""
        moves, _, self._carry = self._both_halves(batch, self._carry)
        return self._scores(moves)

    def detect(self, batch: pd.DataFrame) -> NDArray[np.bool_]:
        """Alarm flags: some signal trending beyond its limit."""
        return self.score(batch) > self.threshold

    def explain(self, batch: pd.DataFrame, position: int, top: int = 3) -> tuple[Contribution, ...]:
        """The trending signals at row ``position`` of the batch scored last, steepest (relative to its
        limit) first; ``trend`` (the slope) and ``limit`` (the slope that alarms, that way) in the signal's
        units per row."""
        base = _require_fitted(self.baseline)
        dev = self._dev[position]
        ratio = self._ratios(dev[None, :])[0]
        values = _numeric(batch[base.columns].iloc[[position]])[0]
        z = np.nan_to_num((values - base.center) / base.scale)
        order = [i for i in np.argsort(-ratio, kind="stable")[:top] if ratio[i] > self.threshold]
        total = float(ratio[order].sum()) if order else 1.0
        out = []
        for i in order:
            limit = self.center[i] + (self.limits[0, i] if dev[i] > 0 else -self.limits[1, i])
            slope = (self.center[i] + dev[i]) * base.scale[i]
            out.append(Contribution(base.columns[i], float(values[i]), float(base.center[i]), float(z[i]),
                                    float(ratio[i] / total), trend=float(slope),
                                    limit=float(limit * base.scale[i])))  # fmt: skip
        return tuple(out)

    def state(self) -> ModelState:
        base = _require_fitted(self.baseline)
        params = {"config": asdict(self.config), "columns": base.columns, "threshold": self.threshold}
        arrays = {"center": base.center, "scale": base.scale, "slope_center": self.center, "limits": self.limits}
        return ModelState(self.kind, params, arrays)

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        a = state.arrays
        return cls(TrendConfig(**state.params["config"]), _baseline_from(state), a["slope_center"], a["limits"],
                   float(state.params["threshold"]))  # fmt: skip


def _tail(deviations: FloatArray, quantile: float) -> float:
    """The ``quantile`` of the positive deviations; ∞ when there are none (a signal that never moved that
    way in its history, e.g. a constant one, is left out that way rather than alarming at any move).

    >>> _tail(np.array([-1.0, 0.0, 1.0, 2.0, 3.0]), 0.5), _tail(np.zeros(3), 0.9)
    (2.0, inf)
    """
    positive = deviations[deviations > 0]
    return float(np.quantile(positive, quantile)) if positive.size else float("inf")


AnyDetector = (
    EwmaDetector | PcaDetector | IsolationForestDetector | AutoencoderDetector | StuckSignalDetector | TrendDetector
)


# --- alarms: de-duplication and explanation --------------------------------------------------------


_CONTRIBUTION = N_(
    "{signal}: {sigma:+.1f}σ from normal ({value:.4g} vs normal {normal:.4g}), {share:.0%} of the deviation"
)


_STUCK = N_("{signal}: unchanged at {value:.4g} for {unchanged} points (alarm limit {limit:.0f})")
_TREND = N_("{signal}: moving {trend:+.3g} per point (alarm limit {limit:+.3g})")


@dataclass(frozen=True)
class Contribution:
    """One signal's part in an alarm: its value, the normal value, how many robust sigmas apart, and its
    share of the squared deviation over all signals. A stuck signal (:class:`StuckSignalDetector`) also
    says for how many points it has not changed (``unchanged``) and its limit; a trending one
    (:class:`TrendDetector`) its slope per point (``trend``) and the slope that alarms (``limit``)."""

    signal: str
    value: float
    normal: float
    sigma: float
    share: float
    unchanged: int = 0
    limit: float = 0.0
    trend: float = 0.0

    @property
    def template(self) -> str:
        """The untranslated sentence this contribution is told with."""
        return _STUCK if self.unchanged else _TREND if self.trend else _CONTRIBUTION

    def describe(self) -> str:
        """A sentence in the current locale.

        >>> Contribution("temp", 56.0, 50.0, 6.0, 0.9).describe()
        'temp: 정상 대비 +6.0σ (값 56, 정상 50), 편차의 90%'
        """
        return gettext(self.template).format(**asdict(self))


@dataclass(frozen=True)
class AlarmEvent:
    """Consecutive alarm points merged into one event; positions are row positions in the batch,
    ``start_label`` etc. the batch's index labels (e.g. timestamps). ``end`` is inclusive."""

    start: int
    end: int
    peak: int
    peak_score: float
    points: int
    start_label: Any = None
    end_label: Any = None
    peak_label: Any = None
    explanation: tuple[Contribution, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able event; labels as text, each contribution with its sentence in Korean and English.

        >>> AlarmEvent(3, 5, 4, 7.5, 3, "a", "c", "b").as_dict()["peak_label"]
        'b'
        """
        plain = {k: v for k, v in asdict(self).items() if k != "explanation"}
        plain |= {k: None if plain[k] is None else str(plain[k]) for k in ("start_label", "end_label", "peak_label")}
        plain["explanation"] = [
            asdict(c) | {"message_ko": translate_in("ko", c.template).format(**asdict(c)),
                         "message_en": translate_in("en", c.template).format(**asdict(c))}
            for c in self.explanation
        ]  # fmt: skip
        return plain


def merge_flags(flags: ArrayLike, scores: ArrayLike, gap: int = 0, min_points: int = 1) -> list[AlarmEvent]:
    """Merge flagged points into events: runs separated by at most ``gap`` unflagged points join; events
    with fewer than ``min_points`` flagged points are dropped. The peak is the highest score in the event.

    >>> ev = merge_flags([0, 1, 1, 0, 1, 0, 0, 0, 1], [0, 5, 7, 0, 9, 0, 0, 0, 4], gap=1)
    >>> [(e.start, e.end, e.peak, e.peak_score, e.points) for e in ev]
    [(1, 4, 4, 9.0, 3), (8, 8, 8, 4.0, 1)]
    >>> merge_flags([0, 1, 1, 0, 1, 0, 0, 0, 1], [0] * 9, gap=1, min_points=2)[0].end
    4
    """
    f = np.asarray(flags, dtype=bool).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if f.shape != s.shape:
        raise Invalid(N_("Truth and prediction must be non-empty and of the same length."))
    idx = np.flatnonzero(f)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap + 1)
    events = []
    for group in np.split(idx, breaks + 1):
        if group.size < min_points:
            continue
        start, end = int(group[0]), int(group[-1])
        peak = start + int(np.argmax(s[start : end + 1]))
        events.append(AlarmEvent(start, end, peak, float(s[peak]), int(group.size)))
    return events


def explain_row(baseline: RobustBaseline, row: pd.DataFrame, top: int = 3) -> tuple[Contribution, ...]:
    """The ``top`` signals of a one-row frame furthest from normal, in robust sigmas.

    >>> b = RobustBaseline(["a", "b"], np.array([0.0, 10.0]), np.array([1.0, 2.0]))
    >>> [(c.signal, c.sigma, round(c.share, 2)) for c in explain_row(b, pd.DataFrame({"a": [1.0], "b": [4.0]}))]
    [('b', -3.0, 0.9), ('a', 1.0, 0.1)]
    """
    z = baseline.z(row)[0]
    values = row[baseline.columns].to_numpy(dtype=float)[0]
    total = float(np.sum(z**2)) or 1.0
    order = np.argsort(-np.abs(z), kind="stable")[:top]
    return tuple(
        Contribution(baseline.columns[i], float(values[i]), float(baseline.center[i]), float(z[i]),
                     float(z[i] ** 2 / total))
        for i in order
    )  # fmt: skip


def explain_at(detector: AnyDetector, batch: pd.DataFrame, position: int, top: int = 3) -> tuple[Contribution, ...]:
    """Why row ``position`` of the batch ``detector`` scored last is anomalous: the stuck signals for a
    :class:`StuckSignalDetector`, else the signals furthest from normal (:func:`explain_row`)."""
    if isinstance(detector, StuckSignalDetector | TrendDetector):
        return detector.explain(batch, position, top)
    return explain_row(_require_fitted(detector.baseline), batch.iloc[[position]], top)


def alarms(
    detector: AnyDetector,
    batch: pd.DataFrame,
    gap: int = 5,
    min_points: int = 1,
    top: int = 3,
) -> list[AlarmEvent]:
    """Score ``batch``, flag points above the detector's threshold, merge them into events and explain
    each event at its peak (see :func:`merge_flags` and :func:`explain_row`)."""
    scores = detector.score(batch)
    labels = batch.index
    out = []
    for ev in merge_flags(scores > detector.threshold, scores, gap, min_points):
        why = explain_at(detector, batch, ev.peak, top)
        out.append(AlarmEvent(ev.start, ev.end, ev.peak, ev.peak_score, ev.points, labels[ev.start],
                              labels[ev.end], labels[ev.peak], why))  # fmt: skip
    return out


# --- SKAB: the standard outlier-detection protocol --------------------------------------------------

#: SKAB's proposed leaderboard, outlier detection (F1, FAR %, MAR %), from shared/datasets/skab/SOURCE.md.
SKAB_LEADERBOARD: dict[str, tuple[float, float, float]] = {
    "Conv-AE": (0.78, 13.55, 28.02), "MSET": (0.78, 39.73, 14.13), "T²+Q (PCA)": (0.76, 26.62, 24.92),
    "LSTM-AE": (0.74, 29.96, 25.92), "T²": (0.66, 19.21, 42.6), "LSTM-VAE": (0.56, 9.13, 55.03),
    "Vanilla LSTM": (0.54, 12.54, 59.53), "Vanilla AE": (0.39, 2.59, 75.15), "MSCRED": (0.36, 49.94, 69.88),
    "Isolation Forest": (0.29, 2.56, 82.89),
}  # fmt: skip
SKAB_PROTOCOL = "per file: fit first 400 rows, score the rest; point-wise F1/FAR/MAR pooled over 34 files"


def evaluate_skab(
    factory: Callable[[], AnyDetector],
    experiments: Sequence[SkabExperiment] | None = None,
) -> EvalResult:
    """SKAB's outlier-detection protocol: one fresh detector per file, fitted on its first 400 rows with
    the threshold calibrated on those rows only; every later row flagged or not, pooled over files."""
    files = list(experiments) if experiments is not None else load_skab()
    truth, preds = [], []
    fit_s = score_s = 0.0
    rows = 0
    name = ""
    for exp in files:
        train, test = exp.split()
        det = factory()
        name = det.kind
        with stopwatch() as t_fit:
            det.fit(train[list(SKAB_SENSORS)])
        with stopwatch() as t_score:
            flags = det.detect(test[list(SKAB_SENSORS)])
        fit_s, score_s, rows = fit_s + t_fit[0], score_s + t_score[0], rows + len(test)
        truth.append(test["anomaly"].to_numpy())
        preds.append(flags.astype(int))
    m = skab_outlier_metrics(truth, preds)
    best = max(SKAB_LEADERBOARD.items(), key=lambda kv: kv[1][0])
    return EvalResult(
        model=name, dataset=f"SKAB ({len(files)} files)", protocol=SKAB_PROTOCOL,
        metrics={"f1": m.f1, "far": m.far, "mar": m.mar},
        reference={"best": f"{best[0]} F1 {best[1][0]:.2f} / FAR {best[1][1]:.2f} / MAR {best[1][2]:.2f}"},
        fit_seconds=fit_s, score_rows=rows, score_seconds=score_s,
        extra={"tp": m.tp, "fp": m.fp, "fn": m.fn, "tn": m.tn},
    )  # fmt: skip


#: Candidates for :func:`evaluate_skab_nested`, fixed before it was run: EWMA weight × calibration
#: quantile × margin (36 configs; the default is one of them).
SKAB_EWMA_GRID: tuple[EwmaConfig, ...] = tuple(
    EwmaConfig(alpha=a, quantile=q, margin=m)
    for a in (0.05, 0.1, 0.2, 0.3) for q in (0.99, 0.995, 1.0) for m in (1.0, 1.5, 2.0)
)  # fmt: skip
SKAB_NESTED_PROTOCOL = (
    SKAB_PROTOCOL + "; config per file chosen by pooled F1 on the other 33 files (leave-one-file-out)"
)


def leave_one_out_choice(tp: NDArray[Any], fp: NDArray[Any], fn: NDArray[Any]) -> NDArray[np.intp]:
    """For each file j, the candidate with the best F1 pooled over every file *except* j.

    ``tp``, ``fp``, ``fn``: counts of shape (candidates, files). File j's own counts never enter its choice;
    ties go to the earlier candidate.

    >>> tp = np.array([[9, 9, 0], [5, 5, 9]]); fp = np.zeros((2, 3)); fn = 9 - tp
    >>> leave_one_out_choice(tp, fp, fn).tolist()  # file 2 alone would pick candidate 1; files 0 and 1 pick 0
    [1, 1, 0]
    """
    tp, fp, fn = (np.asarray(a, dtype=float) for a in (tp, fp, fn))
    if tp.ndim != 2 or tp.shape[1] < 2 or not tp.shape == fp.shape == fn.shape:
        raise Invalid(N_("Give one prediction per labelled file."))
    others = [a.sum(axis=1, keepdims=True) - a for a in (tp, fp, fn)]  # (candidates, files): all but file j
    denom = others[0] + (others[1] + others[2]) / 2
    f1 = np.divide(others[0], denom, out=np.zeros_like(denom), where=denom > 0)
    return np.asarray(np.argmax(f1, axis=0), dtype=np.intp)


def evaluate_skab_nested(
    configs: Sequence[EwmaConfig] = SKAB_EWMA_GRID,
    experiments: Sequence[SkabExperiment] | None = None,
) -> EvalResult:
    """SKAB's protocol with the EWMA settings chosen by nested, leave-one-file-out validation.

    Every candidate is fitted per file on its first 400 rows, threshold calibrated on those rows only,
    exactly as in :func:`evaluate_skab`. Which candidate scores file j is chosen by F1 pooled over the
    *other* files (:func:`leave_one_out_choice`), so no file's labels choose its own settings. Pooled
    F1 / FAR / MAR of the chosen predictions are reported; ``extra["chosen"]`` counts the choices.
    """
    files = list(experiments) if experiments is not None else load_skab()
    truth = [exp.split()[1]["anomaly"].to_numpy() == 1 for exp in files]
    counts = np.zeros((3, len(configs), len(files)))
    flags: list[list[NDArray[np.bool_]]] = []
    fit_s = score_s = 0.0
    for c, cfg in enumerate(configs):
        flags.append([])
        for f, exp in enumerate(files):
            train, test = exp.split()
            with stopwatch() as t_fit:
                det = EwmaDetector(cfg).fit(train[list(SKAB_SENSORS)])
            with stopwatch() as t_score:
                pred = det.detect(test[list(SKAB_SENSORS)])
            fit_s, score_s = fit_s + t_fit[0], score_s + t_score[0]
            t = truth[f]
            counts[:, c, f] = (np.sum(pred & t), np.sum(pred & ~t), np.sum(~pred & t))
            flags[c].append(pred)
    chosen = leave_one_out_choice(*counts)
    m = skab_outlier_metrics(truth, [flags[c][f].astype(int) for f, c in enumerate(chosen)])
    picked = {f"alpha={configs[c].alpha:g} q={configs[c].quantile:g} margin={configs[c].margin:g}":
              int(np.sum(chosen == c)) for c in np.unique(chosen)}  # fmt: skip
    return EvalResult(
        model=f"{EwmaDetector.kind} (nested)", dataset=f"SKAB ({len(files)} files)", protocol=SKAB_NESTED_PROTOCOL,
        metrics={"f1": m.f1, "far": m.far, "mar": m.mar},
        fit_seconds=fit_s, score_rows=sum(len(t) for t in truth) * len(configs), score_seconds=score_s,
        extra={"tp": m.tp, "fp": m.fp, "fn": m.fn, "tn": m.tn, "candidates": len(configs), "chosen": picked},
    )  # fmt: skip


def always_alarm_skab(experiments: Sequence[SkabExperiment] | None = None) -> EvalResult:
    """The trivial baseline under SKAB's protocol: every test point flagged (half the test points are
    anomalous, so this alone reaches F1 ≈ 0.70)."""
    files = list(experiments) if experiments is not None else load_skab()
    truth = [exp.split()[1]["anomaly"].to_numpy() for exp in files]
    m = skab_outlier_metrics(truth, [np.ones_like(t) for t in truth])
    return EvalResult(
        model="always alarm (baseline)", dataset=f"SKAB ({len(files)} files)", protocol=SKAB_PROTOCOL,
        metrics={"f1": m.f1, "far": m.far, "mar": m.mar}, score_rows=sum(len(t) for t in truth),
    )  # fmt: skip


_CONTRACT: tuple[type[Detector], ...] = (
    EwmaDetector,
    PcaDetector,
    IsolationForestDetector,
    AutoencoderDetector,
    StuckSignalDetector,
    TrendDetector,
)
