"""Online anomaly scoring: a machine's deployed anomaly model scores its tags as they are stored, and raises
and clears alarm events that say which signals are off and by how much.

**Aligning tags in time.** Points arrive per tag (an OPC UA subscription sends a tag only when it changes),
so a model's row is built per ``bucket_s`` second (default 1 s): the last value of each tag in that second,
and for a tag without a point in it, its last value before (carried forward: no change means the same
value). A bucket is scored once every tag has a point in it, or once data ``lateness_s`` seconds newer has
arrived; a point for a bucket already scored is stored but not scored again.

**Gate.** A model may score only while its machine runs (``gate_tag_id`` equals ``run_value``) and has run
for ``settle_s`` seconds, because stopping and warming up are normal and look nothing like steady running.

**Alarms.** The score goes through the same hysteresis and on-delay as a rule's alarm
(:func:`smart365.monitoring.alarms.evaluate_rule`): raise when it stays above the model's calibrated
threshold for ``delay_s``, clear when it falls below ``clear_ratio`` × threshold. Each model has at most one
open event (also after a restart), so a long anomaly is one alarm, not a flood. The explanation is
:func:`smart365.analytics.anomaly.explain_row` at the raising row (the top signals in robust sigmas), and
again at each new peak while the alarm is open (a score 20 % above the last explained one), so a fault
that grows is explained by what it has become.

>>> a = Aligner(2, bucket_s=1, lateness_s=2)
>>> ts, rows = a.push([0, 1, 0], [0, 0, 1_500_000], [1.0, 10.0, 2.0])  # second 0 complete; second 1 waits
>>> ts.tolist(), rows.tolist()
([0], [[1.0, 10.0]])
>>> a.flush()[1].tolist()  # tag 1 carried forward
[[2.0, 10.0]]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.analytics import registry
from smart365.analytics.anomaly import AnyDetector, Contribution, explain_at
from smart365.analytics.models import AnalyticsModel, ModelScore
from smart365.core.db import Database, utcnow
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.alarms import Rule, RuleState, Transition, evaluate_rule
from smart365.monitoring.models import AlarmEvent
from smart365.registry.models import Tag
from smart365.registry.vocab import SIGNAL_LABELS
from smart365.telemetry.batch import Batch, to_epoch_us
from smart365.telemetry.store import TimeSeriesStore

log = logging.getLogger(__name__)

US = 1_000_000
#: How a model runs online unless its registry row's ``settings`` say otherwise.
#: Rows each deployed model scored, so every process (``serve`` or a ``worker``) shows which models it runs.
ROWS_SCORED = Counter("smart365_model_rows_scored", "Rows scored by a deployed model", ["model_id", "equipment_id"])
DEFAULTS: dict[str, Any] = {
    "bucket_s": 1,
    "lateness_s": 2,
    "gate_tag_id": None,
    "run_value": 1.0,
    "settle_s": 0.0,
    "delay_s": 30.0,
    "clear_ratio": 0.5,
    "severity": "warning",
    "top": 3,
}
def signal_label(tag: str, locale: str | None = None) -> str:
    """A tag's readable name in the current locale (or ``locale``).

    >>> signal_label("spindle_load"), signal_label("spindle_load", "en"), signal_label("flow_7")
    ('주축 부하', 'spindle load', 'flow_7')
    """
    if tag not in SIGNAL_LABELS:
        return tag
    return translate_in(locale, SIGNAL_LABELS[tag]) if locale else gettext(SIGNAL_LABELS[tag])


_STUCK_SHORT = N_("{signal} unchanged {minutes:.0f} min")
_TREND_SHORT = N_("{signal} {rate:+.3g}/h")
_TREND_SENTENCE = N_("{signal}: moving {rate:+.3g} per hour (alarm limit {limit:+.3g} per hour)")
_STUCK_SENTENCE = N_(
    "{signal}: unchanged at {value:.4g} for {minutes:.0f} min (alarm limit {limit:.0f} min)"
)


def _translated(message: str, locale: str | None) -> str:
    return translate_in(locale, message) if locale else gettext(message)


def summary(explanation: Sequence[dict[str, Any]], locale: str | None = None) -> str:
    """The short explanation of an anomaly alarm: signals and how many sigmas from normal, or for how long a
    stuck signal has not changed.

    >>> summary([{"tag": "spindle_load", "sigma": 4.21}, {"tag": "spindle_temp", "sigma": 3.1}], "en")
    'spindle load +4.2σ, spindle temperature +3.1σ'
    >>> summary([{"tag": "tonnage", "sigma": 0.2, "unchanged_s": 1500.0}], "ko")
    '가압력 25분째 변화 없음'
    >>> summary([{"tag": "spindle_load", "sigma": 1.2, "trend_per_h": 18.24}], "ko")
    '주축 부하 시간당 +18.2'
    """
    parts = []
    for c in explanation:
        signal = signal_label(str(c["tag"]), locale)
        if c.get("unchanged_s"):
            parts.append(_translated(_STUCK_SHORT, locale).format(signal=signal, minutes=c["unchanged_s"] / 60))
        elif c.get("trend_per_h"):
            parts.append(_translated(_TREND_SHORT, locale).format(signal=signal, rate=c["trend_per_h"]))
        else:
            parts.append(f"{signal} {float(c['sigma']):+.1f}σ")
    return ", ".join(parts)


def sentences(explanation: Sequence[dict[str, Any]]) -> list[str]:
    """Each contribution as a full sentence in the current locale (anomaly.py's wording; stuck signals in
    minutes).

    >>> sentences([{"tag": "tonnage", "value": 812.0, "normal": 800.0, "sigma": 0.2, "share": 1.0,
    ...             "unchanged_s": 1500.0, "limit_s": 180.0}])
    ['가압력: 25분째 812에서 변화 없음 (경보 기준 3분)']
    """
    out = []
    for c in explanation:
        signal = signal_label(str(c["tag"]))
        if c.get("unchanged_s"):
            out.append(gettext(_STUCK_SENTENCE).format(signal=signal, value=c["value"], minutes=c["unchanged_s"] / 60,
                                                       limit=c["limit_s"] / 60))  # fmt: skip
        elif c.get("trend_per_h"):
            out.append(gettext(_TREND_SENTENCE).format(signal=signal, rate=c["trend_per_h"], limit=c["limit_per_h"]))
        else:
            out.append(Contribution(signal, c["value"], c["normal"], c["sigma"], c["share"]).describe())
    return out


# -- aligning per-tag points into rows -------------------------------------------------------------------


class Aligner:
    """Per-tag points → one row per time bucket, last value per tag, carried forward (see module docstring).

    Columns are positions 0..``width``-1; ``push`` returns the rows it could close, in time order, as
    (bucket start in µs, values); a row is left out while some column has never had a value.
    """

    def __init__(self, width: int, bucket_s: float = 1, lateness_s: float = 2) -> None:
        self.width = width
        self.bucket_us = max(1, int(bucket_s * US))
        self.lateness = max(0, int(np.ceil(lateness_s * US / self.bucket_us)))
        self.pending: dict[int, dict[int, float]] = {}
        self.last = np.full(width, np.nan)
        self.emitted = -(2**62)  # newest bucket already turned into a row
        self.newest = -(2**62)

    def push(self, columns: Sequence[int], ts_us: ArrayLike, values: ArrayLike) -> tuple[Any, Any]:
        """Add points (column position, time, value); return the rows now closed."""
        col, ts, val = np.asarray(columns), np.asarray(ts_us, dtype=np.int64), np.asarray(values, dtype=float)
        order = np.argsort(ts, kind="stable")
        buckets = ts[order] // self.bucket_us
        for b, c, v in zip(buckets.tolist(), col[order].tolist(), val[order].tolist(), strict=True):
            if b > self.emitted:  # a late point for a bucket already scored is left out
                self.pending.setdefault(b, {})[c] = v
                self.newest = max(self.newest, b)
        return self._close(final=False)

    def flush(self) -> tuple[Any, Any]:
        """Close every pending bucket (end of a history)."""
        return self._close(final=True)

    def _close(self, final: bool) -> tuple[Any, Any]:
        out_ts, out_rows = [], []
        for b in sorted(self.pending):
            if not (final or b <= self.newest - self.lateness or len(self.pending[b]) == self.width):
                break  # keep time order: a later complete bucket waits for this one
            for c, v in self.pending.pop(b).items():
                self.last[c] = v
            self.emitted = b
            if not np.isnan(self.last).any():
                out_ts.append(b * self.bucket_us)
                out_rows.append(self.last.copy())
        rows = np.asarray(out_rows, dtype=float).reshape(len(out_rows), self.width)
        return np.asarray(out_ts, dtype=np.int64), rows


@dataclass
class RunClock:
    """Since when the machine has been running (µs), carried between batches, and the newest row seen.

    A row is scored when the gate equals ``run_value`` and the run is ``settle_s`` old. A silence longer
    than ``max_gap_s`` (no data: a restart, a lost connection) starts the run again, because what the
    machine did meanwhile is unknown.

    >>> clock = RunClock()
    >>> clock.mask([0, 10_000_000, 20_000_000, 30_000_000], [1, 1, 0, 1], 1.0, 5).tolist(), clock.since
    ([False, True, False, False], 30000000)
    >>> clock.mask([40_000_000, 300_000_000, 310_000_000], [1, 1, 1], 1.0, 5).tolist()  # 260 s without data
    [True, False, True]
    """

    since: int | None = None
    last: int | None = None

    def mask(self, ts_us: Any, gate: Any, run_value: float, settle_s: float, max_gap_s: float = 60.0) -> Any:
        """Which rows to score (and advance the clock past them)."""
        ts, running = np.asarray(ts_us, dtype=np.int64), np.abs(np.asarray(gate, dtype=float) - run_value) < 0.5
        starts = np.empty(len(ts), dtype=np.int64)
        gap = int(max_gap_s * US)
        for i, moment in enumerate(ts.tolist()):  # short per batch; a run's start carries over between batches
            if self.last is not None and moment - self.last > gap:
                self.since = None
            self.since = (self.since if self.since is not None else moment) if running[i] else None
            starts[i] = self.since if self.since is not None else moment
            self.last = moment
        return running & (ts - starts >= int(settle_s * US))


# -- one deployed model online --------------------------------------------------------------------------


@dataclass
class Runner:
    """A deployed model's online state: its aligner, gate and alarm state."""

    model_id: int
    company_id: int
    equipment_id: int
    name: str
    version: int
    detector: AnyDetector
    tag_ids: list[int]
    tag_names: dict[int, str]
    settings: dict[str, Any]
    aligner: Aligner = field(init=False)
    state: RuleState = field(default_factory=RuleState)
    clock: RunClock = field(default_factory=RunClock)
    peak: float = float("inf")  # score of the open alarm's explanation (inf: none open, or not known here)
    last: tuple[int, float] | None = None  # (µs, score) of the newest row scored
    rows_scored: int = 0
    unpublished: bool = False  # ``last`` is newer than what the pages read

    def __post_init__(self) -> None:
        s = self.settings
        self.aligner = Aligner(len(self.columns), s["bucket_s"], s["lateness_s"])

    @property
    def columns(self) -> list[int]:
        """The tags a row holds: the model's inputs, then the gate tag (if any)."""
        gate = self.settings["gate_tag_id"]
        return [*self.tag_ids, gate] if gate is not None else list(self.tag_ids)

    @property
    def rule(self) -> Rule:
        """The score's alarm: high above the threshold, with hysteresis and on-delay."""
        limit = float(self.detector.threshold)
        deadband = (1.0 - float(self.settings["clear_ratio"])) * limit
        return Rule(self.model_id, -1, "high", limit, deadband, float(self.settings["delay_s"]), "warning")

    def feed(self, batch: Batch) -> list[tuple[Transition, list[dict[str, Any]]]]:
        """Score what ``batch`` closes; return the alarm transitions with each raise's explanation."""
        cols = self.columns
        mine = np.isin(batch.tag_id, cols)
        if not mine.any():
            return []
        position = {tag: i for i, tag in enumerate(cols)}
        col = [position[t] for t in batch.tag_id[mine].tolist()]
        ts, rows = self.aligner.push(col, batch.ts_us[mine], batch.value[mine])
        if not len(ts):
            return []
        n = len(self.tag_ids)
        if self.settings["gate_tag_id"] is not None:
            s = self.settings
            keep = self.clock.mask(ts, rows[:, n], s["run_value"], s["settle_s"])
            ts, rows = ts[keep], rows[keep]
        if not len(ts):
            return []
        frame = pd.DataFrame(rows[:, :n], index=as_times(ts), columns=[str(t) for t in self.tag_ids])
        stream = getattr(self.detector, "update", None)  # the EWMA detector carries its filter between batches
        scores = stream(frame) if stream is not None else self.detector.score(frame)
        ROWS_SCORED.labels(model_id=str(self.model_id), equipment_id=str(self.equipment_id)).inc(len(scores))
        self.last, self.rows_scored = (int(ts[-1]), float(scores[-1])), self.rows_scored + len(scores)
        self.unpublished = True
        if not np.isfinite(self.detector.threshold):
            return []  # a predicted value without a limit: scored and shown, never an alarm
        was_active = self.state.active
        self.state, changes = evaluate_rule(self.rule, ts, scores, self.state)
        out = []
        for change in changes:
            i = int(np.searchsorted(ts, change.ts_us))
            why = self.explain(frame, i, change.value) if change.raised else []
            self.peak = change.value if change.raised else float("inf")
            out.append((change, why))
        if self.state.active and (was_active or changes):
            out.extend(self._new_peak(ts, scores, frame, changes[-1].ts_us if changes else None))
        return out

    def _new_peak(
        self, ts: Any, scores: Any, frame: pd.DataFrame, since_us: int | None
    ) -> list[tuple[Transition, list[dict[str, Any]]]]:
        """Re-explain an open alarm at its highest score in this batch if that is 20 % above the last one."""
        start = 0 if since_us is None else int(np.searchsorted(ts, since_us))
        if start >= len(ts):
            return []
        i = start + int(np.argmax(scores[start:]))
        if self.peak != float("inf") and scores[i] <= 1.2 * self.peak:
            return []
        self.peak = float(scores[i])
        update = Transition(self.model_id, -1, True, int(ts[i]), float(scores[i]))
        return [(update, self.explain(frame, i, scores[i]))]

    def explain(self, frame: pd.DataFrame, position: int, score: float) -> list[dict[str, Any]]:
        """Why row ``position`` of the batch just scored is anomalous, with its score (JSON-able): the top
        signals in robust sigmas from normal, for a stuck signal how long it has not changed, for a trending
        one its slope per hour."""
        found = explain_at(self.detector, frame, position, int(self.settings["top"]))
        out = []
        for c in found:
            entry = {"tag_id": int(c.signal), "tag": self.tag_names.get(int(c.signal), c.signal),
                     "value": round(c.value, 4), "normal": round(c.normal, 4), "sigma": round(c.sigma, 2),
                     "share": round(c.share, 3), "score": round(float(score), 4)}  # fmt: skip
            ts, step = stamps_us(frame.index), float(self.settings["bucket_s"])
            if c.unchanged:
                entry |= {"unchanged_s": span_s(ts, position, c.unchanged, step),
                          "limit_s": span_s(ts, len(ts), c.limit, step)}  # fmt: skip
            elif c.trend:
                per_h = 3600 / span_s(ts, len(ts), 1, step)  # rows per hour at the batch's spacing
                entry |= {"trend_per_h": round(c.trend * per_h, 4), "limit_per_h": round(c.limit * per_h, 4)}
            out.append(entry)
        return out


