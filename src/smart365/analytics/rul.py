"""Remaining useful life (RUL) from run-to-failure histories, evaluated on NASA C-MAPSS.

Pipeline, all fitted on training units only:

1. **Operating regimes**: the operational settings are clustered (regimes found by rounding, refined by
   k-means); each sensor is z-scored per regime (FD002/FD004 have six regimes, FD001/FD003 one).
   Sensors constant within a regime are dropped.
2. **Causal window features** per unit and cycle t, from cycles ≤ t only: last value, mean over the
   last 5 cycles, mean / standard deviation / least-squares slope over the last ``window`` cycles, and
   the cycle number.
3. **Gradient boosting** (LightGBM) on the piecewise-linear target min(RUL, cap), with the number of
   trees chosen by early stopping on a unit-wise validation split of the training units; two quantile
   models give an interval.

The standard protocol (:func:`evaluate_cmapss`) predicts one RUL per test unit at its last cycle and
compares it with ``RUL_FDxxx.txt``.

>>> from smart365.analytics.datasets import load_cmapss  # doctest: +SKIP
>>> data = load_cmapss("FD001")  # doctest: +SKIP
>>> model = RulModel().fit(data.train)  # doctest: +SKIP
>>> model.predict_last(data.test)[:3]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from sklearn.cluster import KMeans

from smart365.analytics.contract import EvalResult, Model, ModelState, register, stopwatch
from smart365.analytics.datasets import (
    RUL_CAP,
    SENSORS,
    SETTINGS,
    CmapssData,
    last_cycles,
    load_cmapss,
    rul_targets,
)
from smart365.analytics.metrics import nasa_score, rmse
from smart365.core.errors import Invalid
from smart365.core.i18n import N_

FloatArray = NDArray[np.float64]
SHORT_WINDOW = 5
# Rounding that separates C-MAPSS operating conditions: altitude (kft), Mach, throttle resolver angle.
_SETTING_DECIMALS = (0, 2, 0)
_MIN_REGIME_SHARE = 0.005


# --- operating regimes and normalisation ---------------------------------------------------------


@dataclass
class RegimeNormalizer:
    """Assigns each row to an operating regime and z-scores the sensors within the regime."""

    centers: FloatArray  # (k, 3) regime centres in scaled setting space
    scale: FloatArray  # (3,) setting scale used for distances
    means: FloatArray  # (k, s) sensor means per regime
    stds: FloatArray  # (k, s) sensor standard deviations per regime
    sensors: list[str]

    @classmethod
    def fit(cls, frame: pd.DataFrame, sensors: Sequence[str] = SENSORS, seed: int = 0) -> RegimeNormalizer:
        """Find the regimes in ``frame``'s settings and per-regime sensor statistics.

        >>> f = pd.DataFrame({"setting_1": [0.0, 0.0, 20.0, 20.0], "setting_2": [0.0] * 4,
        ...                   "setting_3": [100.0] * 4, "s1": [1.0, 3.0, 10.0, 30.0]})
        >>> norm = RegimeNormalizer.fit(f, sensors=["s1"])
        >>> norm.transform(f).ravel().tolist()
        [-1.0, 1.0, -1.0, 1.0]
        """
        settings = frame[list(SETTINGS)].to_numpy(dtype=float)
        scale = np.maximum(settings.std(axis=0), 1e-3)
        scaled = settings / scale
        init = _regime_seeds(settings, scaled)
        km = KMeans(n_clusters=len(init), init=init, n_init=1, random_state=seed).fit(scaled)
        regimes = km.labels_
        values = frame[list(sensors)].to_numpy(dtype=float)
        k = len(init)
        means = np.stack([values[regimes == r].mean(axis=0) for r in range(k)])
        stds = np.stack([values[regimes == r].std(axis=0) for r in range(k)])
        keep = np.all(stds > 1e-6 * np.maximum(np.abs(means), 1.0), axis=0)
        if not keep.any():
            raise Invalid(N_("No sensor varies in the training data."))
        kept = [s for s, k_ in zip(sensors, keep, strict=True) if k_]
        return cls(km.cluster_centers_, scale, means[:, keep], stds[:, keep], kept)

    @property
    def n_regimes(self) -> int:
        return int(self.centers.shape[0])

    def regimes(self, frame: pd.DataFrame) -> NDArray[np.intp]:
        """The nearest regime centre of each row."""
        scaled = frame[list(SETTINGS)].to_numpy(dtype=float) / self.scale
        dist = ((scaled[:, None, :] - self.centers[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(dist.argmin(axis=1), dtype=np.intp)

    def transform(self, frame: pd.DataFrame) -> FloatArray:
        """Per-regime z-scores of the kept sensors, shape (rows, sensors)."""
        r = self.regimes(frame)
        values = frame[self.sensors].to_numpy(dtype=float)
        return np.asarray((values - self.means[r]) / self.stds[r], dtype=float)

    def arrays(self) -> dict[str, FloatArray]:
        return {"centers": self.centers, "scale": self.scale, "means": self.means, "stds": self.stds}


def _regime_seeds(settings: FloatArray, scaled: FloatArray) -> FloatArray:
    """Initial regime centres: the frequent combinations of rounded settings."""
    rounded = np.column_stack([np.round(settings[:, i], d) + 0.0 for i, d in enumerate(_SETTING_DECIMALS)])
    _combos, inverse, counts = np.unique(rounded, axis=0, return_inverse=True, return_counts=True)
    frequent = np.flatnonzero(counts >= _MIN_REGIME_SHARE * len(settings))
    return np.stack([scaled[inverse.ravel() == c].mean(axis=0) for c in frequent])


# --- causal window features -----------------------------------------------------------------------


def feature_names(sensors: Sequence[str], window: int) -> list[str]:
    """Column names of :func:`window_features`, in order."""
    kinds = ["last", f"mean{SHORT_WINDOW}", f"mean{window}", f"std{window}", f"slope{window}"]
    return [*(f"{s}_{k}" for k in kinds for s in sensors), "cycle"]


def _unit_features(z: FloatArray, cycles: FloatArray, window: int) -> FloatArray:
    """Features of one unit's rows; row t uses rows ≤ t only (windows are padded with NaN on the left)."""
    s = z.shape[1]
    padded = np.vstack([np.full((window - 1, s), np.nan), z])
    win = sliding_window_view(padded, window, axis=0)  # (n, s, window), oldest first
    valid = ~np.isnan(win)
    count = valid.sum(axis=2)
    mean = np.nansum(win, axis=2) / count
    dev = np.where(valid, win - mean[:, :, None], 0.0)
    std = np.sqrt((dev**2).sum(axis=2) / count)
    t = np.arange(window, dtype=float)
    t_mean = (valid * t).sum(axis=2) / count
    t_dev = np.where(valid, t - t_mean[:, :, None], 0.0)
    denom = (t_dev**2).sum(axis=2)
    slope = np.divide((t_dev * dev).sum(axis=2), denom, out=np.zeros_like(denom), where=denom > 0)
    short = win[:, :, -SHORT_WINDOW:]
    short_mean = np.nansum(short, axis=2) / (~np.isnan(short)).sum(axis=2)
    return np.hstack([z, short_mean, mean, std, slope, cycles[:, None]])


