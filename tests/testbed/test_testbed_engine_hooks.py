"""The run's progress hook is called in order; a deployable winner's saved state predicts exactly what the
fitted model predicts; the modules' examples hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smart365.analytics import testbed as engine
from smart365.analytics.contract import ModelState, load
from smart365.analytics.testbed import Step, prepare, run_testbed
from smart365.core.errors import Invalid
from smart365.testbed import deploy
from smart365.testbed.deploy import winner_state


def _table(task: str, rows: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"time": pd.date_range("2026-02-01", periods=rows, freq="min")})
    for column in "abc":
        frame[column] = rng.normal(size=rows)
    signal = 2 * frame.a - frame.b + rng.normal(0, 0.2, rows)
    if task == "regression":
        frame["y"] = signal
    elif task == "classification":
        frame["y"] = np.select([signal < -1, signal > 1], ["low", "high"], "mid")
    elif task == "binary":  # two classes: the models are calibrated and their threshold is saved
        frame["y"] = np.where(signal > 1.5, "NG", "OK")
    else:
        frame.loc[rows - 40 :: 7, ["a", "b"]] += 8  # injected faults late in the table
        frame["y"] = 0
        frame.loc[rows - 40 :: 7, "y"] = 1
    return frame


def test_on_step_reports_each_candidate_on_each_fold_in_order_and_progress_follows() -> None:
    steps: list[Step] = []
    after: list[tuple[int, int, str]] = []
    report = run_testbed(_table("regression"), "y", "time", folds=3, on_step=steps.append,
                         progress=lambda done, total, name: after.append((done, total, name)))  # fmt: skip
    names = [r.name for r in report.results]
    assert [(s.fold, s.candidate) for s in steps] == [(k, n) for k in (1, 2, 3) for n in names]
    assert [s.done for s in steps] == list(range(len(steps))) and {s.total for s in steps} == {len(steps)}
    assert [d for d, _t, _n in after] == [s.done + 1 for s in steps]  # progress comes after each step
    assert {s.folds for s in steps} == {3}


def test_cli_progress_signature_is_unchanged() -> None:
    seen: list[tuple[int, int, str]] = []
    run_testbed(_table("regression", 80), "y", folds=2, progress=lambda *args: seen.append(args))
    assert seen[-1][0] == seen[-1][1] and all(isinstance(n, str) for _d, _t, n in seen)


def _refit(frame: pd.DataFrame, task: str, winner: str) -> np.ndarray:
    """What the test-bed's own fitted candidate predicts on the table."""
    prep = prepare(frame, "y", "time", task)  # type: ignore[arg-type]
    if task == "classification":  # calibrated, with the threshold chosen on its training rows
        candidates = engine.classification_candidates(len(prep.y), 1, prep.positive)
    elif task == "regression":
        candidates = engine.regression_candidates(len(prep.y))
    else:
        candidates = engine.anomaly_candidates()
    fitted = next(c for c in candidates if c.name == winner).fit(prep.x, prep.y)
    return np.asarray(fitted.predict(prep.x))


@pytest.mark.parametrize(("task", "winner"), [
    ("regression", "LightGBM"), ("regression", "linear (ridge)"), ("classification", "LightGBM"),
    ("classification", "linear (logistic)"), ("binary", "LightGBM"), ("binary", "linear (logistic)"),
    ("regression", "random forest"), ("classification", "random forest"), ("binary", "random forest"),
    ("anomaly", "PCA T²+SPE"), ("anomaly", "EWMA robust z"),
    ("anomaly", "isolation forest"), ("anomaly", "trend (slope)"),
])  # fmt: skip
def test_saved_winner_predicts_the_same_as_the_fitted_model(task: str, winner: str) -> None:
    frame = _table(task)
    binary, task = task == "binary", "classification" if task == "binary" else task
    saved = winner_state(frame, "y", "time", task, winner, {"score": 1.0})
    back = ModelState.from_bytes(saved.state.to_bytes())  # through the safe format, as the registry stores it
    x = prepare(frame, "y", "time", task).x  # type: ignore[arg-type]
    expected = _refit(frame, task, winner)
    got = deploy.predict(back, x)
    rebuilt = load(saved.state.to_bytes())  # any registered model kind loads through the contract
    if task != "anomaly":
        assert np.array_equal(np.asarray(rebuilt.predict(x)), got)  # type: ignore[attr-defined]
    if task == "regression":
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    else:
        assert np.array_equal(got, expected)
    if binary:
        assert 0.0 < saved.state.params["calibration"]["cut"] < 1.0  # the saved threshold is the run's
    assert saved.metrics == {"score": 1.0} and saved.trained_from < saved.trained_to
    assert saved.trained_from.utcoffset() is not None  # an aware moment


def test_a_baseline_cannot_be_saved_and_says_so() -> None:
    with pytest.raises(Invalid, match="cannot be saved as a model"):
        winner_state(_table("regression"), "y", "time", "regression", "mean (training)")


def test_a_loaded_winner_refits_on_newer_history() -> None:
    saved = winner_state(_table("regression", seed=1), "y", "time", "regression", "linear (ridge)")
    model = load(saved.state)
    newer = _table("regression", seed=2)
    refitted = model.fit(newer).state()
    assert refitted.params["features"] == ["a", "b", "c"]
    assert not np.allclose(refitted.arrays["coef"], saved.state.arrays["coef"])  # learned from the new rows


def test_a_winner_of_more_classes_scores_its_predicted_class_without_an_alarm_limit() -> None:
    codes = _table("classification")
    codes["y"] = codes["y"].map({"low": 1, "mid": 2, "high": 3})  # a grade written as a number
    model = load(winner_state(codes, "y", "time", "classification", "random forest").state)
    x = codes[["a", "b", "c"]]
    assert set(np.unique(model.score(x))) <= {1.0, 2.0, 3.0}  # type: ignore[attr-defined]
    assert model.threshold == float("inf")  # type: ignore[attr-defined]
    named = load(winner_state(_table("classification"), "y", "time", "classification", "LightGBM").state)
    positions = named.score(x)  # type: ignore[attr-defined]
    assert set(np.unique(positions)) <= {0.0, 1.0, 2.0} and len(positions) == len(x)
