"""The analytics on the factory simulator's labelled faults: anomaly detection, quality, remaining useful life.

One labelled history of the showcase plant (:func:`smart365.sim.history.labelled_history`: a fixed seed,
5 simulated days, a row per machine every 10 s, the first 24 h fault-free, then every fault kind several
times on every machine it applies to), then three scores, each on a time-ordered hold-out:

1. **Anomaly** (every machine): the detectors a machine's model can be trained as (monitoring.training
   DETECTORS, with their deployed limits) plus the autoencoder, fitted on the first 24 h of each machine's
   rows that online scoring would see (running, 20 min after a start: ``RunClock`` as deployed), scored on
   the rest. Point-wise SKAB figures (F1, FAR %, MAR %, pooled over machines) and plant-manager figures:
   an alarm is raised when the score stays over the limit for 60 s and cleared below half of it (the
   deployed rule); a fault is caught when an alarm is raised between its start and 30 min after its end;
   any other alarm is false. Baselines: static ±4σ limits per signal, and alarm-always.
2. **Quality** (injection machines): every shot's process values as the reading after it shows them →
   bad part? ``QualityModel`` (LightGBM) and the logistic baseline, trained on the first 60 % of shots in
   time, tested on the rest; the physics' own defect probability (at the
   reading after the shot) is the reference a model can hardly beat.
3. **RUL** (CNC spindle bearings, which run to failure): hours to the breakdown from causal window
   features of vibration, spindle temperature and load, LightGBM on the earlier half of the runs (by
   failure time), tested on the later half; the baseline predicts the training runs' mean RUL.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_simulator.py [--seed 2026] [--days 5]

Writes ``bench/output/bench_simulator.txt`` (the command and date first).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.metrics import average_precision_score, roc_auc_score

from smart365.analytics.anomaly import (
    AnyDetector,
    AutoencoderConfig,
    AutoencoderDetector,
    EwmaConfig,
    EwmaDetector,
    ForestConfig,
    IsolationForestDetector,
    PcaConfig,
    PcaDetector,
    RobustBaseline,
    StuckSignalDetector,
    TrendDetector,
)
from smart365.analytics.metrics import balanced_error_rate, rmse, skab_outlier_metrics
from smart365.analytics.quality import ber_threshold, logistic_fit_predict, quality_fit_predict
from smart365.analytics.rul import RulConfig, window_features
from smart365.monitoring.scoring import RunClock
from smart365.monitoring.training import DETECTORS, INPUTS
from smart365.sim.factory.physics import Fault, FaultKind
from smart365.sim.history import History, labelled_history

OUTPUT = Path(__file__).parent / "output" / "bench_simulator.txt"
SETTLE_S = 1200.0  # scored only 20 min after a start (monitoring.training.default_settings)
DELAY_S = 60.0  # an alarm is raised after 60 s over the limit ...
CLEAR_RATIO = 0.5  # ... and cleared below half of it
GRACE_S = 1800.0  # an alarm up to 30 min after a fault's end still belongs to it
STOP_S = 300.0  # a stop longer than this ends an open alarm (the run restarts)
DEPLOYED_PCA = PcaConfig(quantile=0.995, margin=1.5)  # monitoring.training.DETECTORS["anomaly.pca"]
#: Fault columns of the per-kind table: (machine kind or None for any, fault kind, header).
KIND_COLUMNS: tuple[tuple[str | None, FaultKind, str], ...] = (
    ("cnc", FaultKind.BEARING, "베어링(CNC, 고장까지)\nbearing (CNC, to failure)"),
    ("press", FaultKind.BEARING, "베어링(프레스)\nbearing (press)"),
    ("cnc", FaultKind.TOOL_WEAR, "공구 마모 가속\ntool wear ×5"),
    ("injection", FaultKind.HEATER_DRIFT, "히터 드리프트\nheater drift"),
    (None, FaultKind.SENSOR_FREEZE, "센서 고착\nsensor freeze"),
    (None, FaultKind.SPIKE, "스파이크\nspike"),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- anomaly ------------------------------------------------------------------------------------------


def detector_factories() -> dict[str, Callable[[], AnyDetector | AnyOf]]:
    """The deployable detectors with their deployed limits, the autoencoder alike, and the static-limit baseline."""
    out = {kind: factory for kind, (factory, _name) in DETECTORS.items()}
    # the deployed forest limit (q 99.5 % × 1.2) lies above the forest's reach on three signals (scores < 1, and
    # a far-off point scores about 0.73 against a limit near 0.75), so its library default is scored too
    out["anomaly.iforest (q 0.99, ×1.0)"] = lambda: IsolationForestDetector(ForestConfig())
    out["anomaly.autoencoder"] = lambda: AutoencoderDetector(AutoencoderConfig(quantile=0.995, margin=1.5))
    out["static ±4σ limits (baseline)"] = lambda: EwmaDetector(EwmaConfig(alpha=1.0, quantile=0.5, min_threshold=4.0))
    out["anomaly.pca + anomaly.stuck (demo)"] = lambda: AnyOf((PcaDetector(DEPLOYED_PCA), StuckSignalDetector()))
    out["anomaly.pca + stuck + trend"] = lambda: AnyOf((PcaDetector(DEPLOYED_PCA), StuckSignalDetector(),
                                                        TrendDetector()))  # fmt: skip
    return out


@dataclass
class AnyOf:
    """Models deployed side by side on one machine: an alarm when any one's score is over its limit (each
    score divided by its limit, so 1.0 is the common threshold)."""

    models: tuple[AnyDetector, ...]
    threshold: float = 1.0

    def fit(self, history: pd.DataFrame) -> AnyOf:
        for model in self.models:
            model.fit(history)
        return self

    def score(self, batch: pd.DataFrame) -> np.ndarray:
        return np.max([model.score(batch) / model.threshold for model in self.models], axis=0)


@dataclass
class MachineRows:
    """One machine's rows online scoring would see, split into training (fault-free) and test time."""

    name: str
    kind: str
    t: np.ndarray
    x: pd.DataFrame
    fault: np.ndarray
    train: np.ndarray
    faults: list[Fault]


