"""RUL model on a tiny synthetic run-to-failure fleet: causality, no leakage, learning, save/load."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smart365.analytics import rul
from smart365.analytics.contract import ModelState, load
from smart365.analytics.datasets import (
    CMAPSS_COLUMNS,
    SENSORS,
    CmapssData,
    last_cycles,
    load_cmapss,
    rul_targets,
)
from smart365.analytics.metrics import rmse
from tests.analytics.conftest import require_dataset

SMALL = rul.RulConfig(window=10, num_leaves=7, min_child_samples=10, max_trees=150, threads=1)


def synthetic_fleet(n_units: int, seed: int, regimes: int = 1, first_unit: int = 1) -> pd.DataFrame:
    """Units run to failure; s2–s4 drift up with wear; settings switch between ``regimes`` conditions."""
    rng = np.random.default_rng(seed)
    frames = []
    for unit in range(first_unit, first_unit + n_units):
        life = int(rng.integers(60, 110))
        cycle = np.arange(1, life + 1)
        wear = np.exp((cycle - life) / 15.0)
        regime = rng.integers(0, regimes, size=life)
        data: dict[str, Any] = {"unit": unit, "cycle": cycle}
        data["setting_1"] = 20.0 * regime + rng.normal(0, 0.002, life)
        data["setting_2"] = 0.7 * regime + rng.normal(0, 0.0002, life)
        data["setting_3"] = np.full(life, 100.0)
        for i, name in enumerate(SENSORS):
            level = 500.0 + 10 * i + 40.0 * regime
            drift = 5.0 * wear if name in ("s2", "s3", "s4") else 0.0
            noise = 0.0 if name == "s1" else rng.normal(0, 0.5, life)
            data[name] = level + drift + noise
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)[list(CMAPSS_COLUMNS)]


@pytest.fixture(scope="module")
def fleet() -> pd.DataFrame:
    return synthetic_fleet(30, seed=1)


@pytest.fixture(scope="module")
def model(fleet: pd.DataFrame) -> rul.RulModel:
    return rul.RulModel(SMALL).fit(fleet)


def test_regimes_are_found_and_normalised() -> None:
    two = synthetic_fleet(6, seed=2, regimes=2)
    norm = rul.RegimeNormalizer.fit(two)
    assert norm.n_regimes == 2
    assert "s1" not in norm.sensors  # constant sensor dropped
    z = norm.transform(two)
    regimes = norm.regimes(two)
    assert set(regimes.tolist()) == {0, 1}
    for r in (0, 1):
        assert np.allclose(z[regimes == r].mean(axis=0), 0.0, atol=1e-9)
    assert rul.RegimeNormalizer.fit(synthetic_fleet(6, seed=2, regimes=1)).n_regimes == 1


def _alter_after(frame: pd.DataFrame, unit: int, cycle: int, seed: int = 9) -> pd.DataFrame:
    changed = frame.copy()
    future = (changed["unit"] == unit) & (changed["cycle"] > cycle)
    rng = np.random.default_rng(seed)
    for name in SENSORS:
        changed.loc[future, name] = changed.loc[future, name] * rng.uniform(0.5, 2.0, future.sum())
    return changed


def test_window_features_of_cycle_t_ignore_later_cycles(fleet: pd.DataFrame) -> None:
    norm = rul.RegimeNormalizer.fit(fleet)
    before = rul.window_features(fleet, norm.transform(fleet), window=10)
    changed = _alter_after(fleet, unit=3, cycle=25)
    after = rul.window_features(changed, norm.transform(changed), window=10)
    past = ~((fleet["unit"] == 3) & (fleet["cycle"] > 25)).to_numpy()
    assert np.array_equal(before[past], after[past])  # bit for bit, every other row too
    assert not np.array_equal(before[~past], after[~past])  # the altered rows did change


def test_predictions_are_causal_and_truncation_invariant(model: rul.RulModel, fleet: pd.DataFrame) -> None:
    full = model.predict(fleet)
    changed = model.predict(_alter_after(fleet, unit=5, cycle=40))
    keep = ~((fleet["unit"] == 5) & (fleet["cycle"] > 40)).to_numpy()
    assert np.array_equal(full[keep], changed[keep])
    truncated = fleet[keep].reset_index(drop=True)
    assert np.array_equal(model.predict(truncated), full[keep])


def test_unit_split_and_folds_are_disjoint_and_complete(fleet: pd.DataFrame) -> None:
    units = fleet["unit"].to_numpy()
    for seed in range(5):
        tr, va = rul.unit_split(units, 0.2, seed)
        assert not set(tr) & set(va)
        assert set(tr) | set(va) == set(units)
        assert len(va) == 6
        folds = rul.unit_folds(units, 3, seed)
        assert sum(len(f) for f in folds) == len(set(units)) == len(set(np.concatenate(folds)))


def test_selection_fits_never_see_held_out_units(monkeypatch: pytest.MonkeyPatch, fleet: pd.DataFrame) -> None:
    seen: list[set[int]] = []
    original = rul.RulModel.fit

    def spy(self: rul.RulModel, history: pd.DataFrame) -> rul.RulModel:
        seen.append(set(history["unit"].tolist()))
        return original(self, history)

    monkeypatch.setattr(rul.RulModel, "fit", spy)
    folds = rul.unit_folds(fleet["unit"].to_numpy(), 3, seed=1)
    selection = rul.select_config(fleet, [SMALL], folds=3, seed=1)
    assert len(selection.scores) == 1 and selection.best == SMALL
    assert len(seen) == 3
    for fold, fitted_on in zip(folds, seen, strict=True):
        assert not fitted_on & set(fold.tolist())


def _fake_cmapss() -> CmapssData:
    train = synthetic_fleet(30, seed=1)
    full_test = synthetic_fleet(8, seed=5)  # unit ids 1..8 overlap the training ids, as in C-MAPSS
    cut = full_test.groupby("unit")["cycle"].transform("max") - np.repeat(
        np.arange(5, 45, 5), full_test.groupby("unit").size().to_numpy()
    )
    test = full_test[full_test["cycle"] <= cut].reset_index(drop=True)
    truth = np.arange(5, 45, 5, dtype=float)
    return CmapssData("FAKE", train, test, truth)


def test_standard_protocol_fits_on_train_only_and_scores_last_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _fake_cmapss()
    fitted: list[pd.DataFrame] = []
    original = rul.RulModel.fit

    def spy(self: rul.RulModel, history: pd.DataFrame) -> rul.RulModel:
        fitted.append(history)
        return original(self, history)

    monkeypatch.setattr(rul.RulModel, "fit", spy)
    result = rul.evaluate_cmapss(data, lambda: rul.RulModel(SMALL))
    assert len(fitted) == 1 and fitted[0] is data.train
    pred = rul.RulModel(SMALL).fit(data.train).predict_last(data.test)
    assert result.metrics["rmse"] == pytest.approx(rmse(data.test_rul, pred))
    assert result.score_rows == len(data.test)
    assert result.metrics["rmse"] < 15  # the model learned: true RULs are 5..40


def test_model_learns_on_unseen_units(model: rul.RulModel) -> None:
    unseen = synthetic_fleet(10, seed=7, first_unit=101)
    target = rul_targets(unseen, SMALL.cap)
    assert rmse(target, model.predict(unseen)) < 0.5 * float(target.std())
    lo, mid, hi = model.predict_interval(unseen)
    assert np.all(lo <= mid) and np.all(mid <= hi)
    assert np.mean((target >= lo) & (target <= hi)) > 0.5


def test_state_round_trip_without_pickle(model: rul.RulModel, fleet: pd.DataFrame) -> None:
    blob = model.state().to_bytes()
    restored = load(blob)
    assert isinstance(restored, rul.RulModel)
    assert np.array_equal(restored.predict(fleet), model.predict(fleet))
    assert restored.config == model.config
    assert ModelState.from_bytes(blob).texts.keys() == {"point", "q0.1", "q0.9"}


def test_unsorted_batches_are_rejected(model: rul.RulModel, fleet: pd.DataFrame) -> None:
    from smart365.core.errors import Invalid

    with pytest.raises(Invalid):
        model.predict(fleet.iloc[::-1])


def test_rul_targets_and_last_cycles(fleet: pd.DataFrame) -> None:
    uncapped = rul_targets(fleet, cap=None)
    ends = last_cycles(fleet)
    assert np.all(uncapped[ends] == 0)
    assert np.all(rul_targets(fleet, cap=20) <= 20)
    assert fleet["unit"].to_numpy()[ends].tolist() == sorted(set(fleet["unit"]))


@pytest.fixture()
def real_cmapss() -> Iterator[None]:
    require_dataset("cmapss/train_FD001.txt")
    yield


@pytest.mark.usefixtures("real_cmapss")
def test_cmapss_loader_counts_match_source() -> None:
    data = load_cmapss("FD001")
    assert len(data.train) == 20631 and len(data.test) == 13096
    assert data.train["unit"].nunique() == 100 and data.test["unit"].nunique() == 100
    assert data.test_rul.size == 100 and data.test_rul.min() == 7 and data.test_rul.max() == 145
    assert rul_targets(data.train).max() == 125


def _two_regimes(setting_1: list[float], s1: list[float], s2: list[float]) -> pd.DataFrame:
    n = len(s1)
    return pd.DataFrame({"setting_1": setting_1, "setting_2": [0.7 if v > 10 else 0.0 for v in setting_1],
                         "setting_3": [100.0] * n, "s1": s1, "s2": s2})  # fmt: skip


def test_regime_normalisation_uses_training_statistics_only() -> None:
    # regime A (setting_1 ≈ 0): s1 = 1, 3 → mean 2, sd 1; s2 = 5, 7 → mean 6, sd 1
    # regime B (setting_1 ≈ 20): s1 = 10, 30 → mean 20, sd 10; s2 = 50, 70 → mean 60, sd 10
    train = _two_regimes([0.0, 0.0, 20.0, 20.0], [1.0, 3.0, 10.0, 30.0], [5.0, 7.0, 50.0, 70.0])
    norm = rul.RegimeNormalizer.fit(train, sensors=["s1", "s2"])
    assert norm.n_regimes == 2
    test = _two_regimes([0.001, 19.998, 20.002], [1000.0, 40.0, 0.0], [6.0, 40.0, 60.0])
    z = norm.transform(test)
    # (1000 − 2)/1, (6 − 6)/1; (40 − 20)/10, (40 − 60)/10; (0 − 20)/10, (60 − 60)/10: training statistics
    assert z.tolist() == [[998.0, 0.0], [2.0, -2.0], [-2.0, 0.0]]
    stats = (norm.means.copy(), norm.stds.copy())
    norm.transform(test)  # transforming never updates the statistics
    assert np.array_equal(norm.means, stats[0]) and np.array_equal(norm.stds, stats[1])
    both = rul.RegimeNormalizer.fit(pd.concat([train, test], ignore_index=True), sensors=["s1", "s2"])
    assert not np.allclose(both.transform(test), z)  # statistics that had seen the test rows would differ


def test_model_normalises_with_statistics_of_its_training_units_only() -> None:
    train = synthetic_fleet(8, seed=3, regimes=3)
    other = synthetic_fleet(4, seed=4, regimes=3, first_unit=50)
    other[list(SENSORS)] = other[list(SENSORS)] * 3.0 + 100.0  # would move every mean if it leaked in
    model = rul.RulModel(SMALL).fit(train)
    norm = model.normalizer
    assert norm is not None and norm.n_regimes == 3
    regimes = norm.regimes(train)
    values = train[norm.sensors].to_numpy()
    for r in range(3):  # means and (population) standard deviations of the training rows of each regime
        assert np.allclose(norm.means[r], values[regimes == r].mean(axis=0))
        assert np.allclose(norm.stds[r], values[regimes == r].std(axis=0))
    model.predict(other)
    assert np.allclose(norm.means[0], values[regimes == 0].mean(axis=0))


def test_regime_history_counts_cycles_per_regime_causally() -> None:
    frame = pd.DataFrame({"unit": [1, 1, 1, 1, 2, 2], "cycle": [1, 2, 3, 4, 1, 2]})
    counts = rul.regime_history(frame, np.array([2, 0, 2, 2, 1, 1]), 3)
    assert counts.tolist() == [[0, 0, 1], [1, 0, 1], [1, 0, 2], [1, 0, 3], [0, 1, 0], [0, 2, 0]]


def test_regime_history_features_only_with_several_regimes() -> None:
    cfg = replace(SMALL, regime_history=True, quantiles=())
    multi = rul.RulModel(cfg).fit(synthetic_fleet(10, seed=2, regimes=2))
    assert multi.feature_names()[-2:] == ["cycles_regime0", "cycles_regime1"]
    assert multi.boosters["point"].num_feature() == len(multi.feature_names())
    single = rul.RulModel(cfg).fit(synthetic_fleet(10, seed=2, regimes=1))
    assert single.feature_names()[-1] == "cycle"  # one regime: the count would equal the cycle
    restored = load(multi.state().to_bytes())
    fleet = synthetic_fleet(3, seed=8, regimes=2, first_unit=70)
    assert np.array_equal(restored.predict(fleet), multi.predict(fleet))  # type: ignore[attr-defined]


def test_bench_runs_every_subset_and_chooses_regime_features_on_training_units(monkeypatch: pytest.MonkeyPatch) -> None:
    from smart365.analytics import benchmarks

    fake = _fake_cmapss()
    multi = replace(fake, train=synthetic_fleet(12, seed=6, regimes=2), test=fake.test.assign(
        setting_1=20.0 * (fake.test["cycle"] % 2), setting_2=0.7 * (fake.test["cycle"] % 2)))  # fmt: skip
    loaded: list[str] = []

    def load(subset: str) -> CmapssData:
        loaded.append(subset)
        return replace(multi if subset in ("FD002", "FD004") else fake, subset=subset)

    chosen: list[int] = []
    original = rul.select_config

    def spy(train: pd.DataFrame, candidates: list[rul.RulConfig], **kw: Any) -> rul.Selection:
        chosen.append(train["unit"].nunique())
        assert [c.regime_history for c in candidates] == [False, True]
        return original(train, candidates, **kw)

    monkeypatch.setattr(benchmarks, "load_cmapss", load)
    monkeypatch.setattr(benchmarks, "select_config", spy)
    rows = benchmarks.bench_cmapss(config=replace(SMALL, quantiles=()))
    assert loaded == ["FD001", "FD002", "FD003", "FD004"]
    assert chosen == [12, 12]  # selection only where there are several regimes, on the training units
    assert [r.dataset for r in rows if r.metric == "rmse"] == [f"C-MAPSS FD00{i}" for i in range(1, 5)]
    assert {r.metric for r in rows} == {"rmse", "nasa_score", "rmse_capped_truth", "cap_floor_rmse"}