def window_features(frame: pd.DataFrame, z: FloatArray, window: int) -> FloatArray:
    """Stack :func:`_unit_features` over units; rows keep ``frame``'s order (which must be unit, cycle).

    >>> f = pd.DataFrame({"unit": [1, 1, 1, 2], "cycle": [1, 2, 3, 1]})
    >>> x = window_features(f, np.array([[0.0], [1.0], [2.0], [5.0]]), window=2)
    >>> x[:, 3].tolist(), x[:, 4].tolist()  # std and slope over the last two cycles
    ([0.0, 0.5, 0.5, 0.0], [0.0, 1.0, 1.0, 0.0])
    """
    _check_order(frame)
    units = frame["unit"].to_numpy()
    cycles = frame["cycle"].to_numpy(dtype=float)
    bounds = np.flatnonzero(np.diff(units)) + 1
    parts = [
        _unit_features(zu, cu, window) for zu, cu in zip(np.split(z, bounds), np.split(cycles, bounds), strict=True)
    ]
    return np.vstack(parts) if parts else np.zeros((0, 5 * z.shape[1] + 1))


def regime_history(frame: pd.DataFrame, regimes: NDArray[np.intp], n_regimes: int) -> FloatArray:
    """Cycles each unit has spent in each operating regime so far (rows ≤ t), shape (rows, n_regimes).

    Wear accrues faster in some conditions, so time per regime says more than the cycle count alone
    (the "operating history" features of FD002/FD004 work). Rows must be sorted by unit and cycle.

    >>> f = pd.DataFrame({"unit": [1, 1, 1, 2], "cycle": [1, 2, 3, 1]})
    >>> regime_history(f, np.array([0, 1, 1, 0]), 2).tolist()
    [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 0.0]]
    """
    _check_order(frame)
    onehot = np.zeros((len(frame), n_regimes))
    onehot[np.arange(len(frame)), regimes] = 1.0
    counts = pd.DataFrame(onehot).groupby(frame["unit"].to_numpy()).cumsum()
    return np.asarray(counts.to_numpy(), dtype=float)