def machine_rows(h: History) -> list[MachineRows]:
    out = []
    for name, frame in h.frames.items():
        kind = h.plant.machines[name].kind
        t = frame.index.to_numpy(dtype=float)
        gate = RunClock().mask((t * 1e6).astype(np.int64), frame["state"].to_numpy(), 1.0, SETTLE_S)
        rows = frame[gate].set_axis(pd.to_datetime(t[gate], unit="s"))  # detectors read stops from the time index
        faults = [f for f in h.faults if f.machine == name]
        out.append(MachineRows(name, kind, t[gate], rows[list(INPUTS[kind])], rows["fault"].to_numpy(),
                               t[gate] < h.normal_s, faults))  # fmt: skip
    return out


def raise_times(t: np.ndarray, score: np.ndarray, threshold: float, step_s: float) -> list[float]:
    """When alarms are raised: over the limit for ``DELAY_S`` (each row stands for ``step_s``), cleared below
    ``CLEAR_RATIO`` of it or by a stop."""
    raises: list[float] = []
    active, since, last = False, None, -np.inf
    for ti, s in zip(t.tolist(), score.tolist(), strict=True):
        if ti - last > STOP_S:
            active, since = False, None
        last = ti
        if s > threshold:
            since = ti if since is None else since
            if not active and ti - since + step_s >= DELAY_S:
                active = True
                raises.append(ti)
        else:
            since = None
            if active and s < CLEAR_RATIO * threshold:
                active = False
    return raises


@dataclass
class EventCounts:
    """Per fault column: faults seen (running rows inside), caught, delays (s); false alarms; lead times."""

    seen: dict[int, int] = field(default_factory=dict)
    caught: dict[int, int] = field(default_factory=dict)
    delays: dict[int, list[float]] = field(default_factory=dict)
    false_alarms: int = 0
    lead_h: list[float] = field(default_factory=list)  # CNC bearings: hours from the alarm to the failure


def column_of(kind: str, fault: Fault) -> int | None:
    for i, (mkind, fkind, _) in enumerate(KIND_COLUMNS):
        if fault.kind is fkind and mkind in (None, kind):
            return i
    return None


def match_events(m: MachineRows, test_t: np.ndarray, raises: Sequence[float], counts: EventCounts) -> None:
    windows = [(f.start_s, f.end_s + GRACE_S) for f in m.faults]
    counts.false_alarms += sum(not any(lo <= r <= hi for lo, hi in windows) for r in raises)
    for f in m.faults:
        col = column_of(m.kind, f)
        if col is None or not np.any((test_t >= f.start_s) & (test_t < f.end_s)):
            continue  # the machine never ran (settled) during this fault: nothing to see
        counts.seen[col] = counts.seen.get(col, 0) + 1
        hit = next((r for r in raises if f.start_s <= r <= f.end_s + GRACE_S), None)
        if hit is not None:
            counts.caught[col] = counts.caught.get(col, 0) + 1
            counts.delays.setdefault(col, []).append(hit - f.start_s)
            if m.kind == "cnc" and f.kind is FaultKind.BEARING:
                counts.lead_h.append((f.end_s - hit) / 3600)


