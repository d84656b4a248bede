"""Deploy a test-bed winner: refit it on the whole table and save it as a :class:`ModelState` (JSON
parameters, numeric arrays, text; never a pickle), then register it in the model registry.

Every candidate that can win is savable: LightGBM (its text dump), the linear models (imputation medians,
scaling, coefficients as arrays), the random forest (imputation medians and its trees as flat arrays,
:mod:`smart365.analytics.trees`) and the anomaly detectors (their own ``state()``). A run on an uploaded file
is deployed onto the firm's tags: each input column is mapped to a registered tag (:func:`propose_mapping`
suggests one by name), because a deployed model reads live tags.

A run on tags is refitted with its columns named by tag id, as live scoring reads them
(:mod:`smart365.monitoring.scoring`), and registered with the feature tags as its inputs.

>>> rng = np.random.default_rng(1)
>>> t = pd.DataFrame({"time": pd.date_range("2026-01-01", periods=120, freq="min"), "a": rng.normal(size=120)})
>>> t["b"] = 2 * t.a + rng.normal(0, 0.05, 120)
>>> saved = winner_state(t, "b", "time", "regression", "linear (ridge)")
>>> saved.kind, saved.state.params["features"], saved.trained_to.isoformat()
('testbed.linear', ['a'], '2026-01-01T01:59:00+09:00')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.analytics import anomaly, registry
from smart365.analytics.contract import ModelState, register
from smart365.analytics.contract import load as load_state
from smart365.analytics.quality import sigmoid
from smart365.analytics.testbed import (
    Calibrated,
    Candidate,
    Prepared,
    Task,
    anomaly_candidates,
    classification_candidates,
    prepare,
    regression_candidates,
)
from smart365.analytics.trees import flatten as flatten_trees
from smart365.analytics.trees import walk as walk_trees
from smart365.core import audit
from smart365.core.db import SEOUL
from smart365.core.errors import Conflict, Invalid
from smart365.core.i18n import N_
from smart365.core.lazy import lazy
from smart365.monitoring.scoring import row_period_s
from smart365.registry.models import Tag
from smart365.testbed.models import TestbedRun
from smart365.testbed.tables import Staging

if TYPE_CHECKING:
    import lightgbm as lgb
else:
    lgb = lazy("lightgbm")

SAVABLE = {"LightGBM": "testbed.lightgbm", "linear (ridge)": "testbed.linear", "linear (logistic)": "testbed.linear",
           "random forest": "testbed.forest",
           "EWMA robust z": anomaly.EwmaDetector.kind, "PCA T²+SPE": anomaly.PcaDetector.kind,
           "isolation forest": anomaly.IsolationForestDetector.kind,
           "trend (slope)": anomaly.TrendDetector.kind}  # fmt: skip
SUPERVISED = ("testbed.lightgbm", "testbed.linear", "testbed.forest")
NOT_SAVABLE = N_("{model} cannot be saved as a model, so it cannot be deployed.")


def deployability(run: TestbedRun) -> tuple[bool, str | None]:
    """Whether the run's winner can be deployed, else the reason (a msgid with ``{model}``)."""
    report = run.report or {}
    winner = report.get("winner", {})
    if run.deployed_model_id is not None:
        return False, N_("Deployed as model #{model_id}.")
    if run.source_kind != "tags" and not run.time_column:
        return False, N_("A deployed model needs a date/time column to know what period it learned from.")
    if run.source_kind != "tags" and any("=" in f for f in input_columns(run)):
        return False, N_("The model reads a column made from text values, which no live tag sends, so it cannot "
                         "watch the machine.")
    if not winner.get("beats_baselines"):
        return False, N_("No model beats the simple baselines, so there is nothing worth deploying.")
    if winner.get("model") not in SAVABLE:
        return False, NOT_SAVABLE
    return True, None


@dataclass
class SavedWinner:
    """The winner refitted on the whole table: what the registry stores."""

    kind: str
    state: ModelState
    metrics: dict[str, float]
    trained_from: datetime
    trained_to: datetime