def as_times(ts_us: Any) -> pd.DatetimeIndex:
    """Row stamps (µs since the epoch) as the UTC index detectors read gaps from.

    >>> as_times([0, 1_500_000]).tolist()[1]
    Timestamp('1970-01-01 00:00:01.500000+0000', tz='UTC')
    """
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(ts_us, dtype=np.int64), unit="us", utc=True))


def stamps_us(index: pd.Index) -> Any:
    """The inverse of :func:`as_times`: a frame's time index as µs since the epoch (int64).

    >>> stamps_us(as_times([0, 10 * US])).tolist()
    [0, 10000000]
    """
    return pd.DatetimeIndex(index).as_unit("us").asi8


def span_s(ts_us: Any, position: int, rows: float, step_s: float = 1.0) -> float:
    """Seconds covered by the ``rows`` rows before row ``position``: from their stamps when the batch holds
    them all, else at the batch's typical row spacing, or ``step_s`` (the model's bucket) for a single row.

    >>> ts = np.array([0, 10, 20, 30, 40]) * US
    >>> span_s(ts, 4, 3), span_s(ts, 2, 5), span_s(ts[:1], 0, 5), span_s(ts[:1], 0, 5, step_s=10)
    (30.0, 50.0, 5.0, 50.0)
    """
    ts = np.asarray(ts_us, dtype=np.int64)
    if rows <= position < len(ts):
        return float(ts[position] - ts[position - int(rows)]) / US
    step = float(np.median(np.diff(ts))) / US if len(ts) > 1 else step_s
    return float(rows) * step