@dataclass
class AnomalyResult:
    name: str
    f1: float
    far: float
    mar: float
    mar_by_col: dict[int, float]
    events: EventCounts | None
    fit_s: float
    test_days: float


def evaluate_detector(name: str, factory: Callable[[], AnyDetector | AnyOf] | None, rows: list[MachineRows],
                      step_s: float, test_days: float) -> AnomalyResult:  # fmt: skip
    """Fit per machine on its training rows, score its test rows; ``factory`` None: alarm always."""
    truth, preds, cols = [], [], []
    events = EventCounts() if factory is not None else None
    fit_s = 0.0
    for m in rows:
        test = ~m.train
        if factory is None:
            flags = np.ones(int(test.sum()), dtype=bool)
        else:
            start = time.perf_counter()
            det = factory().fit(m.x[m.train])
            fit_s += time.perf_counter() - start
            score = det.score(m.x[test])
            flags = score > det.threshold
            assert events is not None
            match_events(m, m.t[test], raise_times(m.t[test], score, det.threshold, step_s), events)
        truth.append((m.fault[test] != "").astype(int))
        preds.append(flags.astype(int))
        cols.append(np.array([_col_of_row(m.kind, k) for k in m.fault[test]]))
    met = skab_outlier_metrics(truth, preds)
    all_cols, all_pred = np.concatenate(cols), np.concatenate(preds)
    mar_by_col = {c: 100.0 * float(np.mean(all_pred[all_cols == c] == 0)) for c in range(len(KIND_COLUMNS))
                  if np.any(all_cols == c)}  # fmt: skip
    return AnomalyResult(name, met.f1, met.far, met.mar, mar_by_col, events, fit_s, test_days)


def _col_of_row(kind: str, fault: str) -> int:
    if not fault:
        return -1
    for i, (mkind, fkind, _) in enumerate(KIND_COLUMNS):
        if fault == str(fkind) and mkind in (None, kind):
            return i
    return -1


def anomaly_tables(h: History, console: Console) -> None:
    rows = machine_rows(h)
    test_days = (h.horizon_s - h.normal_s) / 86400
    machine_days = test_days * len(rows)
    results = []
    for name, factory in detector_factories().items():
        log(f"[anomaly] {name} ...")
        results.append(evaluate_detector(name, factory, rows, h.step_s, test_days))
    results.append(evaluate_detector("alarm always (baseline)", None, rows, h.step_s, test_days))
    overall = Table(
        title=f"이상 감지: 시뮬레이터 고장 / Anomaly detection on the simulator's faults "
        f"({len(rows)} machines, train first {h.normal_s / 3600:.0f} h, test {test_days:.1f} days)"
    )
    for header in ("탐지기 / detector", "F1", "FAR %", "MAR %", "잡은 고장 / faults caught",
                   "지연 중앙값 / median delay", "오경보/설비·일 / false alarms per machine-day",
                   "학습 (초) / fit (s)"):  # fmt: skip
        overall.add_column(header, justify="left" if header.startswith("탐지기") else "right")
    for r in results:
        ev = r.events
        if ev is None:
            overall.add_row(r.name, f"{r.f1:.3f}", f"{r.far:.1f}", f"{r.mar:.1f}", "—", "—", "—", "—")
            continue
        seen, caught = sum(ev.seen.values()), sum(ev.caught.values())
        delays = [d for ds in ev.delays.values() for d in ds]
        overall.add_row(r.name, f"{r.f1:.3f}", f"{r.far:.1f}", f"{r.mar:.1f}", f"{caught}/{seen} ({caught / seen:.0%})",
                        _minutes(delays), f"{ev.false_alarms / machine_days:.2f}", f"{r.fit_s:.1f}")  # fmt: skip
    console.print(overall)
    by_kind = Table(title="고장 종류별 / By fault kind: caught/seen · median delay from fault start · point MAR %")
    by_kind.add_column("탐지기 / detector")
    for _, _, header in KIND_COLUMNS:
        by_kind.add_column(header, justify="right")
    for r in results:
        if r.events is None:
            continue
        ev = r.events
        cells = [f"{ev.caught.get(c, 0)}/{ev.seen.get(c, 0)} · {_minutes(ev.delays.get(c, []))}\n"
                 f"MAR {r.mar_by_col.get(c, float('nan')):.0f}%" for c in range(len(KIND_COLUMNS))]  # fmt: skip
        by_kind.add_row(r.name, *cells)
    console.print(by_kind)
    console.print(NOTES_ANOMALY)
    for r in results:
        if r.events is not None and r.events.lead_h:
            lead = r.events.lead_h
            console.print(f"  {r.name}: CNC bearing alarms came {np.median(lead):.1f} h (median; "
                          f"min {min(lead):.1f} h) before the breakdown")  # fmt: skip