def _check_order(frame: pd.DataFrame) -> None:
    units, cycles = frame["unit"].to_numpy(), frame["cycle"].to_numpy()
    same = units[1:] == units[:-1]
    if np.any(units[1:] < units[:-1]) or np.any(same & (cycles[1:] <= cycles[:-1])):
        raise Invalid(N_("Rows must be sorted by unit and cycle."))


# --- unit-wise split ---------------------------------------------------------------------------------


def unit_split(
    units: Sequence[int] | NDArray[Any], val_fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Split distinct unit ids into (train units, validation units), disjoint, at random.

    >>> tr, va = unit_split([1, 1, 2, 3, 4, 5], val_fraction=0.4, seed=0)
    >>> sorted(tr.tolist() + va.tolist()), len(va), set(tr) & set(va)
    ([1, 2, 3, 4, 5], 2, set())
    """
    distinct = np.unique(np.asarray(units, dtype=np.int64))
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(distinct)
    n_val = min(max(1, round(val_fraction * distinct.size)), distinct.size - 1)
    return np.sort(shuffled[n_val:]), np.sort(shuffled[:n_val])


# --- the model -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulConfig:
    """Hyper-parameters. ``max_trees`` is a bound: early stopping on validation units picks the count.

    The default window (100 cycles) did well in unit-wise CV on all four C-MAPSS training sets;
    :func:`select_config` chooses per data set.
    """

    window: int = 100
    cap: float = RUL_CAP
    num_leaves: int = 15
    min_child_samples: int = 50
    learning_rate: float = 0.05
    max_trees: int = 3000
    feature_fraction: float = 0.7
    quantiles: tuple[float, ...] = (0.1, 0.9)
    val_fraction: float = 0.2
    seed: int = 0
    threads: int = 2
    refit: bool = True  # False: keep the early-stopped model (fitted without the inner validation units)
    regime_history: bool = False  # add cycles spent per operating regime (only where there are several regimes)

    def lgb_params(self, objective: str = "regression", alpha: float = 0.5) -> dict[str, Any]:
        return {
            "objective": objective, "alpha": alpha, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction, "bagging_fraction": 0.8, "bagging_freq": 1,
            "lambda_l2": 1.0, "num_threads": self.threads, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "verbose": -1,
        }  # fmt: skip


@register
@dataclass
class RulModel:
    """Remaining-useful-life regressor with a prediction interval (see the module docstring).

    ``fit(history)`` takes run-to-failure trajectories (unit, cycle, setting_1..3, s1..s21; every unit
    ends at failure). ``predict(batch)`` returns the RUL at every row using that unit's rows up to it.
    """

    kind: ClassVar[str] = "rul.lightgbm"
    config: RulConfig = field(default_factory=RulConfig)
    normalizer: RegimeNormalizer | None = None
    boosters: dict[str, lgb.Booster] = field(default_factory=dict)
    n_trees: int = 0

    def fit(self, history: pd.DataFrame) -> Self:
        """Fit regimes, then the point model (trees by early stopping) and the quantile models."""
        cfg = self.config
        self.normalizer = RegimeNormalizer.fit(history, seed=cfg.seed)
        x = self._features(history)
        y = rul_targets(history, cfg.cap)
        inner, _held = unit_split(history["unit"].to_numpy(), cfg.val_fraction, cfg.seed)
        rows_in = np.isin(history["unit"].to_numpy(), inner)
        stopped = _early_stopped(cfg, x[rows_in], y[rows_in], x[~rows_in], y[~rows_in])
        self.n_trees = max(1, int(stopped.best_iteration or cfg.max_trees))
        names = self.feature_names()
        full = lgb.Dataset(x, y, feature_name=names, free_raw_data=False)
        self.boosters = {"point": lgb.train(cfg.lgb_params(), full, self.n_trees) if cfg.refit else stopped}
        for q in cfg.quantiles:
            self.boosters[f"q{q:g}"] = lgb.train(cfg.lgb_params("quantile", q), full, self.n_trees)
        return self

    def _uses_history(self) -> bool:
        return self.config.regime_history and self.normalizer is not None and self.normalizer.n_regimes > 1

    def feature_names(self) -> list[str]:
        """Names of the model's input columns, in order."""
        if self.normalizer is None:
            raise Invalid(N_("The model is not fitted yet."))
        names = feature_names(self.normalizer.sensors, self.config.window)
        if self._uses_history():
            names += [f"cycles_regime{r}" for r in range(self.normalizer.n_regimes)]
        return names

    def _features(self, frame: pd.DataFrame) -> FloatArray:
        norm = self.normalizer
        if norm is None:
            raise Invalid(N_("The model is not fitted yet."))
        x = window_features(frame, norm.transform(frame), self.config.window)
        if self._uses_history():
            x = np.hstack([x, regime_history(frame, norm.regimes(frame), norm.n_regimes)])
        return x

    def _booster(self, name: str) -> lgb.Booster:
        if name not in self.boosters:
            raise Invalid(N_("The model is not fitted yet."))
        return self.boosters[name]

    def predict(self, batch: pd.DataFrame) -> FloatArray:
        """RUL at every row of ``batch`` (rows sorted by unit and cycle), clipped to [0, cap]."""
        pred = self._booster("point").predict(self._features(batch), num_iteration=self.n_trees)
        return np.clip(np.asarray(pred, dtype=float), 0.0, self.config.cap)

    def predict_interval(self, batch: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(low, point, high) per row; low/high from the quantile models (default 10 % and 90 %)."""
        if not self.config.quantiles:
            raise Invalid(N_("This model was fitted without quantile models."))
        x = self._features(batch)
        lo_q, hi_q = min(self.config.quantiles), max(self.config.quantiles)
        names = (f"q{lo_q:g}", "point", f"q{hi_q:g}")
        preds = [np.asarray(self._booster(n).predict(x, num_iteration=self.n_trees), dtype=float) for n in names]
        lo, mid, hi = (np.clip(p, 0.0, self.config.cap) for p in preds)
        return np.minimum(lo, mid), mid, np.maximum(hi, mid)

    def predict_last(self, batch: pd.DataFrame) -> FloatArray:
        """One RUL per unit at its last cycle, in unit order (the C-MAPSS evaluation points)."""
        return self.predict(batch)[last_cycles(batch)]

    def state(self) -> ModelState:
        """Config, regime statistics and the LightGBM models as text (no pickle)."""
        if self.normalizer is None:
            raise Invalid(N_("The model is not fitted yet."))
        params = {"config": asdict(self.config), "sensors": self.normalizer.sensors, "n_trees": self.n_trees}
        texts = {name: b.model_to_string() for name, b in self.boosters.items()}
        return ModelState(self.kind, params, self.normalizer.arrays(), texts)

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        """Rebuild a fitted model from :meth:`state`."""
        cfg_dict = dict(state.params["config"])
        cfg_dict["quantiles"] = tuple(cfg_dict["quantiles"])
        a = state.arrays
        norm = RegimeNormalizer(a["centers"], a["scale"], a["means"], a["stds"], list(state.params["sensors"]))
        boosters = {name: lgb.Booster(model_str=text) for name, text in state.texts.items()}
        return cls(RulConfig(**cfg_dict), norm, boosters, int(state.params["n_trees"]))


def _early_stopped(
    cfg: RulConfig, x_tr: FloatArray, y_tr: FloatArray, x_va: FloatArray, y_va: FloatArray
) -> lgb.Booster:
    """A booster trained until validation RMSE stops improving (patience 100 rounds)."""
    train = lgb.Dataset(x_tr, y_tr)
    valid = lgb.Dataset(x_va, y_va, reference=train)
    return lgb.train(
        {**cfg.lgb_params(), "metric": "rmse"}, train, cfg.max_trees, valid_sets=[valid],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )  # fmt: skip


_CONTRACT: type[Model] = RulModel  # static check: RulModel follows the contract


# --- hyper-parameter selection and the standard protocol ----------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Outcome of :func:`select_config`: the chosen config and each candidate's validation RMSE."""

    best: RulConfig
    scores: list[tuple[RulConfig, float]]


def unit_folds(units: Sequence[int] | NDArray[Any], folds: int, seed: int) -> list[NDArray[np.int64]]:
    """Partition distinct unit ids into ``folds`` disjoint groups at random (unit-wise K-fold).

    >>> parts = unit_folds([1, 1, 2, 3, 4, 5], folds=2, seed=0)
    >>> sorted(len(p) for p in parts), sorted(np.concatenate(parts).tolist())
    ([2, 3], [1, 2, 3, 4, 5])
    """
    distinct = np.unique(np.asarray(units, dtype=np.int64))
    if not 2 <= folds <= distinct.size:
        raise Invalid(N_("Cannot split {units} units into {folds} folds."), units=distinct.size, folds=folds)
    shuffled = np.random.default_rng(seed).permutation(distinct)
    return [np.sort(part) for part in np.array_split(shuffled, folds)]


def select_config(train: pd.DataFrame, candidates: Sequence[RulConfig], folds: int = 3, seed: int = 1) -> Selection:
    """Pick the candidate with the lowest unit-wise cross-validated RMSE on the *training* units.

    The score is the RMSE against the capped target over every cycle of the held-out units (every
    cycle = every possible truncation point). The test set is never touched. Each fold's model fits on
    the other units and early-stops on a further inner split of them.
    """
    if not candidates:
        raise Invalid(N_("Give at least one candidate configuration."))
    groups = unit_folds(train["unit"].to_numpy(), folds, seed)
    in_group = [train["unit"].isin(g).to_numpy() for g in groups]
    scores = []
    for cfg in candidates:
        errors = []
        for held in in_group:
            fit_part = train[~held].reset_index(drop=True)
            val_part = train[held].reset_index(drop=True)
            model = RulModel(replace(cfg, quantiles=(), refit=False)).fit(fit_part)
            errors.append(np.mean((rul_targets(val_part, cfg.cap) - model.predict(val_part)) ** 2))
        scores.append((cfg, float(np.sqrt(np.mean(errors)))))
    best = min(scores, key=lambda item: item[1])[0]
    return Selection(best, scores)


def cmapss_metrics(truth: FloatArray, pred: FloatArray, cap: float) -> dict[str, float]:
    """RMSE and NASA score against the true RUL as given (the standard) and, for comparison with papers
    that do so, against the true RUL capped at ``cap``; ``cap_floor_rmse`` is the RMSE a perfect model of
    the capped target would still make against the uncapped truth.

    >>> m = cmapss_metrics(np.array([100.0, 150.0]), np.array([100.0, 125.0]), cap=125)
    >>> m["rmse"] == m["cap_floor_rmse"], m["rmse_capped_truth"]
    (True, 0.0)
    """
    capped = np.minimum(truth, cap)
    return {
        "rmse": rmse(truth, pred),
        "nasa_score": nasa_score(truth, pred),
        "rmse_capped_truth": rmse(capped, pred),
        "nasa_score_capped_truth": nasa_score(capped, pred),
        "cap_floor_rmse": rmse(truth, capped),
    }


def evaluate_cmapss(data: CmapssData, factory: Callable[[], RulModel]) -> EvalResult:
    """The standard protocol: fit on ``train``, predict each test unit's last cycle, score vs ``RUL``.

    The headline metrics use the true RUL uncapped, as given in ``RUL_FDxxx.txt`` (see
    :func:`cmapss_metrics` for the capped-truth variants). ``interval_coverage`` is the share of true
    RULs inside the model's quantile interval.
    """
    model = factory()
    with stopwatch() as fit_time:
        model.fit(data.train)
    with stopwatch() as score_time:
        per_row = model.predict(data.test)
    idx = last_cycles(data.test)
    metrics = cmapss_metrics(data.test_rul, per_row[idx], model.config.cap)
    if model.config.quantiles:
        lo, _mid, hi = model.predict_interval(data.test)
        metrics["interval_coverage"] = float(np.mean((data.test_rul >= lo[idx]) & (data.test_rul <= hi[idx])))
    norm = model.normalizer
    return EvalResult(
        model=model.kind, dataset=f"C-MAPSS {data.subset}",
        protocol=f"official test, last cycle per unit, train RUL capped at {model.config.cap:g}",
        metrics=metrics, fit_seconds=fit_time[0], score_rows=len(data.test), score_seconds=score_time[0],
        extra={"n_trees": model.n_trees, "sensors": len(norm.sensors) if norm else 0,
               "regimes": norm.n_regimes if norm else 0},
    )  # fmt: skip


def run_cmapss(subset: str, candidates: Sequence[RulConfig] | None = None) -> tuple[EvalResult, Selection]:
    """Load a subset, select a config on training units only, then run :func:`evaluate_cmapss`."""
    data = load_cmapss(subset)
    selection = select_config(data.train, candidates or [RulConfig()])
    return evaluate_cmapss(data, lambda: RulModel(selection.best)), selection