def row_period_s(index: pd.DatetimeIndex) -> float:
    """The usual spacing of a training history's rows, in whole seconds (at least one bucket of the defaults).

    A model deployed with this as its ``bucket_s`` gets rows at the cadence it learned from, so a window of
    rows (trend) or a run length (stuck sensor) spans the same time live as in its history: a history stored
    every 10 s or imported per minute, while live data comes every second.

    >>> row_period_s(pd.date_range("2026-01-01", periods=5, freq="10s")), row_period_s(pd.DatetimeIndex([]))
    (10.0, 1.0)
    """
    stamps = np.unique(stamps_us(index.dropna()))
    if len(stamps) < 2:
        return float(DEFAULTS["bucket_s"])
    gaps = np.diff(stamps) / US
    return float(max(DEFAULTS["bucket_s"], round(float(np.median(gaps)))))


def history_frame(
    store: TimeSeriesStore,
    tag_ids: Sequence[int],
    start: datetime,
    end: datetime,
    settings: dict[str, Any] | None = None,
    exclude: Sequence[tuple[datetime, datetime]] = (),
) -> pd.DataFrame:
    """The rows online scoring would see in ``[start, end)`` (index: bucket start, UTC), minus ``exclude``."""
    s = DEFAULTS | (settings or {})
    gate = s["gate_tag_id"]
    cols = [*tag_ids, gate] if gate is not None else list(tag_ids)
    batch = store.read(cols, start, end)
    position = {tag: i for i, tag in enumerate(cols)}
    aligner = Aligner(len(cols), s["bucket_s"], 0)
    closed = [aligner.push([position[t] for t in batch.tag_id.tolist()], batch.ts_us, batch.value), aligner.flush()]
    ts, rows = np.concatenate([c[0] for c in closed]), np.concatenate([c[1] for c in closed])
    keep = np.ones(len(ts), dtype=bool)
    if gate is not None and len(ts):
        keep = RunClock().mask(ts, rows[:, len(tag_ids)], s["run_value"], s["settle_s"])
    for lo, hi in exclude:
        lo_us, hi_us = to_epoch_us([lo, hi]).tolist()
        keep &= ~((ts >= lo_us) & (ts < hi_us))
    return pd.DataFrame(rows[keep, : len(tag_ids)], index=as_times(ts[keep]), columns=[str(t) for t in tag_ids])