def winner_state(
    frame: pd.DataFrame, target: str, time: str | None, task: str | None, winner: str,
    metrics: dict[str, float] | None = None, group: str | None = None,
) -> SavedWinner:  # fmt: skip
    """Refit ``winner`` on every row of ``frame`` and return its state, metrics and training window. A
    two-class winner keeps its calibration and decision threshold (chosen on its training rows)."""
    if winner not in SAVABLE:
        raise Invalid(NOT_SAVABLE, model=winner)
    prep = prepare(frame, target, time, cast(Task, task) if task and task != "auto" else None, group=group)
    groups = prep.groups
    fitted = _candidate(prep, winner).fit(prep.x, prep.y, groups=groups)
    params: dict[str, Any] = {"task": prep.task, "target": target, "time": time, "winner": winner,
              "features": list(prep.x.columns),
              "classes": prep.classes, "group": group}  # fmt: skip
    if isinstance(fitted, Calibrated):
        params["calibration"] = {"a": fitted.a, "b": fitted.b, "cut": fitted.cut, "positive": fitted.positive}
        estimator = fitted.model.model
    else:
        estimator = getattr(fitted, "model", None)
    if prep.task == "anomaly":
        state = fitted.detector.state()  # type: ignore[attr-defined]
        state.params |= {"testbed": params}
    else:
        normal = anomaly.RobustBaseline.fit(prep.x.astype(float))  # explains a live score by what is off normal
        arrays = {"normal_center": normal.center, "normal_scale": normal.scale}
        if winner == "LightGBM":
            texts = {"model": estimator.booster_.model_to_string()}
            state = ModelState(SAVABLE[winner], params, arrays, texts=texts)
        elif winner == "random forest":
            state = ModelState(SAVABLE[winner], params, arrays | _forest_arrays(estimator))
        else:
            state = ModelState(SAVABLE[winner], params, arrays | _linear_arrays(estimator))
    start, end = _window(prep)
    return SavedWinner(state.kind, state, dict(metrics or {}), start, end)


def _candidate(prep: Prepared, name: str) -> Candidate:
    if prep.task == "classification":
        candidates = classification_candidates(len(prep.y), 1, prep.positive if prep.binary else None)
    elif prep.task == "regression":
        candidates = regression_candidates(len(prep.y))
    else:
        candidates = anomaly_candidates()
    return next(c for c in candidates if c.name == name)


def _linear_arrays(pipeline: Any) -> dict[str, NDArray[Any]]:
    imputer, scaler, model = (step for _name, step in pipeline.steps)
    arrays = {"median": imputer.statistics_, "mean": scaler.mean_, "scale": scaler.scale_}
    return {k: np.asarray(v, dtype=float) for k, v in arrays.items()} | {
        "coef": np.atleast_2d(np.asarray(model.coef_, dtype=float)),
        "intercept": np.atleast_1d(np.asarray(model.intercept_, dtype=float)),
    }


def _forest_arrays(pipeline: Any) -> dict[str, NDArray[Any]]:
    imputer, forest = (step for _name, step in pipeline.steps)
    trees = flatten_trees(forest.estimators_, values=True)
    return {"median": np.asarray(imputer.statistics_, dtype=float)} | {f"tree_{k}": v for k, v in trees.items()}


def _window(prep: Prepared) -> tuple[datetime, datetime]:
    """First and last moment of the training rows (Korean time when the table's times have no zone)."""
    if prep.order is None or not np.issubdtype(np.asarray(prep.order).dtype, np.datetime64):
        raise Invalid(N_("A deployed model needs a date/time column to know what period it learned from."))
    first, last = (pd.Timestamp(prep.order[0]), pd.Timestamp(prep.order[-1]))
    first, last = (t.tz_localize(SEOUL) if t.tzinfo is None else t for t in (first, last))
    return first.to_pydatetime(), last.to_pydatetime()


def predict(state: ModelState, batch: pd.DataFrame) -> NDArray[Any]:
    """What a saved winner predicts for ``batch``: class index, value, or 0/1 anomaly flag per row."""
    if state.kind not in SUPERVISED:
        detector = load_state(state)
        return np.asarray(detector.detect(batch)).astype(np.int64)  # type: ignore[attr-defined]
    raw = _raw(state, batch)
    if state.params["task"] == "regression":
        return raw
    if "calibration" in state.params:
        proba = positive_probability(state, batch, raw)
        positive = int(state.params["calibration"]["positive"])
        chosen = proba >= float(state.params["calibration"]["cut"])
        return np.where(chosen, positive, 1 - positive).astype(np.int64)
    if state.kind == "testbed.lightgbm":
        return raw.argmax(axis=1) if raw.ndim == 2 else (raw > 0.5).astype(np.int64)
    if state.kind == "testbed.forest":
        return raw.argmax(axis=1)
    return raw.argmax(axis=1) if raw.shape[1] > 1 else (raw[:, 0] > 0).astype(np.int64)


