"""The composition root: every shape of Smart365 (``serve``, ``worker``, ``demo``, the tests) is built here.

:func:`bootstrap` turns settings into a :class:`System`: the records database (migrated), the time-series
store, the alarm rules and deployed models that watch every stored point, the collection of the registry's
connectors, and the AI test-bed's background worker. The web app is one more face of the same system
(:func:`smart365.web.app.create_app`); the demo adds only the simulated plant and seeded data, as plug-ins.

==============  ==========================================================================================
shape           what runs
==============  ==========================================================================================
``serve``       web app + test-bed worker + alarm notifications; collects every connector in-process when the
                store is embedded (DuckDB has one writer), or shares them through leases when
                ``SMART365_COLLECT=true`` on a server store
``worker``      collection, ingest and scoring only (no web), for the server shape (PostgreSQL records and
                time series); several share the connectors through leases
``centre``      a centre worker of the scaled-out shape (``worker --role centre``): pulls what plants forward
                from the hub's NATS JetStream and writes the records database (PostgreSQL); nothing else
==============  ==========================================================================================

Either of the first two forwards the firm's rollups, tag catalogue and alarms to the centre when
``SMART365_FLEET_LEAF_URL`` names the plant's NATS leaf node (:mod:`smart365.fleet`).

>>> import tempfile
>>> from pathlib import Path
>>> system = bootstrap(Settings(data_dir=Path(tempfile.mkdtemp())))
>>> system.collection is not None, system.testbed is not None  # embedded serve: collects, runs the test-bed
(True, True)
>>> system.store.close()
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from smart365.assessment.evidence import ForwardedSource
from smart365.core import migrate
from smart365.core.db import Database
from smart365.core.errors import AppError
from smart365.core.i18n import N_
from smart365.core.settings import Settings
from smart365.core.throttle import LoginThrottle
from smart365.fleet.forwarded import forwarded_evidence
from smart365.monitoring import notify
from smart365.monitoring.runtime import AlarmMonitor, Collection
from smart365.telemetry import corrections
from smart365.telemetry.grafana import TagNames
from smart365.telemetry.leases import DatabaseLeases, Leases, SoleCollector
from smart365.telemetry.sources import SourceIdentity, refuse_unreadable_sources
from smart365.telemetry.store import TimeSeriesStore, open_store
from smart365.testbed.service import TestbedWorker
from smart365.testbed.tables import Staging

log = logging.getLogger(__name__)

Shape = Literal["serve", "worker", "centre"]


class Part(Protocol):
    """A background part with an asynchronous life: the fleet's uplink or centre consumer, the notifier."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Plugin(Protocol):
    """Something that runs with the system: started before collection, stopped after it (the demo's plant)."""

    async def start(self, system: System) -> None: ...

    async def stop(self) -> None: ...


class NeedsServerShape(AppError):
    status = 400
    code = "needs_server_shape"
    default_message = N_(
        "A worker collects for the server shape: set SMART365_TIMESERIES_URL to a PostgreSQL database. "
        "On the embedded default, `smart365 serve` collects by itself."
    )


class NeedsCentreSettings(AppError):
    status = 400
    code = "needs_centre_settings"
    default_message = N_(
        "A centre worker needs SMART365_FLEET_HUB_URL (the hub's NATS) and SMART365_DATABASE_URL on PostgreSQL."
    )


class NeedsFleetFirm(AppError):
    status = 400
    code = "needs_fleet_firm"
    default_message = N_(
        "SMART365_FLEET_LEAF_URL is set: SMART365_FLEET_BRN must name the firm (10-digit business registration "
        "number) whose data this plant forwards."
    )


@dataclass(eq=False)
class System:
    """The running parts one process shares, as typed attributes (the web app holds it as ``app.state.system``)."""

    settings: Settings
    db: Database
    store: TimeSeriesStore
    alarms: AlarmMonitor
    collection: Collection | None
    testbed: TestbedWorker | None
    login_throttle: LoginThrottle
    plugins: list[Plugin] = field(default_factory=list)
    fleet: Part | None = None  # the plant's uplink to the centre, or a centre worker's consumer
    notifier: Part | None = None  # sends the alarm notifications every process queues
    #: The measured evidence the firms' plants forwarded to this centre (read by the diagnosis page).
    forwarded_evidence: ForwardedSource | None = None
    closing: threading.Event = field(default_factory=threading.Event)  # long responses (event streams) end
    #: Exempt what start-up loaded from garbage collection (the long-running commands set it; see start()).
    freeze_heap: bool = False

    async def start(self) -> None:
        """Start the background parts: test-bed worker, plug-ins, then collection."""
        if self.testbed is not None:
            self.testbed.start()  # marks runs a previous process left running as failed, requeues queued ones
        if self.testbed is not None and self.settings.warm_up:
            _warm_up(self)
        for plugin in self.plugins:
            await plugin.start(self)
        if self.collection is not None:
            await self.collection.start()
        if self.fleet is not None:
            await self.fleet.start()
        if self.notifier is not None:
            await self.notifier.start()
        if self.freeze_heap:
            # The libraries loaded by now are ~370k objects that a full collection walks every time: a request
            # that allocates (5,000 parsed points) set off 20-270 ms pauses for every other request.
            gc.collect()
            gc.freeze()

    async def stop(self) -> None:
        """Stop in reverse: collection (stores what is queued), plug-ins, test-bed, then the store."""
        self.closing.set()
        if self.notifier is not None:
            await self.notifier.stop()
        if self.fleet is not None:
            await self.fleet.stop()
        if self.collection is not None:
            await self.collection.stop()
        for plugin in reversed(self.plugins):
            await plugin.stop()
        if self.testbed is not None:
            self.testbed.stop()
        self.store.close()