#: Rows replayed into a new runner's streaming state: twice the trend detector's default window.
WARM_UP_ROWS = 240


def warm_up(runner: Runner, store: TimeSeriesStore, until_us: int) -> int:
    """Replay the rows stored up to ``until_us`` into a new runner's streaming detector (its settling time
    plus :data:`WARM_UP_ROWS` rows back), so after a restart a trend window, a stuck sensor's run length or
    an EWMA filter resumes where it stood: a detector that starts blind scores 0 and would clear an alarm
    that is still true. No alarm is raised from these rows (the previous monitor saw them). Returns how many.
    """
    stream = getattr(runner.detector, "update", None)
    if stream is None:
        return 0
    s = runner.settings
    end = datetime.fromtimestamp((until_us + 1) / US, UTC)
    start = end - timedelta(seconds=float(s["settle_s"]) + WARM_UP_ROWS * float(s["bucket_s"]))
    frame = history_frame(store, runner.tag_ids, start, end, s)
    if len(frame):
        stream(frame)
        runner.aligner.emitted = int(stamps_us(frame.index)[-1]) // runner.aligner.bucket_us
    return len(frame)


def runner_for(session: Session, row: AnalyticsModel) -> Runner:
    """The online runner of a deployed registry row."""
    detector = registry.load_detector(row)
    rows = session.execute(select(Tag.id, Tag.name, Tag.display_name).where(Tag.id.in_(row.tag_ids))).all()
    names = {int(r[0]): str(r[2] or r[1]) for r in rows}  # the firm's name for it; a known signal is translated
    settings = DEFAULTS | dict(row.settings or {})
    return Runner(row.id, row.company_id, row.equipment_id, row.name, row.version, detector,  # type: ignore[arg-type]
                  list(row.tag_ids), names, settings)  # fmt: skip