NOTES_ANOMALY = """\
  seen = faults during which the machine ran (settled) in test time; caught = an alarm raised between the fault's
  start and 30 min after its end; delay = from the fault's start to that alarm (an alarm needs 60 s over the limit).
  Hard by construction of the physics: accelerated tool wear (×5) gives the same load, temperature and cycle time as
  normal wear, only sooner: a point-wise detector cannot see it, anomaly.trend (the load rising in both halves of
  its window faster than ever in the history) can. A frozen sensor holds a normal value: the point-wise detectors
  see it only by chance, anomaly.stuck (a value unchanged far longer than ever in the history) is built for it, so
  the demo deploys it next to PCA. The trend detector's window (120 rows) and margin (2) were set before this
  bench ran; the same plant with windows 120 / 240 and margins 1.5 / 2 / 3 caught 4-8 of 8 wear faults with 0-8
  false alarms in all (sensitivity, not a tuned figure). Bearings degrade as progress⁴ in vibration,
  so they are caught hours after onset but still hours before the breakdown. Spikes and heater drift are easy."""


def _minutes(delays: Sequence[float]) -> str:
    return f"{np.median(delays) / 60:.0f} min" if len(delays) else "—"


# --- quality ------------------------------------------------------------------------------------------

PART_FEATURES = ["barrel_temp", "mould_temp", "injection_pressure", "cycle_time"]


def quality_table(h: History, console: Console, train_share: float = 0.6) -> None:
    parts = h.parts[h.parts["shots"] == 1].sort_values("t_s", kind="stable").reset_index(drop=True)
    cut = int(len(parts) * train_share)
    train, test = parts.iloc[:cut], parts.iloc[cut:]
    y_tr, y_te = train["bad"].to_numpy(), test["bad"].to_numpy()
    table = Table(title=f"품질 예측 / Defect prediction from process values: {len(parts):,} shots on "
                        f"{parts['machine'].nunique()} injection machines, first {train_share:.0%} in time train "
                        f"({int(y_tr.sum())} bad), rest test ({len(test):,} shots, {int(y_te.sum())} bad)")  # fmt: skip
    for header in ("모델 / model", "ROC-AUC", "PR-AUC", "BER", "학습 (초) / fit (s)"):
        table.add_column(header, justify="left" if header.startswith("모델") else "right")
    for name, fit in (("quality.lightgbm", quality_fit_predict()), ("logistic regression (baseline)",
                                                                     logistic_fit_predict)):  # fmt: skip
        log(f"[quality] {name} ...")
        start = time.perf_counter()
        scorer = fit(train[PART_FEATURES], y_tr)
        fit_s = time.perf_counter() - start
        proba, pred = scorer(test[PART_FEATURES])
        table.add_row(name, *_quality_metrics(y_te, proba, pred), f"{fit_s:.1f}")
    prior = np.full(len(test), y_tr.mean())
    table.add_row("defect rate (baseline)", *_quality_metrics(y_te, prior, np.zeros(len(test), dtype=int)), "—")
    oracle = test["p_true"].to_numpy()
    cut_p = ber_threshold(train["p_true"].to_numpy(), y_tr)
    table.add_row("physics' own p(defect) (reference)", *_quality_metrics(y_te, oracle, (oracle >= cut_p).astype(int)),
                  "—")  # fmt: skip
    console.print(table)


def _quality_metrics(y: np.ndarray, proba: np.ndarray, pred: np.ndarray) -> tuple[str, str, str]:
    auc = roc_auc_score(y, proba) if np.ptp(proba) > 0 else 0.5
    return f"{auc:.3f}", f"{average_precision_score(y, proba):.3f}", f"{balanced_error_rate(y, pred):.3f}"


# --- remaining useful life ----------------------------------------------------------------------------

RUL_SIGNALS = ["vibration", "spindle_temp", "spindle_load"]
RUL_WINDOW = 60  # rows: 10 min at 10 s
RUL_TREES = 300


