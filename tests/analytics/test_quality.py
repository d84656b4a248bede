"""Quality prediction: data-quality findings (a leak must be caught), threshold by hand, model behaviour, SECOM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from smart365.analytics import quality
from smart365.analytics.contract import Predictor, load
from smart365.analytics.datasets import load_secom
from smart365.analytics.metrics import balanced_error_rate
from smart365.analytics.quality import (
    QualityConfig,
    QualityModel,
    ber_threshold,
    data_quality,
    logistic_fit_predict,
    quality_fit_predict,
    secom_cv,
    secom_time_split,
)
from smart365.core.errors import Invalid
from smart365.core.i18n import use_locale
from tests.analytics.conftest import require_dataset

FAST = QualityConfig(target="fail", max_trees=80, folds=3, threads=1)


def process(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Defects driven by temperature and pressure; humidity is noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"temp": rng.normal(0, 1, n), "pressure": rng.normal(0, 1, n), "humid": rng.normal(0, 1, n)})
    risk = 1.5 * frame.temp - 1.0 * frame.pressure + rng.normal(0, 1, n)
    frame["fail"] = (risk > 2.2).astype(int)
    return frame


def test_data_quality_reports_what_looks_wrong() -> None:
    frame = process(300)
    frame["line"] = "L1"  # constant
    frame["memo"] = np.where(np.arange(300) < 200, np.nan, 1.0)  # 2/3 missing
    frame["serial"] = [f"S{i:04d}" for i in range(300)]  # identifier
    frame["rework"] = frame.fail * 10 + np.random.default_rng(1).normal(0, 0.1, 300)  # written after inspection
    frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)  # five duplicated rows (serial repeats too)
    found = {(f.kind, f.column) for f in data_quality(frame, "fail")}
    assert ("constant", "line") in found and ("missing", "memo") in found
    assert ("duplicate_rows", None) in found and ("leak", "rework") in found
    assert not {("leak", "temp"), ("leak", "pressure"), ("leak", "humid")} & found  # predictive, not a leak
    dupes = next(f for f in data_quality(frame, "fail") if f.kind == "duplicate_rows")
    assert dupes.params["count"] == 5
    with use_locale("ko"):
        assert "결측" in next(f for f in data_quality(frame, "fail") if f.kind == "missing").localized()


def test_equal_readings_at_different_times_are_not_duplicates() -> None:
    frame = pd.DataFrame({"t": ["08:00", "08:01", "08:02", "08:02"], "x": [1.5, 1.5, 2.0, 2.0]})
    dupes = [f.params["count"] for f in data_quality(frame, times=["t"]) if f.kind == "duplicate_rows"]
    assert dupes == [1]  # 08:02 logged twice; 08:00 and 08:01 only read the same value
    assert not [f for f in data_quality(frame, times=["t"]) if f.kind == "id_like"]  # the time is no identifier


def test_leak_checks_for_numeric_and_multiclass_targets() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=200)
    frame = pd.DataFrame({"y": y, "copy": 2 * y + 0.01 * rng.normal(size=200), "x": rng.normal(size=200)})
    assert [(f.kind, f.column) for f in data_quality(frame, "y")] == [("leak", "copy")]
    grade = rng.choice(["A", "B", "C"], 300)
    coded = pd.Series(grade).map({"A": 0.0, "B": 5.0, "C": 9.0}) + rng.normal(0, 0.1, 300)
    multi = pd.DataFrame({"grade": grade, "code": coded, "x": rng.normal(size=300)})
    assert [(f.kind, f.column) for f in data_quality(multi, "grade")] == [("leak", "code")]


def test_ber_threshold_by_hand() -> None:
    proba = np.array([0.05, 0.1, 0.2, 0.35, 0.4, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 0, 1, 1])
    # cut at 0.35: TPR 1, FPR 1/4 → BER 0.125 (cut at 0.8: TPR 2/3, FPR 0 → BER 0.167); midpoint to 0.2
    assert ber_threshold(proba, y) == pytest.approx((0.35 + 0.2) / 2)


def test_model_learns_explains_and_round_trips() -> None:
    train, test = process(800, seed=1), process(400, seed=2)
    model = QualityModel(FAST).fit(train)
    assert isinstance(model, Predictor)
    proba = model.predict_proba(test)
    hot = pd.DataFrame({"temp": [3.0, -2.0], "pressure": [-2.0, 2.0], "humid": [0.0, 0.0]})
    low_risk, high_risk = model.predict_proba(hot)[1], model.predict_proba(hot)[0]
    assert high_risk > 0.5 > 0.05 > low_risk
    # the classes are rebalanced: the decision threshold sits far below 0.5 for a ~8 % defect rate
    assert model.threshold < 0.3
    assert np.mean(model.predict(test)[test.fail == 1]) > 0.6  # most defects caught
    # attributions sum to the margin; the driver of a hot row is temperature
    contrib = model.contributions(hot)
    assert np.allclose(contrib.sum(axis=1), model.margin(hot))
    assert model.reasons(hot.iloc[:1], top=1)[0][0][0] in {"temp", "pressure"}
    again = load(model.state().to_bytes())
    assert isinstance(again, QualityModel)
    assert np.allclose(again.predict_proba(test), proba) and again.threshold == model.threshold


def test_model_rejects_unusable_targets() -> None:
    frame = process(100)
    with pytest.raises(Invalid, match="0 \\(good\\) or 1"):
        QualityModel(FAST).fit(frame.assign(fail=frame.fail * 2))
    with pytest.raises(Invalid, match="at least 3 rows of each class"):
        QualityModel(FAST).fit(frame.assign(fail=0))
    with pytest.raises(Invalid, match="not in the data"):
        QualityModel(FAST).fit(frame.drop(columns="fail"))


def test_secom_time_split_trains_on_the_past_only() -> None:
    require_dataset("secom/secom.data")
    data = load_secom()
    assert data.features.shape == (1567, 590) and int(data.fail.sum()) == 104
    result = secom_time_split(data, logistic_fit_predict, "logistic regression")
    assert result.extra["train_rows"] + result.extra["test_rows"] == 1567
    order = np.argsort(data.time.to_numpy(), kind="stable")
    cut = result.extra["train_rows"]
    assert data.time.iloc[order[:cut]].max() <= data.time.iloc[order[cut:]].min()
    assert 0.0 <= result.metrics["pr_auc"] <= 1.0 and 0.3 < result.metrics["roc_auc"] < 1.0


def test_secom_cv_on_a_subset() -> None:
    require_dataset("secom/secom.data")
    data = load_secom()
    keep = list(data.features.columns[:120])  # a slice of the columns keeps the test fast
    small = quality.SecomData(data.features[keep], data.fail, data.time)
    result = secom_cv(small, quality_fit_predict([FAST]), "lightgbm", folds=3)
    assert 0.0 < result.metrics["ber"] < 0.6  # better than chance (0.5) would be the usual, not guaranteed
    assert result.score_rows == 1567 and result.fit_seconds > 0


def test_ensemble_makes_every_choice_on_the_training_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = process(600, seed=1), process(400, seed=2)
    x, y = train.drop(columns="fail"), train.fail.to_numpy()
    gbm_rows: list[int] = []
    linear_rows: list[int] = []
    original_fit, original_l1 = QualityModel.fit, quality.l1_logistic

    def gbm_spy(self: QualityModel, history: pd.DataFrame) -> QualityModel:
        gbm_rows.append(len(history))
        return original_fit(self, history)

    class LinearSpy:
        def __init__(self, c: float) -> None:
            self.model = original_l1(c)

        def fit(self, xs: np.ndarray, ys: np.ndarray) -> LinearSpy:
            linear_rows.append(len(xs))
            self.model.fit(xs, ys)
            return self

        def decision_function(self, xs: np.ndarray) -> np.ndarray:
            return np.asarray(self.model.decision_function(xs))

    monkeypatch.setattr(QualityModel, "fit", gbm_spy)
    monkeypatch.setattr(quality, "l1_logistic", LinearSpy)
    scorer = quality.ensemble_fit_predict([FAST, replace(FAST, select=2)], l1_c=(0.05, 1.0))(x, y)
    assert gbm_rows == [600, 600]  # both LightGBM candidates see the training rows, nothing else
    # 2 strengths × 3 out-of-fold fits on 2/3 of the rows, then the final fit on all 600
    assert linear_rows == [400] * 6 + [600]
    proba, pred = scorer(test.drop(columns="fail"))
    assert ((proba >= 0) & (proba <= 1)).all() and set(np.unique(pred)) <= {0, 1}
    assert balanced_error_rate(test.fail.to_numpy(), pred) < 0.25  # it learned temperature and pressure
    one_by_one = np.concatenate([scorer(test.drop(columns="fail").iloc[[i]])[0] for i in range(5)])
    assert np.allclose(one_by_one, proba[:5])  # a row's score does not depend on the other test rows
    assert np.all(proba[pred == 1].min() >= proba[pred == 0].max())  # the cut is one threshold on the score


def test_indicators_and_bags_are_chosen_on_the_training_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = process(600, seed=3), process(300, seed=4)
    rng = np.random.default_rng(5)
    # a probe that drops out mostly on defective parts: its missingness is informative
    drop = np.where(train.fail == 1, rng.random(600) < 0.7, rng.random(600) < 0.05)
    train["probe"] = np.where(drop, np.nan, rng.normal(size=600))
    test["probe"] = rng.normal(size=300)
    test.loc[:9, "humid"] = np.nan  # missing only in test rows: no indicator may appear for it
    x, y = train.drop(columns="fail"), train.fail.to_numpy()
    assert quality.missing_indicators(x) == ["probe"]
    seen: list[tuple[int, int]] = []
    original_l1 = quality.l1_logistic

    class LinearSpy:
        def __init__(self, c: float) -> None:
            self.model = original_l1(c)

        def fit(self, xs: np.ndarray, ys: np.ndarray) -> LinearSpy:
            seen.append(xs.shape)
            self.model.fit(xs, ys)
            return self

        def decision_function(self, xs: np.ndarray) -> np.ndarray:
            assert xs.shape[1] == 5  # four columns and the probe's indicator, also for test rows
            return np.asarray(self.model.decision_function(xs))

    monkeypatch.setattr(quality, "l1_logistic", LinearSpy)
    fit = quality.ensemble_fit_predict([FAST], l1_c=(0.1,), indicators=True, bags=4)
    scorer = fit(x, y)
    fails = int(y.sum())
    inner = [2 * int(y[tr].sum()) for tr, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y)]
    # 3 out-of-fold bag sets, then the final one: each bag holds a fold's defects and as many good rows
    assert seen == [(n, 5) for n in inner for _ in range(4)] + [(2 * fails, 5)] * 4
    proba, pred = scorer(test.drop(columns="fail"))
    assert np.isfinite(proba).all()
    assert balanced_error_rate(test.fail.to_numpy(), pred) < 0.25
    one_by_one = np.concatenate([scorer(test.drop(columns="fail").iloc[[i]])[0] for i in range(12)])
    assert np.allclose(one_by_one, proba[:12])


def test_bagged_average_fits_on_training_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = process(600, seed=6), process(400, seed=7)
    x, y = train.drop(columns="fail"), train.fail.to_numpy()
    train_rows = {tuple(r) for r in x.to_numpy()}
    seen: list[int] = []
    original_train = quality.lgb.train

    def train_spy(params: dict, data: quality.lgb.Dataset, rounds: int) -> quality.lgb.Booster:
        rows = np.asarray(data.data)
        assert all(tuple(r) in train_rows for r in rows)  # only training rows, never a test row
        assert data.label is not None and 2 * int(np.sum(data.label)) == len(rows)  # balanced draw
        seen.append(len(rows))
        return original_train(params, data, rounds)

    monkeypatch.setattr(quality.lgb, "train", train_spy)
    cfg = quality.BagsConfig(bags=3, trees=40, folds=3)
    scorer = quality.bagged_fit_predict(cfg)(x, y)
    inner = [2 * int(y[tr].sum()) for tr, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y)]
    assert seen == [n for n in inner for _ in range(3)] + [2 * int(y.sum())] * 3
    proba, pred = scorer(test.drop(columns="fail"))
    assert ((proba >= 0) & (proba <= 1)).all() and set(np.unique(pred)) <= {0, 1}
    assert balanced_error_rate(test.fail.to_numpy(), pred) < 0.25  # it learned temperature and pressure
    one_by_one = np.concatenate([scorer(test.drop(columns="fail").iloc[[i]])[0] for i in range(5)])
    assert np.allclose(one_by_one, proba[:5])  # a row's score does not depend on the other test rows
    assert np.all(proba[pred == 1].min() >= proba[pred == 0].max())  # one cut on one score