# -- the monitor: deployed models → alarm events ----------------------------------------------------------


class AnomalyMonitor:
    """Scores every stored batch with the deployed anomaly models and records their alarms.

    Deployed models are re-read every ``refresh_s`` seconds (or at once after :meth:`reload`), so a deploy
    or a rollback in the UI takes effect without a restart; a runner keeps its state while its model stays
    deployed. A model that fails (bad state, unexpected data) is logged and skipped: the worker goes on.
    """

    def __init__(
        self, db: Database, refresh_s: float = 30.0, store: TimeSeriesStore | None = None, publish_s: float = 5.0
    ) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self.store = store  # to know, on start, since when the machine has been running
        self.publish_s = publish_s  # how often the latest scores are written for the pages
        self.runners: dict[int, Runner] = {}
        self._loaded_at = -float("inf")
        self._published_at = -float("inf")

    def reload(self) -> None:
        """Read the deployed models again before the next batch."""
        self._loaded_at = -float("inf")

    def process(self, batch: Batch) -> list[AlarmEvent]:
        """Score a stored batch; record raises and clears; return the touched events."""
        self._refresh()
        results: list[tuple[Runner, Transition, list[dict[str, Any]]]] = []
        for runner in list(self.runners.values()):
            try:
                results.extend((runner, change, why) for change, why in runner.feed(batch))
            except Exception:  # one broken model must not stop the ingest worker
                log.exception("anomaly model %s failed on a batch; it is left out", runner.model_id)
                self.runners.pop(runner.model_id, None)
        publish = time.monotonic() - self._published_at >= self.publish_s and any(
            r.unpublished for r in self.runners.values()
        )  # no database round trip on a batch no model scored
        if not results and not publish:
            return []
        with self.db.session(SYSTEM) as session:
            if publish:
                self._published_at = time.monotonic()
                publish_scores(session, self.runners.values())
            return record(session, results) if results else []

    def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < self.refresh_s:
            return
        self._loaded_at = time.monotonic()
        with self.db.session(SYSTEM) as session:
            rows = [r for r in registry.deployed(session) if registry.scores_live(r)]
            wanted = {r.id for r in rows}
            for model_id in set(self.runners) - wanted:
                del self.runners[model_id]
            close_retired(session, wanted)
            query = select(AlarmEvent).where(AlarmEvent.model_id.is_not(None), AlarmEvent.cleared_at.is_(None))
            open_events = {e.model_id: e for e in session.scalars(query)}
            for row in rows:
                if row.id in self.runners:
                    continue
                try:
                    runner = runner_for(session, row)
                except Exception:
                    log.exception("anomaly model %s cannot be loaded; it is left out", row.id)
                    continue
                runner.state = RuleState(active=row.id in open_events)  # no second raise after a restart
                if row.id in open_events:
                    runner.peak = explained_score(open_events[row.id])
                if self.store is not None:
                    self._resume(runner)
                self.runners[row.id] = runner

    def _resume(self, runner: Runner) -> None:
        """A new runner picks up from the store: since when the machine runs, and its detector's recent rows."""
        assert self.store is not None
        seen = last_seen(self.store, runner.tag_ids)
        runner.clock = RunClock(running_since(self.store, runner.settings), seen)
        if seen is None:
            return
        try:
            warm_up(runner, self.store, seen)
        except Exception:  # a failed replay costs the head start, not the model
            log.exception("anomaly model %s: recent rows could not be replayed", runner.model_id)


