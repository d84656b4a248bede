"""Live operations on stored points: the alarm rules and deployed models (:class:`AlarmMonitor`), and the
collection of the registry's connectors (:class:`Collection`).

The composition root (:mod:`smart365.bootstrap`) builds them: ``serve`` collects every connector in its
own process (the embedded shape: DuckDB has one writer), each ``smart365 worker`` the share it holds a
lease on (the server shape). Either way the registry is read again every few seconds, so a machine or tag
added, changed or removed in the browser or the API is collected (or stops) without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

from sqlalchemy import select

from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.monitoring import service
from smart365.monitoring.alarms import Rule, RuleState, Transition, evaluate
from smart365.monitoring.scoring import AnomalyMonitor
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from smart365.telemetry.leases import Leases, SoleCollector
from smart365.telemetry.pipeline import TagSpec
from smart365.telemetry.sources import (
    ConnectorSpec,
    SourceIdentity,
    SourceProblem,
    connector_configs,
    connector_name,
    registry_sources,
    sparkplug_node,
)
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
        self._lock = threading.Lock()  # the collection and HTTP ingest threads share the rule states

    def reload(self) -> None:
        """Read the rules and the deployed models again before the next batch."""
        self._loaded_at = -float("inf")
        self.anomalies.reload()

    async def __call__(self, batch: Batch) -> None:
        await asyncio.to_thread(self.process, batch)

    def process(self, batch: Batch) -> list[Transition]:
        """Evaluate a stored batch; record and return the transitions."""
        with self._lock:
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


def machine_connection(health: dict[str, Any], protocol: str | None, addresses: list[str]) -> dict[str, Any]:
    """A machine's connection as its live page shows it: its connector's health, except that a Sparkplug machine
    whose edge node or device (named by its tags' addresses) has died reads ``edge_offline`` with the death
    (``NDEATH``, ``DDEATH``) as ``reason``, and one not born yet (or unknown since the broker was lost) reads
    ``edge_waiting``, although the connector itself is connected.

    >>> health = {"state": "connected", "nodes": [{"edge": "e", "device": None, "online": False, "reason": "NDEATH",
    ...     "since": None}]}
    >>> found = machine_connection(health, "sparkplug", ["e/IMM-01/temp"]); found["state"], found["reason"]
    ('edge_offline', 'NDEATH')
    >>> machine_connection(health, "sparkplug", ["other/IMM-01/temp"])["state"]
    'edge_waiting'
    """
    if protocol != "sparkplug" or health.get("state") != "connected" or "nodes" not in health:
        return health
    wanted = sorted({node for node in map(sparkplug_node, addresses) if node}, key=lambda n: (n[0], n[1] or ""))
    presence = {(n["edge"], n["device"]): n for n in health["nodes"]}
    waiting = False
    for edge, device in wanted:
        for key in [(edge, None), (edge, device)] if device else [(edge, None)]:
            seen = presence.get(key)
            if seen is not None and seen["online"] is False:
                where = "/".join(part for part in key if part)
                dead = {"state": "edge_offline", "reason": seen["reason"], "since": seen["since"], "node": where}
                return {**health, **dead}
            waiting = waiting or seen is None or seen["online"] is None
    return {**health, "state": "edge_waiting"} if waiting else health


def tag_specs(db: Database) -> dict[int, TagSpec]:
    """Validation limits of every registered tag."""
    with db.session(SYSTEM) as session:
        rows = session.execute(select(Tag.id, Tag.min_value, Tag.max_value))
        return {tag_id: TagSpec(min_value=lo, max_value=hi) for tag_id, lo, hi in rows}


class Collection:
    """The registry's connectors running in this process → pipeline → store → :class:`AlarmMonitor`.

    Every ``refresh_s`` seconds it reads the registry again, asks its :class:`~smart365.telemetry.leases.Leases`
    which connectors it may run, and brings the running ones in line (new ones start, removed ones stop,
    changed ones restart; the others keep their connection). A connector that cannot connect only backs off
    and reconnects; one its config refuses is reported; neither stops the others. If the leases cannot be
    renewed (the database is away) for most of a lease's life, it stops its connectors rather than risk
    running one that another worker has taken over.
    """

    def __init__(
        self,
        db: Database,
        store: TimeSeriesStore,
        alarms: AlarmMonitor,
        leases: Leases | None = None,
        refresh_s: float = 5.0,
        lease_ttl_s: float = 15.0,
        identity: SourceIdentity | None = None,
    ) -> None:
        self.db, self.store, self.alarms = db, store, alarms
        self.identity = identity or SourceIdentity()
        self.leases: Leases = leases or SoleCollector()
        self.refresh_s, self.lease_ttl_s = refresh_s, lease_ttl_s
        self.worker: IngestWorker | None = None
        self.problems: list[SourceProblem] = []
        self._held_at = time.monotonic()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the ingest worker and the connectors this process runs, then keep them in line."""
        self.worker = IngestWorker(self.store, {}, on_stored=self.alarms)
        await self.worker.start([])
        await self.sync()
        self._loop_task = asyncio.create_task(self._keep_in_line(), name="collection")
        log.info("collection (%s): %d connectors", self.leases.holder, len(self.worker.running))

    async def sync(self) -> None:
        """Read the registry and the leases once, and run exactly the connectors this process holds."""
        assert self.worker is not None, "start() first"
        specs, problems, limits = await asyncio.to_thread(self._read_registry)
        try:
            run, give_up = await asyncio.to_thread(self.leases.hold, [spec.name for spec in specs])
        except Exception:
            if time.monotonic() - self._held_at > 0.6 * self.lease_ttl_s:
                log.exception("leases not renewed for %.0f s: stopping this worker's connectors", self.lease_ttl_s)
                await self.worker.reconcile([])
            raise
        self._held_at = time.monotonic()
        self.worker.set_tag_specs(limits)
        await self.worker.reconcile([spec for spec in specs if spec.name in run])
        if give_up:
            await asyncio.to_thread(self.leases.release, give_up)
        known = {(p.tag_id, p.message) for p in self.problems}
        for problem in problems:
            if (problem.tag_id, problem.message) not in known:
                log.warning("tag %s is not collected: %s", problem.tag_id, problem.message)
        self.problems = problems

    def _read_registry(self) -> tuple[list[ConnectorSpec], list[SourceProblem], dict[int, TagSpec]]:
        with self.db.session(SYSTEM) as session:
            specs, problems = connector_configs(registry_sources(session), self.identity)
        return specs, problems, tag_specs(self.db)

    async def _keep_in_line(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.sync()
            except Exception:  # the database away for a moment: what runs keeps running, the next round retries
                log.exception("collection: the registry or the leases could not be read")

    def health(self) -> list[dict[str, Any]]:
        """Every connector this process runs (or refused), with its state."""
        return self.worker.health() if self.worker is not None else []

    def health_of(self, protocol: str, endpoint: str | None) -> dict[str, Any] | None:
        """The health of the connector serving a machine's endpoint (``None`` when this process runs none)."""
        if not endpoint:
            return None
        name = connector_name(protocol, endpoint)
        return next((h for h in self.health() if h["name"] == name), None)

    async def stop(self) -> None:
        """Stop the connectors, store what is still queued, give the leases back."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        with contextlib.suppress(Exception):  # unreachable database: the leases simply expire
            await asyncio.to_thread(self.leases.close)
