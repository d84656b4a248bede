"""The ingest worker: connectors → bounded queue → pipeline → store, inside one asyncio loop.

In the embedded shape the web process runs it (DuckDB allows one writer process); scaled out, each worker
process runs one for its share of machines.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from smart365.telemetry.connectors import Connector, create, emit_to
from smart365.telemetry.connectors.base import DeadLetter
from smart365.telemetry.metrics import DEAD_LETTERS
from smart365.telemetry.pipeline import IngestQueue, OnStored, Pipeline, TagSpec, run_ingest
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
        self.connectors: list[Connector[Any]] = []
        self.recent_dead_letters: deque[dict[str, Any]] = deque(maxlen=200)
        self._consumer: asyncio.Task[Any] | None = None

    async def start(self, specs: list[ConnectorSpec]) -> None:
        """Start the consumer, then every connector (each reconnects on its own if its source is down)."""
        self._consumer = asyncio.create_task(run_ingest(self.queue, self.pipeline, self.store, self.on_stored))
        for spec in specs:
            connector = create(spec.kind, spec.config, emit_to(self.queue), on_dead_letter=self._dead, name=spec.name)
            self.connectors.append(connector)
            await connector.start()

    async def stop(self) -> None:
        """Stop the connectors, let the consumer drain what was queued, then return."""
        for connector in self.connectors:
            await connector.stop()
        self.queue.close()
        if self._consumer:
            await self._consumer

    def health(self) -> list[dict[str, Any]]:
        return [{"name": c.name, **c.health()} for c in self.connectors]

    async def _dead(self, letter: DeadLetter) -> None:
        DEAD_LETTERS.labels(letter.reason).inc()
        self.recent_dead_letters.append(letter.as_record())