def running_since(store: TimeSeriesStore, settings: dict[str, Any]) -> int | None:
    """When the machine's current run began, from the gate tag's stored history (µs; ``None``: not running).

    Looks back ``settle_s`` (plus a minute) from the gate tag's newest point, so a monitor that starts while
    the machine runs scores at once instead of waiting another settling time.
    """
    gate = settings.get("gate_tag_id")
    if gate is None:
        return None
    latest = store.latest([gate])
    if not latest.num_rows:
        return None
    newest = int(to_epoch_us([latest.column("ts")[0].as_py()])[0])
    lookback = newest - int((float(settings.get("settle_s", 0.0)) + 60) * US)
    points = store.read(gate, lookback, newest + 1)
    running = np.abs(points.value - float(settings.get("run_value", 1.0))) < 0.5
    if not len(points) or not running[-1]:
        return None
    stopped = np.flatnonzero(~running)
    return int(points.ts_us[stopped[-1] + 1]) if len(stopped) else lookback


def last_seen(store: TimeSeriesStore, tag_ids: Sequence[int]) -> int | None:
    """The newest stored point of any of the tags (µs), so a silence before the monitor started counts."""
    stamps = store.latest(list(tag_ids)).column("ts").to_pylist()
    return int(max(to_epoch_us(stamps).tolist())) if stamps else None