def _raw(state: ModelState, batch: pd.DataFrame) -> NDArray[Any]:
    """The saved model's own output: LightGBM's probabilities or value, a forest's class shares or value, a
    linear model's margins or value."""
    x = batch[state.params["features"]].to_numpy(dtype=float)
    if state.kind == "testbed.lightgbm":
        return np.asarray(_booster(state.texts["model"]).predict(x))
    a = state.arrays
    filled = np.where(np.isnan(x), a["median"], x)  # the training medians, as the fitted imputer filled them
    if state.kind == "testbed.forest":
        trees = {k[len("tree_") :]: v for k, v in a.items() if k.startswith("tree_")}
        leaf, _depth = walk_trees(trees, filled.astype(np.float32))
        shares = trees["value"][leaf].mean(axis=1)  # the trees' average, as scikit-learn's forest predicts
        return np.asarray(shares[:, 0]) if state.params["task"] == "regression" else np.asarray(shares)
    raw = (filled - a["mean"]) / a["scale"] @ a["coef"].T + a["intercept"]
    return np.asarray(raw[:, 0]) if state.params["task"] == "regression" else np.asarray(raw)


@lru_cache(maxsize=64)
def _booster(model_text: str) -> lgb.Booster:
    """A saved LightGBM model, parsed once: live scoring predicts with it on every batch."""
    return lgb.Booster(model_str=model_text)


def positive_probability(state: ModelState, batch: pd.DataFrame, raw: NDArray[Any] | None = None) -> NDArray[Any]:
    """The calibrated probability of the positive class (the defect, the failure) per row of ``batch``."""
    calibration = state.params["calibration"]
    raw = _raw(state, batch) if raw is None else raw
    if state.kind in ("testbed.lightgbm", "testbed.forest"):
        class1 = np.clip(raw if raw.ndim == 1 else raw[:, 1], 1e-6, 1 - 1e-6)
        logit_class1 = np.log(class1 / (1 - class1))
    else:
        logit_class1 = np.asarray(raw[:, 0])
    score = logit_class1 if int(calibration["positive"]) == 1 else -logit_class1
    return np.asarray(sigmoid(float(calibration["a"]) * score + float(calibration["b"])), dtype=float)


class _Saved:
    """A saved winner as a :mod:`~smart365.analytics.contract` model, so ``contract.load(state)`` rebuilds it."""

    kind: ClassVar[str]

    def __init__(self, state: ModelState) -> None:
        self._state = state

    def fit(self, history: pd.DataFrame) -> Self:
        """Refit the same candidate on a newer table with the same columns."""
        p = self._state.params
        self._state = winner_state(history, p["target"], p["time"], p["task"], p["winner"], group=p.get("group")).state
        return self

    def predict(self, batch: pd.DataFrame) -> NDArray[Any]:
        return predict(self._state, batch)

    def score(self, batch: pd.DataFrame) -> NDArray[np.float64]:
        """The live score: the positive class's calibrated probability (a two-class winner), the value (a
        regression), or the predicted class (more classes: its label when the labels are numbers, else its
        position), shown without an alarm limit."""
        if "calibration" in self._state.params:
            return positive_probability(self._state, batch)
        if self._state.params["task"] == "regression":
            return np.asarray(_raw(self._state, batch), dtype=float)
        chosen = predict(self._state, batch)
        labels = pd.to_numeric(pd.Series(self._state.params["classes"]), errors="coerce").to_numpy(dtype=float)
        return labels[chosen] if not np.isnan(labels).any() else chosen.astype(float)

    @property
    def threshold(self) -> float:
        """Alarm above this score: the decision threshold chosen on the training rows; none for a value."""
        calibration = self._state.params.get("calibration")
        return float(calibration["cut"]) if calibration else float("inf")

    @property
    def baseline(self) -> anomaly.RobustBaseline | None:
        """The training rows' normal level per input, so a live alarm says which inputs are off normal."""
        a = self._state.arrays
        if "normal_center" not in a:
            return None
        return anomaly.RobustBaseline([str(f) for f in self._state.params["features"]], a["normal_center"],
                                      a["normal_scale"])  # fmt: skip

    def state(self) -> ModelState:
        return self._state

    @classmethod
    def from_state(cls, state: ModelState) -> Self:
        return cls(state)


@register
class SavedBooster(_Saved):
    kind: ClassVar[str] = "testbed.lightgbm"


@register
class SavedLinear(_Saved):
    kind: ClassVar[str] = "testbed.linear"


@register
class SavedForest(_Saved):
    kind: ClassVar[str] = "testbed.forest"


def input_columns(run: TestbedRun) -> list[str]:
    """The columns the run's models read (after its data checks left some out)."""
    return [str(f) for f in ((run.report or {}).get("data") or {}).get("features", [])]


