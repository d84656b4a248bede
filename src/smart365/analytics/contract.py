"""The one small contract every analytics model follows.

A model is fitted on a *history* (a :class:`pandas.DataFrame` in time order), then scores (anomaly
detectors: higher means more anomalous) or predicts (regressors, classifiers) later *batches* of the same
columns. Its learned state is a :class:`ModelState`: JSON-able parameters, numeric NumPy arrays and text
blobs (e.g. a LightGBM model dump). The state is saved as an ``.npz`` archive loaded with
``allow_pickle=False``, so loading a state never runs code, even when a user uploaded it.

>>> import numpy as np
>>> class MeanModel:
...     kind = "doc.mean"
...     def __init__(self) -> None:
...         self.mean = np.zeros(0)
...     def fit(self, history):
...         self.mean = history.mean().to_numpy()
...         return self
...     def predict(self, batch):
...         return np.repeat(self.mean[None, :], len(batch), axis=0)
...     def state(self):
...         return ModelState(self.kind, arrays={"mean": self.mean})
...     @classmethod
...     def from_state(cls, state):
...         model = cls()
...         model.mean = state.arrays["mean"]
...         return model
>>> import pandas as pd
>>> m = MeanModel().fit(pd.DataFrame({"a": [1.0, 3.0]}))
>>> isinstance(m, Predictor)
True
>>> MeanModel.from_state(ModelState.from_bytes(m.state().to_bytes())).predict(pd.DataFrame({"a": [0.0]}))
array([[2.]])
"""

from __future__ import annotations

import importlib
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from smart365.core.errors import AppError
from smart365.core.i18n import N_

STATE_FORMAT = 1
_META = "__meta__"
_ARRAY = "a:"


class ModelStateError(AppError):
    """A saved model state that cannot be read (corrupt, wrong format or unknown model kind)."""

    code = "invalid_model_state"
    default_message = N_("The saved model cannot be read.")


@dataclass
class ModelState:
    """What a fitted model needs to predict again: safe to store and to load from untrusted bytes.

    ``params`` must be JSON-able; ``arrays`` numeric (no ``object`` dtype); ``texts`` plain strings.

    >>> s = ModelState("x", params={"k": 2}, arrays={"w": np.arange(3.0)}, texts={"t": "ok"})
    >>> back = ModelState.from_bytes(s.to_bytes())
    >>> back.kind, back.params, back.arrays["w"].tolist(), back.texts
    ('x', {'k': 2}, [0.0, 1.0, 2.0], {'t': 'ok'})
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, NDArray[Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    format: int = STATE_FORMAT

    def to_bytes(self) -> bytes:
        """Serialise to an ``.npz`` archive (a JSON header plus one entry per array)."""
        meta = {"kind": self.kind, "format": self.format, "params": self.params, "texts": self.texts}
        header = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8)
        entries: dict[str, NDArray[Any]] = {_META: header}
        for name, array in self.arrays.items():
            arr = np.asarray(array)
            if arr.dtype.kind not in "biuf":
                raise ModelStateError(N_("Model array {name} is not numeric."), name=name)
            entries[_ARRAY + name] = arr
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **entries)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelState:
        """Load a state written by :meth:`to_bytes`; never unpickles anything."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                meta = json.loads(archive[_META].tobytes().decode())
                arrays = {k[len(_ARRAY) :]: archive[k] for k in archive.files if k.startswith(_ARRAY)}
        except (ValueError, OSError, KeyError, UnicodeDecodeError) as exc:
            raise ModelStateError() from exc
        if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
            raise ModelStateError()
        return cls(str(meta["kind"]), dict(meta["params"]), arrays, dict(meta["texts"]), STATE_FORMAT)


@runtime_checkable
class Model(Protocol):
    """Common part: fit on a time-ordered history, save and restore the learned state."""

    kind: ClassVar[str]

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn from ``history`` (rows in time order); return ``self``."""
        ...

    def state(self) -> ModelState:
        """The learned state (see :class:`ModelState`)."""
        ...

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        """Rebuild a fitted model from :meth:`state`."""
        ...


@runtime_checkable
class Detector(Model, Protocol):
    """An anomaly detector: one score per row of ``batch``, higher is more anomalous."""

    def score(self, batch: pd.DataFrame) -> NDArray[np.float64]: ...


@runtime_checkable
class Predictor(Model, Protocol):
    """A regressor or classifier: one prediction per row of ``batch``."""

    def predict(self, batch: pd.DataFrame) -> NDArray[Any]: ...


M = TypeVar("M", bound=type[Model])
_REGISTRY: dict[str, type[Model]] = {}
#: The module that defines each family of kinds (the part of ``kind`` before the first dot): :func:`load`
#: imports it the first time it meets one, so a process that only serves pages never imports the models.
_HOMES = {
    "anomaly": "smart365.analytics.anomaly",
    "quality": "smart365.analytics.quality",
    "rul": "smart365.analytics.rul",
}


def register(cls: M) -> M:
    """Class decorator: make ``cls`` loadable by its ``kind`` through :func:`load`."""
    _REGISTRY[cls.kind] = cls
    return cls


def home(family: str, module: str) -> None:
    """Name the module that registers the kinds ``family.*``, for :func:`load` to import when it needs one.

    >>> home("doc", "smart365.analytics.contract")
    >>> _HOMES["doc"]
    'smart365.analytics.contract'
    """
    _HOMES[family] = module


def load(data: bytes | ModelState) -> Model:
    """Rebuild any registered model from saved bytes or a state."""
    state = data if isinstance(data, ModelState) else ModelState.from_bytes(data)
    if state.kind not in _REGISTRY and (module := _HOMES.get(state.kind.split(".", 1)[0])):
        importlib.import_module(module)
    cls = _REGISTRY.get(state.kind)
    if cls is None:
        raise ModelStateError(N_("Unknown model kind: {kind}."), kind=state.kind)
    return cls.from_state(state)


@dataclass
class EvalResult:
    """One row of a benchmark table: a model run the way a benchmark's standard protocol says.

    >>> r = EvalResult("m", "FD001", "official test", {"rmse": 12.0}, score_rows=100, score_seconds=0.5)
    >>> r.rows_per_second
    200.0
    """

    model: str
    dataset: str
    protocol: str
    metrics: dict[str, float]
    reference: Mapping[str, str] = field(default_factory=dict)
    fit_seconds: float = 0.0
    score_rows: int = 0
    score_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Scoring throughput; ``nan`` when nothing was timed."""
        return self.score_rows / self.score_seconds if self.score_seconds > 0 else float("nan")


class Benchmark(Protocol):
    """An evaluation routine: runs a fresh model from ``factory`` under one standard protocol."""

    name: str
    protocol: str

    def evaluate(self, factory: Callable[[], Model]) -> EvalResult: ...


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Time a block: ``with stopwatch() as t: ...`` then ``t[0]`` holds the seconds.

    >>> with stopwatch() as t:
    ...     pass
    >>> t[0] >= 0
    True
    """
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start
