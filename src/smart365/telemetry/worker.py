"""The ingest worker: connectors → bounded queue → pipeline → store, inside one asyncio loop.

In the embedded shape the web process runs it (DuckDB allows one writer process); in the server shape each
``smart365 worker`` process runs one for the connectors it holds a lease on. :meth:`IngestWorker.reconcile`
brings the running connectors in line with a new list of specs (the registry changed): new ones start,
removed ones stop, changed ones restart, the rest keep their connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from smart365.core.errors import AppError
from smart365.telemetry.batch import Batch
from smart365.telemetry.connectors import Connector, Emit, create
from smart365.telemetry.connectors.base import ConnectorEvent, DeadLetter
from smart365.telemetry.metrics import CONNECTORS, DEAD_LETTERS, INGEST_LATENCY, INGEST_POINTS
from smart365.telemetry.pipeline import IngestQueue, OnStored, Pipeline, TagSpec, TagTable, run_ingest
from smart365.telemetry.sources import ConnectorSpec
from smart365.telemetry.store import TimeSeriesStore

log = logging.getLogger(__name__)


class IngestWorker:
    """Runs connectors and the consumer that stores what they emit.

    ``tag_specs`` are the validation limits per tag; connectors already apply scale and offset, so the
    specs carry limits only. ``on_stored`` sees every batch once it is stored (alarm rules, live views).
    """

    def __init__(
        self,
        store: TimeSeriesStore,
        tag_specs: Mapping[int, TagSpec],
        max_points: int = 500_000,
        on_stored: OnStored | None = None,
    ) -> None:
        self.store = store
        self.on_stored = on_stored
        self.queue = IngestQueue(max_points)
        self.pipeline = Pipeline(dict(tag_specs))
        self.running: dict[str, tuple[ConnectorSpec, Connector[Any]]] = {}
        self.refused: dict[str, str] = {}  # connector name → why it could not be built (English)
        self.recent_dead_letters: deque[dict[str, Any]] = deque(maxlen=200)
        self.recent_events: deque[ConnectorEvent] = deque(maxlen=200)  # births, deaths, seq gaps, rebirths
        self._consumer: asyncio.Task[Any] | None = None

    @property
    def connectors(self) -> list[Connector[Any]]:
        return [connector for _spec, connector in self.running.values()]

    async def start(self, specs: list[ConnectorSpec]) -> None:
        """Start the consumer, then every connector (each reconnects on its own if its source is down)."""
        CONNECTORS.watch(self.health)
        self._consumer = asyncio.create_task(run_ingest(self.queue, self.pipeline, self.store, self.on_stored))
        await self.reconcile(specs)

    async def reconcile(self, specs: list[ConnectorSpec]) -> None:
        """Run exactly ``specs``: stop the connectors no longer wanted or changed, start the new ones.

        A spec its connector refuses is kept in :attr:`refused` with the reason; the others still run. A connector
        whose spec changed in its tag map only takes it in place if its kind can (:meth:`Connector.retag`).
        """
        wanted = {spec.name: spec for spec in specs}
        for name, (spec, connector) in list(self.running.items()):
            new = wanted.get(name)
            if new == spec:
                continue
            if new is not None and new.kind == spec.kind and self._retag(connector, new):
                self.running[name] = (new, connector)  # only its tags changed: it keeps its session
                continue
            await connector.stop()
            del self.running[name]
        self.refused = {}
        for name, spec in wanted.items():
            if name not in self.running:
                self._start(spec)
        await asyncio.gather(*(c.start() for c in self.connectors))

    def _start(self, spec: ConnectorSpec) -> None:
        try:
            callbacks = {"on_dead_letter": self._dead, "on_event": self._event, "name": spec.name}
            connector = create(spec.kind, spec.config, self._emit(spec.kind), **callbacks)
        except AppError as exc:
            log.warning("connector %s not started: %s", spec.name, exc.english())
            self.refused[spec.name] = exc.english()
            return
        self.running[spec.name] = (spec, connector)

    @staticmethod
    def _retag(connector: Connector[Any], spec: ConnectorSpec) -> bool:
        try:
            return connector.retag(spec.config)
        except AppError:
            return False  # restarted instead: _start reports why it is refused

    def set_tag_specs(self, tag_specs: Mapping[int, TagSpec]) -> None:
        """Validate the next batches against these limits (a tag added or changed in the registry)."""
        self.pipeline.tags = TagTable.from_specs(tag_specs)

    async def stop(self) -> None:
        """Stop the connectors, let the consumer drain what was queued, then return."""
        await asyncio.gather(*(c.stop() for c in self.connectors))
        CONNECTORS.forget(self.health)
        self.queue.close()
        if self._consumer:
            await self._consumer

    def health(self) -> list[dict[str, Any]]:
        running = [{"name": c.name, "kind": c.kind, **c.health()} for c in self.connectors]
        nothing = {"points": 0, "dead_letters": 0, "connects": 0, "last_data_at": None}
        refused = [
            {"name": name, "kind": name.split(" ", 1)[0], "state": "refused", "last_error": why, **nothing}
            for name, why in self.refused.items()
        ]
        return running + refused

    def _emit(self, source: str) -> Emit:
        """Queue a connector's batch and return once it is stored (at-least-once), counting it by source."""

        async def emit(batch: Batch) -> None:
            outcome = await (await self.queue.put(batch))
            INGEST_POINTS.labels(source).inc(outcome.stored)
            INGEST_LATENCY.labels(source).observe(max(0.0, time.time() - int(batch.ts_us.max()) / 1e6))

        return emit

    async def _event(self, event: ConnectorEvent) -> None:
        """Keep what a connector saw besides values (a node's death, a seq gap, a rebirth request) and log it;
        the counts and the nodes' presence are in the connectors' health and ``/metrics``."""
        self.recent_events.append(event)
        level = logging.INFO if event.kind == "equipment_state" else logging.WARNING
        log.log(level, "connector %s: %s at %s %s", event.connector, event.kind, event.source, event.detail)

    async def _dead(self, letter: DeadLetter) -> None:
        DEAD_LETTERS.labels(letter.reason).inc()
        self.recent_dead_letters.append(letter.as_record())