def propose_mapping(session: Session, run: TestbedRun) -> dict[str, int | None]:
    """For a run on a file: the firm's tag each input column most likely is, by name (``MACHINE/tag``, the
    tag's name or its display name, case and spacing aside); ``None`` where no single tag matches."""

    def key(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum() or ch == "/")

    names: dict[str, set[int]] = {}
    for tag in session.scalars(select(Tag).where(Tag.company_id == run.company_id)):
        for name in {tag.name, tag.label, f"{tag.equipment.name}/{tag.name}", tag.machine_label}:
            names.setdefault(key(name), set()).add(int(tag.id))
    found = {column: names.get(key(column), set()) for column in input_columns(run)}
    return {column: next(iter(ids)) if len(ids) == 1 else None for column, ids in found.items()}


def _mapped(session: Session, run: TestbedRun, mapping: Mapping[str, int] | None) -> dict[str, int]:
    """The run's input columns → tag ids: a tag run's own; a file run's as the user mapped them (every input
    to a distinct tag of the firm)."""
    if run.source_kind == "tags":
        return {str(column): int(tag) for column, tag in run.source_spec.get("columns_of", {}).items()}
    chosen = dict(mapping or {})
    columns = input_columns(run)
    for column in columns:
        tag = session.get(Tag, chosen.get(column, -1))
        if tag is None or tag.company_id != run.company_id:
            raise Invalid(N_("Choose the firm's tag that column {column} is, so the model can read it live."),
                          column=column)  # fmt: skip
    if len({chosen[column] for column in columns}) < len(columns):
        raise Invalid(N_("Each column needs a tag of its own: two columns cannot read the same tag."))
    return {column: int(chosen[column]) for column in columns}


def deploy_winner(
    session: Session, staging: Staging, run: TestbedRun, by: str, mapping: Mapping[str, int] | None = None
) -> int:
    """Refit the run's winner on its whole table, register it and deploy it; returns the model id. A run on
    a file needs ``mapping``: its input columns → the firm's tags the model reads live."""
    ok, reason = deployability(run)
    if not ok:
        raise Conflict(reason or NOT_SAVABLE, model=_winner(run), model_id=run.deployed_model_id or 0)
    report = run.report or {}
    spec = run.source_spec
    winner = _winner(run)
    metrics = {k: float(v) for k, v in report["results"][0]["metrics"].items() if v is not None}
    tag_of = _mapped(session, run, mapping)
    frame = staging.load(run.company_id, str(spec.get("token", "")))
    frame = frame.rename(columns={column: str(tag) for column, tag in tag_of.items()})
    target = str(tag_of.get(run.target, run.target))
    group = spec.get("group")
    group = str(tag_of.get(group, group)) if group else None
    saved = winner_state(frame, target, run.time_column, run.task, winner, metrics, group=group)
    inputs = _input_tags(saved.state)
    equipment_id = _equipment_of(session, tag_of[run.target] if run.target in tag_of else inputs[0])
    model = registry.register(
        session, company_id=run.company_id, equipment_id=equipment_id, name=run.target,
        kind=saved.kind, state=saved.state, tag_ids=inputs,
        trained_from=saved.trained_from, trained_to=saved.trained_to, metrics=saved.metrics, created_by=by,
    )  # fmt: skip
    model.settings = {"bucket_s": row_period_s(pd.DatetimeIndex(pd.to_datetime(frame[run.time_column]))),
                      "testbed_run_id": int(run.id)}  # the machine page links the model to the run it came from
    registry.deploy(session, model.id, by=by)
    run.deployed_model_id = int(model.id)
    audit.record(session, audit.Action.TESTBED_DEPLOY, f"testbed_run:{run.id}", company_id=run.company_id,
                 details={"model_id": int(model.id), "model": winner, "target": run.target,
                          "tags": tag_of})  # fmt: skip
    return int(model.id)


def _input_tags(state: ModelState) -> list[int]:
    """The tag ids the saved model reads, in its feature order; a derived feature cannot be read live."""
    params = state.params.get("testbed", state.params)
    features = [str(f) for f in params["features"]]
    derived = [f for f in features if not f.isdigit()]
    if derived:
        raise Conflict(N_("The model uses {feature}, which is not a live tag, so it cannot watch the machine."),
                       feature=derived[0])  # fmt: skip
    return [int(f) for f in features]


def _winner(run: TestbedRun) -> str:
    return str((run.report or {}).get("winner", {}).get("model", "?"))


def _equipment_of(session: Session, tag_id: int) -> int:
    tag = session.get(Tag, int(tag_id))
    if tag is None:
        raise Invalid(N_("The target tag no longer exists."))
    return int(tag.equipment_id)
