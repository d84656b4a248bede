"""Test-bed runs: create one (checked before it is queued), run it off the request thread, and say what
it found in plain words.

One :class:`TestbedWorker` per server: a queue and a single thread, so runs never block the event loop
and never compete with each other for the CPU. The worker writes its progress (which candidate on which
fold, share done) into the run's row, which the page polls. When the server starts, runs left
``running`` by a previous process are marked failed with the reason (their thread died with it), and runs
still ``queued`` are queued again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.analytics.testbed import (
    TASKS,
    Step,
    Task,
    TestbedError,
    fmt,
    prepare,
    r2_reading,
    run_testbed,
    scorable_folds,
)
from smart365.core.db import Database, utcnow
from smart365.core.errors import AppError, Forbidden
from smart365.core.i18n import N_, current_locale, gettext, translate_in
from smart365.core.tenancy import SYSTEM, principal_of
from smart365.testbed.models import TestbedRun
from smart365.testbed.tables import Staging

log = logging.getLogger(__name__)

FOLDS = 4
TASK_CHOICES = ("auto", *TASKS)
RESTARTED = N_("The server restarted while this run was running; start it again.")
STOPPED = N_("The server stopped during this run; start it again.")
UNEXPECTED = N_("The run failed unexpectedly ({error}).")


@dataclass(frozen=True)
class RunRequest:
    """What a person chose on the preview page."""

    token: str
    target: str
    time: str | None = None
    task: str = "auto"
    group: str | None = None


def start_run(session: Session, staging: Staging, company_id: int, request: RunRequest, by: str) -> TestbedRun:
    """Check the request against the staged table (target, time column, task, enough rows) and add a
    queued run. Nothing is stored when the request cannot run."""
    if not principal_of(session).can_change(company_id):
        raise Forbidden()
    if request.task not in TASK_CHOICES:
        raise TestbedError(N_("Unknown task {task}."), task=request.task)
    meta = staging.meta(company_id, request.token)
    frame = staging.load(company_id, request.token)
    task = None if request.task == "auto" else cast(Task, request.task)
    prepared = prepare(frame, request.target, request.time or None, task, group=request.group or None)
    scorable_folds(prepared, FOLDS)
    run = TestbedRun(
        company_id=company_id, created_by=by, source_kind=meta["kind"], source=describe_source(meta),
        source_spec=meta | {"token": request.token, "group": request.group or None},
        target=request.target, time_column=request.time or None,
        task=request.task, status="queued", progress=0.0, step={},
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def prune_staging(session: Session, staging: Staging, company_id: int) -> int:
    """Delete the company's staged tables that no run of it uses and that are a day old (see
    :meth:`Staging.prune`); called before staging a new one, so a firm's folder never grows without bound."""
    specs = session.scalars(select(TestbedRun.source_spec).where(TestbedRun.company_id == company_id))
    return staging.prune(company_id, {str(spec.get("token", "")) for spec in specs})


def describe_source(meta: dict[str, Any]) -> str:
    """One line saying where the table came from."""
    if meta["kind"] == "file":
        return str(meta["name"])[:500]
    return str(meta.get("description", ""))[:500]


def company_runs(session: Session, company_id: int, limit: int = 50) -> list[TestbedRun]:
    """The firm's runs, newest first."""
    query = select(TestbedRun).where(TestbedRun.company_id == company_id).order_by(TestbedRun.id.desc())
    return list(session.scalars(query.limit(limit)))


# -- the worker ----------------------------------------------------------------------------------------------


class _Stopping(Exception):
    """Raised inside a run when the server is stopping."""


