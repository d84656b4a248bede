"""Every registered model kind keeps the model contract: it fits, answers one value per row, survives its
saved state byte for byte, and explains itself where the contract offers it. The suite walks the registry,
so a new kind without an example here fails ``test_every_registered_kind_has_an_example``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pytest

from smart365.analytics import anomaly, contract, quality, rul
from smart365.analytics.contract import Detector, ModelState, Predictor
from smart365.testbed import deploy
from tests.analytics.test_rul import SMALL, synthetic_fleet


def _signals(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"temp": 60 + rng.normal(0, 1, rows), "load": 40 + rng.normal(0, 2, rows),
                         "vib": 2 + rng.normal(0, 0.1, rows)})  # fmt: skip


def _with_excursion(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[out.index[-200:], "temp"] += np.linspace(0, 30, 200)  # the temperature climbs away
    return out


def _parts(rows: int, seed: int) -> pd.DataFrame:
    frame = _signals(rows, seed)
    frame["fail"] = (frame.temp + np.random.default_rng(seed + 1).normal(0, 0.5, rows) > 61).astype(int)
    frame["time"] = pd.date_range("2026-11-01", periods=rows, freq="1min")
    return frame


def _untimed_parts() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _parts(300, 1).drop(columns="time"), _parts(50, 2).drop(columns=["fail", "time"])


def _testbed(winner: str) -> Callable[[], tuple[Any, pd.DataFrame, pd.DataFrame]]:
    def make() -> tuple[Any, pd.DataFrame, pd.DataFrame]:
        train = _parts(300, 1)
        saved = deploy.winner_state(train, "fail", "time", "classification", winner)
        return contract.load(saved.state), train, _parts(50, 2).drop(columns="fail")

    return make


@dataclass(frozen=True)
class Example:
    """How to build a kind's model, the history it fits on and a batch it answers."""

    build: Callable[[], tuple[Any, pd.DataFrame, pd.DataFrame]]


def _stuck(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[out.index[-200:], "vib"] = 2.0  # the sensor froze
    return out


def _detector(factory: Callable[[], Any], fault: Callable[[pd.DataFrame], pd.DataFrame] = _with_excursion) -> Example:
    return Example(lambda: (factory(), _signals(600, 1), fault(_signals(400, 2))))


EXAMPLES: dict[str, Example] = {
    "anomaly.ewma": _detector(anomaly.EwmaDetector),
    "anomaly.pca": _detector(anomaly.PcaDetector),
    "anomaly.iforest": _detector(anomaly.IsolationForestDetector),
    "anomaly.autoencoder": _detector(anomaly.AutoencoderDetector),
    "anomaly.stuck": _detector(anomaly.StuckSignalDetector, _stuck),
    "anomaly.trend": _detector(anomaly.TrendDetector),
    "quality.lightgbm": Example(lambda: (quality.QualityModel(quality.QualityConfig(target="fail", max_trees=50,
                                         folds=3)), *_untimed_parts())),
    "rul.lightgbm": Example(lambda: (rul.RulModel(SMALL), synthetic_fleet(12, seed=1), synthetic_fleet(3, seed=2))),
    "testbed.lightgbm": Example(_testbed("LightGBM")),
    "testbed.linear": Example(_testbed("linear (logistic)")),
    "testbed.forest": Example(_testbed("random forest")),
}  # fmt: skip


def check_contract(build: Callable[[], tuple[Any, pd.DataFrame, pd.DataFrame]]) -> None:
    """The contract, as one check any model kind must pass (raises AssertionError naming the broken part)."""
    model, history, batch = build()
    assert isinstance(model, contract.Model), "not a Model: fit, state, from_state and kind are required"
    assert model.kind in contract._REGISTRY, f"{model.kind} is not registered, so saved models cannot load"
    fitted = model.fit(history)
    assert fitted is model, "fit must return the model itself"
    answer = _answer(model, batch)
    assert len(answer) == len(batch), "one answer per row of the batch"
    assert np.isfinite(np.asarray(answer, dtype=float)).all(), "answers must be finite numbers"
    restored = contract.load(model.state().to_bytes())
    assert type(restored) is type(model), "the saved state must rebuild the same kind"
    assert np.array_equal(_answer(restored, batch), answer), "a restored model must answer exactly as before"
    if hasattr(model, "threshold"):
        assert restored.threshold == model.threshold, "a restored model must flag at the same threshold"
    _check_explanation(model, batch)


def _answer(model: Any, batch: pd.DataFrame) -> np.ndarray:
    if isinstance(model, Detector):
        return np.asarray(model.score(batch), dtype=float)
    assert isinstance(model, Predictor), "a model must be a Detector (score) or a Predictor (predict)"
    return np.asarray(model.predict(batch))


def _check_explanation(model: Any, batch: pd.DataFrame) -> None:
    """Detectors name the signals behind a row; a quality model gives per-row attributions."""
    if isinstance(model, Detector) and hasattr(model, "threshold"):
        scores = model.score(batch)
        peak = int(np.argmax(scores))
        assert scores[peak] > model.threshold, "a detector must flag the example's fault"
        why = anomaly.explain_at(model, batch, peak)  # type: ignore[arg-type]
        assert why, "a detector must say which signals make a flagged row anomalous"
        assert {c.signal for c in why} <= set(batch.columns), "explanations must name the batch's own signals"
    if isinstance(model, quality.QualityModel):
        parts = model.contributions(batch)
        assert len(parts) == len(batch), "one attribution row per prediction"


def test_every_registered_kind_has_an_example() -> None:
    """A new model kind cannot escape the suite: registering it without an example here fails."""
    registered = {kind for kind in contract._REGISTRY if not kind.startswith("test.")}
    assert registered == set(EXAMPLES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_the_kind_keeps_the_contract(kind: str) -> None:
    model, _, _ = EXAMPLES[kind].build()
    assert model.kind == kind
    check_contract(EXAMPLES[kind].build)


@contract.register
class _ForgetfulDetector:
    """Breaks the contract the way a careless plug-in would: its saved state forgets what it learned."""

    kind: ClassVar[str] = "test.forgetful"
    threshold: float = 1.0

    def __init__(self) -> None:
        self.mean = np.zeros(3)

    def fit(self, history: pd.DataFrame) -> Self:
        self.mean = history.mean().to_numpy()
        return self

    def score(self, batch: pd.DataFrame) -> np.ndarray:
        return np.abs(batch.to_numpy() - self.mean).max(axis=1)

    def state(self) -> ModelState:
        return ModelState(self.kind, {}, {})

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        return cls()


def test_a_kind_that_breaks_the_contract_fails_the_suite() -> None:
    """The suite has teeth: a detector whose state does not round-trip is caught and named."""
    build = _detector(_ForgetfulDetector).build
    with pytest.raises(AssertionError, match="restored model must answer exactly"):
        check_contract(build)


def test_breaking_a_real_kind_fails_its_contract_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the PCA detector's restore the way a refactor could (the limit forgotten): the suite names it."""
    restore = anomaly.PcaDetector.from_state.__func__  # type: ignore[attr-defined]

    def forgetful(cls: type[anomaly.PcaDetector], state: ModelState) -> anomaly.PcaDetector:
        model = restore(cls, state)
        model.threshold = float("inf")
        return model

    monkeypatch.setattr(anomaly.PcaDetector, "from_state", classmethod(forgetful))
    with pytest.raises(AssertionError, match="restored model"):
        check_contract(EXAMPLES["anomaly.pca"].build)