def rul_runs(h: History) -> pd.DataFrame:
    """One row per settled running reading inside each CNC bearing fault: run id, elapsed row, z-scored
    signals (robust baseline of the machine's fault-free first day), hours to the breakdown."""
    parts = []
    runs = sorted((f for f in h.faults if f.kind is FaultKind.BEARING and h.plant.machines[f.machine].kind == "cnc"),
                  key=lambda f: f.end_s)  # fmt: skip
    for unit, f in enumerate(runs):
        frame = h.frames[f.machine]
        t = frame.index.to_numpy(dtype=float)
        gate = RunClock().mask((t * 1e6).astype(np.int64), frame["state"].to_numpy(), 1.0, SETTLE_S)
        base = RobustBaseline.fit(frame.loc[gate & (t < h.normal_s), RUL_SIGNALS])
        inside = gate & (t >= f.start_s) & (t < f.end_s)
        z = pd.DataFrame(base.z(frame.loc[inside, RUL_SIGNALS]), columns=RUL_SIGNALS)
        z["unit"], z["cycle"] = unit, np.arange(1, int(inside.sum()) + 1)
        z["rul_h"], z["frac"] = (f.end_s - t[inside]) / 3600, (t[inside] - f.start_s) / (f.end_s - f.start_s)
        parts.append(z)
    return pd.concat(parts, ignore_index=True)


def rul_table(h: History, console: Console) -> None:
    data = rul_runs(h)
    units = np.unique(data["unit"])
    train_units = units[: len(units) // 2]  # runs are numbered by failure time: the earlier half trains
    tr, te = data[data["unit"].isin(train_units)], data[~data["unit"].isin(train_units)]
    # the window features without the row count: how long a degradation has run is unknown in practice
    x_tr = window_features(tr, tr[RUL_SIGNALS].to_numpy(), RUL_WINDOW)[:, :-1]
    x_te = window_features(te, te[RUL_SIGNALS].to_numpy(), RUL_WINDOW)[:, :-1]
    params = RulConfig(threads=1).lgb_params()
    start = time.perf_counter()
    booster = lgb.train(params, lgb.Dataset(x_tr, tr["rul_h"].to_numpy()), RUL_TREES)
    fit_s = time.perf_counter() - start
    y = te["rul_h"].to_numpy()
    late = te["frac"].to_numpy() >= 0.5
    preds = {"LightGBM, window features": np.clip(booster.predict(x_te), 0.0, None),
             "training mean RUL (baseline)": np.full(len(te), tr["rul_h"].mean())}  # fmt: skip
    table = Table(title=f"잔여 수명 / Remaining useful life of CNC spindle bearings: {len(units)} runs to failure "
                        f"({tr['rul_h'].groupby(tr['unit']).max().round(1).tolist()} h train, "
                        f"{te['rul_h'].groupby(te['unit']).max().round(1).tolist()} h test)")  # fmt: skip
    for header in ("모델 / model", "RMSE (h), all rows", "RMSE (h), second half of each run", "MAE (h)",
                   "학습 (초) / fit (s)"):  # fmt: skip
        table.add_column(header, justify="left" if header.startswith("모델") else "right")
    for name, p in preds.items():
        table.add_row(name, f"{rmse(y, p):.2f}", f"{rmse(y[late], p[late]):.2f}", f"{np.mean(np.abs(y - p)):.2f}",
                      f"{fit_s:.1f}" if name.startswith("Light") else "—")  # fmt: skip
    console.print(table)


# --- main ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--days", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {OUTPUT.name}")
    args = parser.parse_args(argv)
    console = Console(record=True, width=200)
    log(f"simulating {args.days:g} days (seed {args.seed}) ...")
    start = time.perf_counter()
    h = labelled_history(seed=args.seed, days=args.days)
    sim_s = time.perf_counter() - start
    kinds = pd.Series([f"{h.plant.machines[f.machine].kind}:{f.kind}" for f in h.faults]).value_counts()
    console.print(f"Showcase plant, seed {args.seed}: {args.days:g} days simulated in {sim_s:.0f} s "
                  f"(a row per machine every {h.step_s:g} s); fault-free first {h.normal_s / 3600:.0f} h; "
                  f"{len(h.faults)} faults: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))  # fmt: skip
    anomaly_tables(h, console)
    quality_table(h, console)
    rul_table(h, console)
    if not args.no_write:
        command = "$ OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_simulator.py " + " ".join(
            sys.argv[1:] if argv is None else argv
        )
        date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout.strip()
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(f"{command.rstrip()}\n{date}\n{console.export_text()}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