def records(settings: Settings) -> Database:
    """The records database, migrated, with the write hooks every process applies."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.records_url)
    _write_hooks()
    return Database(settings.records_url)


def _write_hooks() -> None:
    """What every write of every process does: refuse an address no connector can read, queue the
    notifications of an alarm raised or cleared."""
    refuse_unreadable_sources()
    notify.install()


def bootstrap(settings: Settings | None = None, *, db: Database | None = None, shape: Shape = "serve") -> System:
    """Build the system for ``shape`` from ``settings`` (tests pass their own database)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if db is None:
        db = records(settings)
    else:  # a database the caller migrated: the write hooks still apply
        _write_hooks()
    embedded = settings.timeseries_url is None
    if shape == "worker" and embedded:
        raise NeedsServerShape()
    if shape == "centre":
        return _centre_worker(settings, db)
    store = open_store(settings.timeseries_target)
    store.corrections = corrections.policies(db)  # each firm's rule for a point re-sent with another value
    alarms = AlarmMonitor(db, store=store)
    collects = shape == "worker" or (settings.collect if settings.collect is not None else embedded)
    collection = None
    if collects:
        leases: Leases = SoleCollector() if embedded else DatabaseLeases(db, ttl_s=settings.lease_ttl_s)
        identity = SourceIdentity(settings.installation, settings.sparkplug_host_id or None, settings.opcua_pki)
        collection = Collection(db, store, alarms, leases, settings.collect_every_s, settings.lease_ttl_s, identity)
    testbed = TestbedWorker(db, Staging(settings.data_dir / "testbed")) if shape == "serve" else None
    throttle = LoginThrottle(settings.login_throttle_url)
    notifier = notify.Notifier(db, settings) if shape == "serve" else None
    return System(
        settings,
        db,
        store,
        alarms,
        collection,
        testbed,
        throttle,
        plugins=[] if embedded else [TagNames()],  # the names the store's Grafana views show
        fleet=_uplink(settings, db, store),
        notifier=notifier,
        forwarded_evidence=forwarded_evidence,
    )


def _uplink(settings: Settings, db: Database, store: TimeSeriesStore) -> Part | None:
    """The plant's uplink to the centre, when a leaf NATS server is named."""
    if settings.fleet_leaf_url is None:
        return None
    if settings.fleet_brn is None:
        raise NeedsFleetFirm()
    from smart365.fleet.uplink import Uplink
    from smart365.fleet.wire import plant_token

    return Uplink(
        db,
        store,
        leaf_url=settings.fleet_leaf_url,
        brn=settings.fleet_brn,
        plant=plant_token(settings.installation),
        every_s=settings.fleet_every_s,
    )


def _centre_worker(settings: Settings, db: Database) -> System:
    """A centre worker: the hub's consumer writing the records database, and nothing else running."""
    if settings.fleet_hub_url is None or not settings.records_url.startswith("postgresql"):
        raise NeedsCentreSettings()
    from smart365.fleet.centre import CentreConsumer

    store = open_store(settings.timeseries_target)
    consumer = CentreConsumer(settings.fleet_hub_url, settings.records_url, ack_wait_s=settings.fleet_ack_wait_s)
    throttle = LoginThrottle(settings.login_throttle_url)
    return System(settings, db, store, AlarmMonitor(db, store=store), None, None, throttle, fleet=consumer)


def _warm_up(system: System) -> None:
    """Train the ticket classifier in the background while the server starts (where the centre works)."""
    from smart365.centre.api import model_dir
    from smart365.centre.triage import warm_up

    args = (system.db, model_dir(system.settings))
    threading.Thread(target=warm_up, args=args, daemon=True, name="warm-up").start()
