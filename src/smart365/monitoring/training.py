"""Training an anomaly model on a machine's own stored history, registered as the next candidate version.

The history is aligned and gated exactly as online scoring does it (:mod:`smart365.monitoring.scoring`),
so the model learns the rows it will later score. Known incidents can be left out (``exclude``). The
model is fitted on the first 80 % of the window, its alarm rate measured on the last 20 % (rows beyond the
threshold in data assumed normal: the false-alarm rate to expect), then fitted again on the whole window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from smart365.analytics import registry as models
from smart365.analytics.anomaly import (
    AnyDetector,
    EwmaConfig,
    EwmaDetector,
    ForestConfig,
    IsolationForestDetector,
    PcaConfig,
    PcaDetector,
    StuckSignalDetector,
    TrendDetector,
)
from smart365.analytics.contract import stopwatch
from smart365.analytics.models import AnalyticsModel
from smart365.analytics.registry import KIND_LABELS
from smart365.core.errors import Invalid
from smart365.core.i18n import N_
from smart365.monitoring.scoring import DEFAULTS, history_frame, row_period_s
from smart365.registry import service as registry
from smart365.registry.models import Equipment, Tag
from smart365.telemetry.store import TimeSeriesStore

#: Detector kinds a machine's model can be trained as: a fresh detector and its name for people. Limits
#: sit at the 99.5 % quantile of the history's own scores times 1.5: a short history of one machine does
#: not show every normal situation, and an operator ignores an alarm that cries wolf.
DETECTORS: dict[str, tuple[Callable[[], AnyDetector], str]] = {
    "anomaly.pca": (lambda: PcaDetector(PcaConfig(quantile=0.995, margin=1.5)), KIND_LABELS["anomaly.pca"]),
    "anomaly.ewma": (lambda: EwmaDetector(EwmaConfig(margin=1.5)), KIND_LABELS["anomaly.ewma"]),
    "anomaly.iforest": (
        # No margin: the forest's score stays below 1, so a multiple of its 99.5 % quantile can be out of reach.
        lambda: IsolationForestDetector(ForestConfig(quantile=0.995, margin=1.0)),
        KIND_LABELS["anomaly.iforest"],
    ),
    # Alongside one of the above: a frozen sensor reads a normal value, so only its stillness gives it away.
    "anomaly.stuck": (StuckSignalDetector, KIND_LABELS["anomaly.stuck"]),
    # A wear or drift too fast for its history (both halves of a 120-row window rising), not a level.
    "anomaly.trend": (TrendDetector, KIND_LABELS["anomaly.trend"]),
}
#: The input signals worth a model per machine kind (counters and state codes are not signals).
INPUTS = {
    "cnc": ("spindle_load", "spindle_temp", "vibration"),
    "injection": ("barrel_temp", "mould_temp", "injection_pressure"),
    "press": ("tonnage", "die_temp", "vibration"),
}
MIN_ROWS = 60
STATE_TAG = "state"


def default_inputs(machine: Equipment) -> list[Tag]:
    """The tags a machine's anomaly model watches: its kind's signals, else every tag but states and counters."""
    tags = {t.name: t for t in machine.tags}
    wanted = [tags[n] for n in INPUTS.get(machine.kind, ()) if n in tags]
    if wanted:
        return wanted
    return [t for t in machine.tags if t.name not in ("state", "stop_reason") and not t.name.endswith("_count")]


def default_settings(machine: Equipment) -> dict[str, Any]:
    """Score only while the machine runs and has warmed up (20 min), when it has a state tag."""
    state = next((t for t in machine.tags if t.name == STATE_TAG), None)
    if state is None:
        return {}
    return {"gate_tag_id": state.id, "run_value": 1.0, "settle_s": 1200.0, "delay_s": 60.0}


def _fit(kind: str, frame: pd.DataFrame) -> AnyDetector:
    detector = DETECTORS[kind][0]()
    return detector.fit(frame)


def train_anomaly_model(
    session: Session,
    store: TimeSeriesStore,
    *,
    equipment_id: int,
    start: datetime,
    end: datetime,
    created_by: str,
    kind: str = "anomaly.pca",
    name: str = "anomaly",
    tag_ids: Sequence[int] | None = None,
    settings: dict[str, Any] | None = None,
    exclude: Sequence[tuple[datetime, datetime]] = (),
) -> AnalyticsModel:
    """Fit an anomaly detector on the machine's history and register it as the next candidate version."""
    machine = registry.get(session, Equipment, equipment_id)
    if kind not in DETECTORS:
        raise Invalid(N_("Unknown model kind: {kind}."), kind=kind)
    inputs = list(tag_ids) if tag_ids is not None else [t.id for t in default_inputs(machine)]
    own = {t.id for t in machine.tags}
    if not inputs or any(t not in own for t in inputs):
        raise Invalid(N_("Choose input tags of this machine."))
    online = default_settings(machine) if settings is None else settings
    frame = history_frame(store, inputs, start, end, online, exclude)
    period = row_period_s(frame.index)
    if "bucket_s" not in online and period > DEFAULTS["bucket_s"]:  # score live rows at the history's cadence
        online = online | {"bucket_s": period}
        frame = history_frame(store, inputs, start, end, online, exclude)
    if len(frame) < MIN_ROWS:
        raise Invalid(
            N_("The training window holds {rows} usable rows; at least {minimum} are needed."),
            rows=len(frame), minimum=MIN_ROWS,
        )  # fmt: skip
    cut = int(len(frame) * 0.8)
    with stopwatch() as fit_time:
        trial = _fit(kind, frame.iloc[:cut])
        holdout = float(np.mean(trial.score(frame.iloc[cut:]) > trial.threshold))
        detector = _fit(kind, frame)
    metrics = {
        "rows": float(len(frame)),
        "threshold": float(detector.threshold),
        "train_alarm_rate": float(np.mean(detector.score(frame) > detector.threshold)),
        "holdout_alarm_rate": holdout,
        "fit_seconds": round(fit_time[0], 3),
    }
    row = models.register(
        session, company_id=machine.company_id, equipment_id=machine.id, name=name, kind=kind,
        state=detector.state(), tag_ids=inputs, trained_from=start, trained_to=end, metrics=metrics,
        created_by=created_by,
    )  # fmt: skip
    row.settings = dict(online)
    session.flush()
    return row
