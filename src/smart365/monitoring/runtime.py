"""The live runtime of the embedded shape: an ingest worker for every connected machine in the registry,
with the alarm rules evaluated on each stored batch, running inside the web process (DuckDB has one writer).

:func:`attach` hooks a runtime into a FastAPI app's lifespan, so it starts with the server, uses the app's
store and database, and stops cleanly (connectors closed, queue drained) when the server stops.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.monitoring import service
from smart365.monitoring.alarms import Rule, RuleState, Transition, evaluate
from smart365.monitoring.scoring import AnomalyMonitor
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from smart365.telemetry.pipeline import TagSpec
from smart365.telemetry.sources import SourceProblem, connector_configs, registry_sources
from smart365.telemetry.store import TimeSeriesStore
from smart365.telemetry.worker import IngestWorker

log = logging.getLogger(__name__)


class AlarmMonitor:
    """Evaluates the enabled alarm rules on every stored batch and records raises and clears; the deployed
    anomaly models score the same batch (:class:`~smart365.monitoring.scoring.AnomalyMonitor`).

    Rules are re-read every ``refresh_s`` seconds, so a rule added in the UI takes effect without a
    restart; a rule whose alarm is still open in the database starts active (no second raise after a
    restart). Use as the worker's ``on_stored`` callback.
    """

    def __init__(self, db: Database, refresh_s: float = 30.0, store: TimeSeriesStore | None = None) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self.rules: list[Rule] = []
        self.states: dict[int, RuleState] = {}
        self.anomalies = AnomalyMonitor(db, refresh_s, store)
        self._loaded_at = -float("inf")

    def reload(self) -> None:
        """Read the rules and the deployed models again before the next batch."""
        self._loaded_at = -float("inf")
        self.anomalies.reload()

    async def __call__(self, batch: Batch) -> None:
        await asyncio.to_thread(self.process, batch)

    def process(self, batch: Batch) -> list[Transition]:
        """Evaluate a stored batch; record and return the transitions."""
        self._refresh()
        self.states, transitions = evaluate(self.rules, batch, self.states)
        if transitions:
            with self.db.session(SYSTEM) as session:
                service.record_transitions(session, transitions)
        self.anomalies.process(batch)
        return transitions

    def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < self.refresh_s:
            return
        with self.db.session(SYSTEM) as session:
            self.rules = [service.to_rule(row) for row in service.enabled_rules(session)]
            active = service.active_rule_ids(session)
        for rule in self.rules:
            if rule.id not in self.states:
                self.states[rule.id] = RuleState(active=rule.id in active)
        self._loaded_at = time.monotonic()


def tag_specs(db: Database) -> dict[int, TagSpec]:
    """Validation limits of every registered tag."""
    with db.session(SYSTEM) as session:
        rows = session.execute(select(Tag.id, Tag.min_value, Tag.max_value))
        return {tag_id: TagSpec(min_value=lo, max_value=hi) for tag_id, lo, hi in rows}


class MonitoringRuntime:
    """Connectors for the registry's connected machines → pipeline → store → alarm rules."""

    def __init__(self, db: Database, store: TimeSeriesStore) -> None:
        self.db, self.store = db, store
        self.alarms = AlarmMonitor(db, store=store)
        self.worker: IngestWorker | None = None
        self.problems: list[SourceProblem] = []

    async def start(self) -> None:
        """Read the registry and start one connector per endpoint (each reconnects on its own)."""
        with self.db.session(SYSTEM) as session:
            specs, self.problems = connector_configs(registry_sources(session))
        for problem in self.problems:
            log.warning("tag %s is not connected: %s", problem.tag_id, problem.message)
        self.worker = IngestWorker(self.store, tag_specs(self.db), on_stored=self.alarms)
        await self.worker.start(specs)
        log.info("monitoring: %d connectors started", len(specs))

    def health_of(self, protocol: str, endpoint: str | None) -> dict[str, Any] | None:
        """The health of the connector serving a machine's endpoint (``None`` when none serves it)."""
        if self.worker is None or not endpoint:
            return None
        name = f"{protocol} {endpoint}"  # how sources.connector_configs names a connector
        return next((h for h in self.worker.health() if h["name"] == name), None)

    async def stop(self) -> None:
        """Stop the connectors and store what is still queued."""
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None


Hook = Callable[[FastAPI], Awaitable[Any]]


def attach(app: FastAPI, start: Hook, stop: Hook) -> None:
    """Run ``start(app)`` after the app's own start-up and ``stop(app)`` before its own shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(the_app: FastAPI) -> AsyncIterator[Any]:
        async with inner(the_app) as state:
            await start(the_app)
            try:
                yield state
            finally:
                await stop(the_app)

    app.router.lifespan_context = lifespan


def attach_monitoring(app: FastAPI) -> None:
    """Run the ingest runtime for the registry's connected machines with ``app`` (the ``serve`` shape), and
    let the HTTP ingest API evaluate the alarm rules on what it stores."""

    async def start(the_app: FastAPI) -> None:
        the_app.state.monitoring = MonitoringRuntime(the_app.state.db, the_app.state.store)
        the_app.state.on_stored = the_app.state.monitoring.alarms.process
        await the_app.state.monitoring.start()

    async def stop(the_app: FastAPI) -> None:
        await the_app.state.monitoring.stop()

    attach(app, start, stop)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app's open event streams to end as soon as it is asked to stop."""

    def __init__(self, config: uvicorn.Config, closing: threading.Event) -> None:
        super().__init__(config)
        self.closing = closing

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.closing.set()
        super().handle_exit(sig, frame)


def run_server(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until Ctrl-C; live event streams end at once, then the lifespan shuts down cleanly."""
    app.state.closing = threading.Event()  # read by the event streams (monitoring.pages)
    config = uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=5)
    _Server(config, app.state.closing).run()