class TestbedWorker:
    """A queue of run ids and one thread that runs them, oldest first."""

    __test__ = False

    def __init__(self, db: Database, staging: Staging, threads: int = 1) -> None:
        self.db, self.staging, self.threads = db, staging, threads
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Apply the restart rule, then start the thread (once)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stopping.clear()
            for run_id in recover(self.db):
                self._queue.put(run_id)
            self._thread = threading.Thread(target=self._loop, name="testbed-worker", daemon=True)
            self._thread.start()

    def submit(self, run_id: int) -> None:
        """Queue a run (starting the worker if it is not running yet)."""
        self.start()
        self._queue.put(run_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; a run cut short is marked failed with the reason."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        thread.join(timeout)

    def _loop(self) -> None:
        while (run_id := self._queue.get()) is not None:
            if self._stopping.is_set():
                break
            try:
                execute(self.db, self.staging, run_id, self.threads, self._check_stopping)
            except Exception:  # the worker survives whatever one run does
                log.exception("test-bed run %s", run_id)

    def _check_stopping(self) -> None:
        if self._stopping.is_set():
            raise _Stopping()


def recover(db: Database) -> list[int]:
    """The restart rule: runs left ``running`` fail with the reason; ids of runs still ``queued``."""
    with db.session(SYSTEM) as session:
        for run in session.scalars(select(TestbedRun).where(TestbedRun.status == "running")):
            _fail(run, RESTARTED)
        queued = session.scalars(select(TestbedRun.id).where(TestbedRun.status == "queued").order_by(TestbedRun.id))
        return list(queued)


def execute(
    db: Database, staging: Staging, run_id: int, threads: int = 1, check: Callable[[], None] | None = None
) -> None:
    """Run one queued run to its end, writing progress as it goes (the worker's body; tests call it too)."""
    with db.session(SYSTEM) as session:
        run = session.get(TestbedRun, run_id)
        if run is None or run.status != "queued":
            return
        run.status, run.started_at, run.progress = "running", utcnow(), 0.0
        spec = (run.company_id, str(run.source_spec.get("token", "")), run.target, run.time_column, run.task,
                run.source_spec.get("group"))  # fmt: skip

    def on_step(step: Step) -> None:
        if check:
            check()
        with db.session(SYSTEM) as s:
            row = s.get(TestbedRun, run_id)
            if row is not None:
                row.progress = step.done / step.total
                row.step = {"fold": step.fold, "folds": step.folds, "candidate": step.candidate,
                            "done": step.done, "total": step.total}  # fmt: skip

    try:
        company_id, token, target, time, task, group = spec
        frame = staging.load(company_id, token)
        report = run_testbed(frame, target, time, None if task == "auto" else cast(Task, task), FOLDS,
                             threads=threads, on_step=on_step, group=group)  # fmt: skip
        from smart365.analytics.cli import report_dict

        result = report_dict(report)
    except _Stopping:
        _finish(db, run_id, error=STOPPED)
    except AppError as exc:
        _finish(db, run_id, error=exc.message, params=exc.params)
    except Exception as exc:  # a bug or a library's surprise: the run fails with the reason, the worker lives
        log.exception("test-bed run %s failed", run_id)
        _finish(db, run_id, error=UNEXPECTED, params={"error": type(exc).__name__})
    else:
        _finish(db, run_id, report=result)


def _finish(
    db: Database, run_id: int, *, report: dict[str, Any] | None = None, error: str | None = None,
    params: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    with db.session(SYSTEM) as session:
        run = session.get(TestbedRun, run_id)
        if run is None:
            return
        if error is not None:
            _fail(run, error, **(params or {}))
        else:
            run.status, run.report, run.progress, run.finished_at = "done", report, 1.0, utcnow()


def _fail(run: TestbedRun, message: str, **params: Any) -> None:
    run.status, run.finished_at = "failed", utcnow()
    run.error = translate_in("en", message).format(**params)
    run.error_ko = translate_in("ko", message).format(**params)


def error_text(run: TestbedRun) -> str:
    """Why a run failed, in the page's language."""
    return (run.error_ko if current_locale.get() == "ko" else run.error) or run.error or ""


# -- the result in plain words -------------------------------------------------------------------------------

METRIC_NAMES = {
    "balanced_accuracy": N_("balanced accuracy"),
    "rmse": N_("RMSE (typical size of the error)"),
    "f1": N_("F1 (anomalies caught and false alarms together)"),
}
HIGHER_IS_BETTER = {"balanced_accuracy": True, "rmse": False, "f1": True}
TRUSTED = N_("{model} wins: its {metric} is {ours} against {theirs} for the best simple baseline ({baseline}), {gain}.")
TRUSTED_SPREAD = N_(
    "Across {folds} folds the margin is {margin} on average and moves by {sd} (sd) from fold to fold, so it clears "
    "the spread."
)
UNTRUSTED = N_(
    "No model beats the simple baselines: the best model, {model}, is no better than {baseline}. "
    "Do not trust a model on this data yet."
)
NOT_SHOWN = N_(
    "No model is shown to be better than the simple baselines: the best model, {model}, is ahead of {baseline} by "
    "{margin} on average, but that moves by {sd} (sd) from fold to fold across {folds} folds. Do not trust a model "
    "on this data yet."
)
TOO_FEW_FOLDS = N_(
    "No model is shown to be better than the simple baselines: only {folds} fold could be scored, so there is no "
    "fold-to-fold spread to judge the margin by. Give a longer history."
)
REGRESSION_WORDS = N_("The best model, {model}, {reading}.")


#: The test-bed's candidate names, for translation (the engine names them in English).
MODEL_LABELS = (N_("linear (ridge)"), N_("linear (logistic)"), N_("random forest"), N_("majority class"),
                N_("mean (training)"), N_("last value"), N_("never alarm"), N_("always alarm"), N_("EWMA robust z"),
                N_("isolation forest"), N_("trend (slope)"))  # fmt: skip


def model_label(name: str) -> str:
    """A candidate's name in the current language.

    >>> from smart365.core.i18n import use_locale
    >>> with use_locale("ko"):
    ...     model_label("last value"), model_label("LightGBM")
    ('직전 값', 'LightGBM')
    """
    return gettext(name) if name in MODEL_LABELS else name


@dataclass(frozen=True)
class Verdict:
    """The one-sentence result: ``trusted`` when a model is shown better than every simple baseline (its
    margin's mean over the folds exceeds its fold-to-fold sd); ``reading``: what the best model's R² says."""

    trusted: bool
    sentence: str
    caution: str | None
    reading: str | None = None


def verdict(report: dict[str, Any]) -> Verdict:
    """The result in one plain sentence (current language), plus how the margin compares with its spread.

    >>> r = {"winner": {"model": "LightGBM", "metric": "rmse", "mean": 1.0, "beats_baselines": True,
    ...                 "margin": {"mean": 1.0, "sd": 0.2, "folds": 4}},
    ...      "results": [{"model": "LightGBM", "baseline": False, "mean": 1.0, "sd": 0.1},
    ...                  {"model": "mean (training)", "baseline": True, "mean": 2.0, "sd": 0.0}]}
    >>> from smart365.core.i18n import use_locale
    >>> with use_locale("en"):
    ...     verdict(r).sentence  # doctest: +ELLIPSIS
    'LightGBM wins: its RMSE (typical size of the error) is 1 against 2 for the best simple baseline ...50% lower.'
    """
    winner = report["winner"]
    metric = str(winner["metric"])
    name = gettext(METRIC_NAMES.get(metric, metric))
    baseline = next((r for r in report["results"] if r["baseline"]), None)
    best_model = next((r for r in report["results"] if not r["baseline"]), None)
    reading = _reading(report, best_model)
    margin = winner.get("margin") or {}
    folds = int(margin.get("folds", 0) or 0)
    spread = {"margin": fmt(margin.get("mean"), 3), "sd": fmt(margin.get("sd"), 3), "folds": folds}
    if baseline is None or best_model is None or not winner["beats_baselines"]:
        model = model_label(best_model["model"]) if best_model else "-"
        base = model_label(baseline["model"]) if baseline else "-"
        ahead = margin.get("mean") is not None and float(margin["mean"]) > 0
        text = TOO_FEW_FOLDS if ahead and folds < 2 else NOT_SHOWN if ahead else UNTRUSTED
        return Verdict(False, gettext(text).format(model=model, baseline=base, **spread), None, reading)
    ours, theirs = float(best_model["mean"]), float(baseline["mean"])
    values = {"model": model_label(best_model["model"]), "metric": name, "ours": fmt(ours), "theirs": fmt(theirs)}
    sentence = gettext(TRUSTED).format(
        **values, baseline=model_label(baseline["model"]), gain=_gain(metric, ours, theirs)
    )
    caution = gettext(TRUSTED_SPREAD).format(**spread) if margin else None
    return Verdict(True, sentence, caution, reading)


def _reading(report: dict[str, Any], best: dict[str, Any] | None) -> str | None:
    """A regression's R² in words (never a bare negative number)."""
    if report.get("task") != "regression" or best is None:
        return None
    found = r2_reading((best.get("metrics") or {}).get("r2"))
    if found is None:
        return None
    reading = gettext(found[0]).format(**found[1])
    return gettext(REGRESSION_WORDS).format(model=model_label(best["model"]), reading=reading)


def r2_words(r2: float | None) -> str:
    """An R² in words, in the current language (``—`` when undefined)."""
    found = r2_reading(r2)
    return gettext(found[0]).format(**found[1]) if found else "—"


def _gain(metric: str, ours: float, theirs: float) -> str:
    if HIGHER_IS_BETTER.get(metric, True):
        return gettext(N_("{points} points higher")).format(points=f"{(ours - theirs) * 100:.1f}")
    if theirs > 0:
        return gettext(N_("{share}% lower")).format(share=f"{(theirs - ours) / theirs * 100:.0f}")
    return gettext(N_("lower"))