def publish_scores(session: Session, runners: Iterable[Runner]) -> None:
    """Write each runner's newest score, so every page sees it whichever process scores."""
    for runner in runners:
        if not runner.unpublished or runner.last is None:
            continue
        runner.unpublished = False
        at_us, score = runner.last
        row = session.get(ModelScore, runner.model_id) or ModelScore(model_id=runner.model_id,
                                                                     company_id=runner.company_id)  # fmt: skip
        row.scored_at, row.score, row.rows = datetime.fromtimestamp(at_us / US, UTC), score, runner.rows_scored
        session.add(row)


def close_retired(session: Session, deployed_ids: set[int]) -> None:
    """Clear the open alarms of models no longer deployed (a rollback ends its predecessor's alarm)."""
    query = select(AlarmEvent).where(AlarmEvent.model_id.is_not(None), AlarmEvent.cleared_at.is_(None))
    for event in session.scalars(query):
        if event.model_id not in deployed_ids:
            event.cleared_at = utcnow()


def record(session: Session, results: Sequence[tuple[Runner, Transition, list[dict[str, Any]]]]) -> list[AlarmEvent]:
    """Open an event per raise (a raise while the model's alarm is open is a new peak: its explanation is
    updated), close it per clear."""
    touched = []
    for runner, change, why in results:
        open_event = session.scalars(
            select(AlarmEvent)
            .where(AlarmEvent.model_id == runner.model_id, AlarmEvent.cleared_at.is_(None))
            .order_by(AlarmEvent.id.desc())
            .limit(1)
        ).first()
        if change.raised and open_event is None and why:
            event = AlarmEvent(
                company_id=runner.company_id, rule_id=None, model_id=runner.model_id, tag_id=why[0]["tag_id"],
                equipment_id=runner.equipment_id, severity=runner.settings["severity"],
                condition=condition(runner, change.value, why), raised_at=change.at, raised_value=change.value,
                explanation=why,
            )  # fmt: skip
            session.add(event)
            touched.append(event)
        elif change.raised and open_event is not None and why and change.value > explained_score(open_event):
            open_event.explanation, open_event.tag_id = why, why[0]["tag_id"]
            open_event.condition = condition(runner, change.value, why)
            touched.append(open_event)
        elif not change.raised and open_event is not None:
            open_event.cleared_at, open_event.cleared_value = change.at, change.value
            touched.append(open_event)
    session.flush()
    return touched


def explained_score(event: AlarmEvent) -> float:
    """The score at which an anomaly alarm was last explained (its peak so far)."""
    first = (event.explanation or [{}])[0]
    return float(first.get("score", event.raised_value))


def condition(runner: Runner, score: float, why: Sequence[dict[str, Any]]) -> str:
    """A short, language-neutral condition for lists and logs (the pages show the explanation translated).

    >>> class R: name, version, detector = "spindle", 2, type("D", (), {"threshold": 1.0})()
    >>> condition(R(), 2.345, [{"tag": "spindle_load", "sigma": 4.2}])  # type: ignore[arg-type]
    'spindle v2: anomaly 2.35 > 1 (spindle_load +4.2σ)'
    """
    signals = ", ".join(f"{c['tag']} {float(c['sigma']):+.1f}σ" for c in why)
    text = f"{runner.name} v{runner.version}: anomaly {score:.3g} > {float(runner.detector.threshold):.3g} ({signals})"
    return text[:200]


def is_anomaly(event: AlarmEvent) -> bool:
    """Whether an alarm event comes from an anomaly model."""
    return event.model_id is not None


def explanation_text(event: AlarmEvent) -> str:
    """An anomaly alarm's explanation in the current locale; a rule's condition otherwise."""
    if event.explanation:
        return summary(event.explanation)
    return event.condition
