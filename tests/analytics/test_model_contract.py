"""The model contract: safe state round trip, registry, protocol checks; doctests; catalog coverage."""

from __future__ import annotations

import io
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import pytest

from smart365.analytics import contract
from smart365.analytics.contract import Detector, ModelState, ModelStateError, Predictor, load, register


@register
class ZScoreDetector:
    """A minimal detector following the contract."""

    kind: ClassVar[str] = "test.zscore"

    def __init__(self) -> None:
        self.mean = np.zeros(0)
        self.std = np.ones(0)

    def fit(self, history: pd.DataFrame) -> Self:
        self.mean, self.std = history.mean().to_numpy(), history.std().to_numpy()
        return self

    def score(self, batch: pd.DataFrame) -> np.ndarray:
        return np.abs((batch.to_numpy() - self.mean) / self.std).max(axis=1)

    def state(self) -> ModelState:
        return ModelState(self.kind, {"columns": 2}, {"mean": self.mean, "std": self.std})

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        model = cls()
        model.mean, model.std = state.arrays["mean"], state.arrays["std"]
        return model


def test_detector_round_trips_through_bytes() -> None:
    history = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 0.0, 3.0]})
    model = ZScoreDetector().fit(history)
    assert isinstance(model, Detector) and not isinstance(model, Predictor)
    restored = load(model.state().to_bytes())
    assert isinstance(restored, ZScoreDetector)
    batch = pd.DataFrame({"a": [2.0, 10.0], "b": [1.0, 1.0]})
    assert np.array_equal(restored.score(batch), model.score(batch))


def test_state_loading_never_unpickles() -> None:
    buffer = io.BytesIO()
    header = np.frombuffer(b'{"kind": "test.zscore", "format": 1, "params": {}, "texts": {}}', dtype=np.uint8)
    np.savez(buffer, __meta__=header, **{"a:evil": np.array([object()], dtype=object)})  # type: ignore[arg-type]
    with pytest.raises(ModelStateError):
        ModelState.from_bytes(buffer.getvalue())
    with pytest.raises(ModelStateError):
        ModelState.from_bytes(b"not an archive")
    with pytest.raises(ModelStateError):
        ModelState("x", arrays={"o": np.array(["text"], dtype=object)}).to_bytes()


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ModelStateError, match="Unknown model kind"):
        load(ModelState("nobody.registered"))


def test_eval_result_throughput() -> None:
    result = contract.EvalResult("m", "d", "p", {}, score_rows=10, score_seconds=0.0)
    assert np.isnan(result.rows_per_second)
