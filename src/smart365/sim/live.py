"""The showcase firm's plant, live: registry wiring for the simulator, a history backfill, and the running
simulator feeding the store through real connectors (or directly, for tests).

``smart365 demo`` is ``serve`` with a :class:`LivePlant` plug-in (and seeded data). On start-up, before the
system's collection starts, it

1. replays the last ``backfill_h`` hours of the simulated plant straight into the store (with a few
   scripted events: a press breakdown, a material wait, a heater drifting hot, a spindle bearing wearing
   out, a spindle-load sensor stuck), so trends, OEE and alarm history have something to show at once; 90
   minutes before the end of the replay every CNC machine gets three anomaly models trained on its history
   so far (PCA, a stuck-sensor check and a trend check; the injected faults left out, as an engineer leaves
   out known incidents) and deployed, so the rest of the replay and the live data are scored online and
   anomalies raise explained alarms (a re-run keeps the deployed models);
2. starts the simulator's servers (OPC UA for the CNCs, Modbus TCP for the presses, MQTT/Sparkplug B for
   the injection machines; an embedded broker unless ``SMART365_MQTT_URL`` names one) and points the
   showcase machines' registry endpoints at them. From there on the plant is collected exactly as ``serve``
   collects any factory: the system's :class:`~smart365.monitoring.runtime.Collection` reads the registry
   and runs its connectors → pipeline → store → alarm rules and deployed models.

>>> sorted(ADDRESSES)
['cnc', 'injection', 'press']
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.analytics import registry as models
from smart365.core.db import Database
from smart365.core.errors import AppError
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmRule, OeeSetting
from smart365.monitoring.runtime import AlarmMonitor, tag_specs
from smart365.monitoring.training import train_anomaly_model
from smart365.registry.models import Company, Equipment, Tag
from smart365.sim.factory.modbus_server import PressModbusServer
from smart365.sim.factory.opcua_server import browse_name
from smart365.sim.factory.physics import (
    REASON_CODES,
    STATE_CODES,
    Fault,
    FaultKind,
    Label,
    Plant,
    Reading,
    Reason,
    State,
)
from smart365.sim.factory.runner import Endpoints, Factory, FactoryConfig, free_port, port_is_free
from smart365.telemetry.batch import Batch
from smart365.telemetry.pipeline import Pipeline
from smart365.telemetry.store import TimeSeriesStore

if TYPE_CHECKING:
    from smart365.bootstrap import System

log = logging.getLogger(__name__)

SHOWCASE_BRN = "1348152358"
SPARKPLUG_GROUP, SPARKPLUG_EDGE = "smart365", "hanbit-ansan"
#: Registry tag → where the simulator serves it, per machine kind ({line}, {machine} filled in).
ADDRESSES: dict[str, dict[str, str]] = {
    "cnc": {
        **{
            tag: f"ns=2;s=Plant/{{line}}/{{machine}}/{browse_name(tag)}"
            for tag in ("spindle_load", "spindle_temp", "spindle_speed", "cycle_time", "part_count", "vibration")
        },
        "state": "ns=2;s=Plant/{line}/{machine}/StateCode",
        "stop_reason": "ns=2;s=Plant/{line}/{machine}/ReasonCode",
    },
    "injection": {
        **{
            tag: f"{SPARKPLUG_EDGE}/{{machine}}/{tag}"
            for tag in ("mould_temp", "injection_pressure", "barrel_temp", "cycle_time", "shot_count", "bad_count")
        },
        "state": f"{SPARKPLUG_EDGE}/{{machine}}/state_code",
        "stop_reason": f"{SPARKPLUG_EDGE}/{{machine}}/reason_code",
    },
    "press": {
        "tonnage": "holding:0:uint16:scale=0.1",  # an integer register in 0.1 t, scaled as it is stored
        "die_temp": "holding:12:float32:word=little",  # a word-swapped (CDAB) float
        "stroke_count": "holding:14:int32:big",
        "stroke_rate": "input:2:float32:big",
        "vibration": "input:0:float32:little",
        "state": "holding:3:uint16",
        "stop_reason": "holding:4:uint16",
    },
}
#: Tags the showcase machines need beyond the synthetic population's: (name, unit, min, max).
EXTRA_TAGS = {
    "cnc": (("vibration", "mm/s", 0, 50),),
    "injection": (("bad_count", "ea", 0, 1e9),),
    "press": (("stroke_count", "ea", 0, 1e9), ("vibration", "mm/s", 0, 50)),
}
STATE_TAGS = (("state", None, 0, 2), ("stop_reason", None, 0, 10))
#: Alarm rules per kind: tag → (kind, limit, deadband, delay s, severity).
RULES: dict[str, dict[str, tuple[str, float, float, float, str]]] = {
    "cnc": {
        "spindle_load": ("high", 85, 5, 10, "warning"),
        "spindle_temp": ("high", 55, 2, 10, "warning"),
        "vibration": ("high", 4.5, 0.5, 5, "critical"),
        "state": ("state", 2, 0, 0, "critical"),
    },
    "injection": {
        "barrel_temp": ("high", 238, 2, 10, "critical"),
        "mould_temp": ("high", 68, 1, 10, "warning"),
        "state": ("state", 2, 0, 0, "critical"),
    },
    "press": {
        "vibration": ("high", 6, 0.5, 5, "critical"),
        "die_temp": ("high", 70, 2, 10, "warning"),
        "state": ("state", 2, 0, 0, "critical"),
    },
}
#: OEE per kind: (ideal cycle s, parts counter, defects counter).
OEE = {
    "cnc": (95.0, "part_count", None),
    "injection": (32.0, "shot_count", "bad_count"),
    "press": (2.0, "stroke_count", None),
}


# -- registry wiring ------------------------------------------------------------------------------------


def seed_showcase(session: Session, company: Company) -> None:
    """Give the showcase machines the tags, addresses, alarm rules and OEE settings of the live demo."""
    machines = session.scalars(select(Equipment).where(Equipment.company_id == company.id)).all()
    for machine in machines:
        if machine.kind not in ADDRESSES:
            continue
        tags = {t.name: t for t in machine.tags}
        for name, unit, low, high in (*EXTRA_TAGS.get(machine.kind, ()), *STATE_TAGS):
            if name not in tags:
                tags[name] = Tag(company_id=company.id, name=name, unit=unit, min_value=low, max_value=high)
                machine.tags.append(tags[name])
        for name, address in ADDRESSES[machine.kind].items():
            if name in tags:
                tags[name].address = address.format(line=machine.line.name, machine=machine.name)
        session.flush()
        _seed_rules(session, machine, tags)
        _seed_oee(session, machine, tags)
    point_endpoints(session, company.id, default_endpoints())


def _seed_rules(session: Session, machine: Equipment, tags: dict[str, Tag]) -> None:
    for name, (kind, limit, deadband, delay, severity) in RULES[machine.kind].items():
        session.add(
            AlarmRule(
                company_id=machine.company_id,
                tag_id=tags[name].id,
                kind=kind,
                limit_value=limit,
                deadband=deadband,
                delay_s=delay,
                severity=severity,
            )
        )


def _seed_oee(session: Session, machine: Equipment, tags: dict[str, Tag]) -> None:
    cycle, count, bad = OEE[machine.kind]
    session.add(
        OeeSetting(
            company_id=machine.company_id,
            equipment_id=machine.id,
            ideal_cycle_s=cycle,
            state_tag_id=tags["state"].id,
            reason_tag_id=tags["stop_reason"].id,
            count_tag_id=tags[count].id,
            bad_tag_id=tags[bad].id if bad else None,
        )
    )


def default_endpoints() -> Endpoints:
    """Where the simulator listens by default (its own defaults; the embedded broker's usual port)."""
    return Endpoints("opc.tcp://127.0.0.1:4840/smart365/", "modbus://127.0.0.1:5020", "mqtt://127.0.0.1:1883", True)


def point_endpoints(session: Session, company_id: int, endpoints: Endpoints) -> None:
    """Set the showcase machines' endpoints to where the simulator listens now."""
    device_ids = PressModbusServer(["PRS-01", "PRS-02"], port=0).device_ids
    protocol_endpoint = {
        "opcua": endpoints.opcua,
        "sparkplug": f"{endpoints.mqtt}/{SPARKPLUG_GROUP}",
    }
    for machine in session.scalars(select(Equipment).where(Equipment.company_id == company_id)):
        if machine.protocol == "modbus" and machine.name in device_ids:
            machine.endpoint = f"{endpoints.modbus}/{device_ids[machine.name]}"
        elif machine.protocol in protocol_endpoint and machine.kind in ADDRESSES:
            machine.endpoint = protocol_endpoint[machine.protocol]


def showcase_tags(session: Session) -> tuple[int | None, dict[tuple[str, str], int]]:
    """The showcase firm's id and its ``(machine, tag) → tag id`` map (``None`` when not seeded)."""
    company_id = session.scalar(select(Company.id).where(Company.brn == SHOWCASE_BRN))
    if company_id is None:
        return None, {}
    rows = session.execute(
        select(Equipment.name, Tag.name, Tag.id)
        .join(Tag, Tag.equipment_id == Equipment.id)
        .where(Equipment.company_id == company_id)
    )
    return company_id, {(machine, tag): tag_id for machine, tag, tag_id in rows}


# -- feeding the store without the network ----------------------------------------------------------------


def reading_values(reading: Reading) -> dict[str, float]:
    """A reading's values under the registry's tag names (state and reason as codes)."""
    return {**reading.values, "state": STATE_CODES[reading.state], "stop_reason": REASON_CODES[reading.reason]}


def readings_batch(readings: dict[str, Reading], tags: dict[tuple[str, str], int]) -> Batch:
    """One batch of every registered tag's current value."""
    ids, ts, values = [], [], []
    for name, reading in readings.items():
        for tag, value in reading_values(reading).items():
            if (name, tag) in tags:
                ids.append(tags[(name, tag)])
                ts.append(reading.ts)
                values.append(value)
    return Batch.from_columns(ids, ts, values) if ids else Batch.empty()


class DirectFeed:
    """The plant's readings → pipeline → store → alarm rules, in-process (backfill and tests)."""

    def __init__(
        self,
        db: Database,
        store: TimeSeriesStore,
        tags: dict[tuple[str, str], int],
        alarms: AlarmMonitor | None = None,
    ) -> None:
        self.db, self.store, self.tags = db, store, tags
        self.pipeline = Pipeline(tag_specs(db))
        self.alarms = alarms or AlarmMonitor(db, refresh_s=3600, store=store)

    def ingest(self, batch: Batch) -> int:
        """Validate, store, dead-letter and evaluate alarms for one batch; returns the points stored."""
        result = self.pipeline.process(batch)
        stored = self.store.append(result.accepted)
        if len(result.dead):
            self.store.dead_letter(result.dead)
        if len(result.accepted):
            self.alarms.process(result.accepted)
        return stored

    def backfill(self, plant: Plant, until: datetime, every_s: float = 10.0) -> int:
        """Advance ``plant`` to ``until`` and store a reading every ``every_s`` simulated seconds."""
        stored, pending = 0, []
        while (left := (until - plant.now).total_seconds()) > 0:  # never past ``until``: no future points
            pending.append(readings_batch(plant.advance(min(every_s, left), max_dt=2.0), self.tags))
            if len(pending) >= 60:  # store in chunks: fewer transactions, still bounded memory
                stored += self.ingest(Batch.concat(pending))
                pending = []
        if pending:
            stored += self.ingest(Batch.concat(pending))
        return stored


def scripted_plant(start: datetime, hours: float, seed: int = 365) -> Plant:
    """The showcase plant starting ``hours`` before now, with events that make the demo worth watching."""
    plant = Plant.showcase(seed=seed, start=start)
    plant.random_faults(hours * 3600)
    end = hours * 3600
    plant.inject(Fault("IMM-02", "barrel_temp", FaultKind.HEATER_DRIFT, end - 1800, end + 1800))
    plant.inject(Fault("MCT-02", "vibration", FaultKind.BEARING, end - 3600, end + 1800))  # the AI sees it first
    plant.inject(Fault("MCT-01", "spindle_load", FaultKind.SENSOR_FREEZE, end - 2400, end - 600))  # a stuck sensor
    return plant


SCRIPT = (  # (seconds before the end of the backfill, machine, state, reason, seconds)
    (100 * 60, "PRS-02", State.DOWN, Reason.BREAKDOWN, 40 * 60),
    (5 * 60, "MCT-03", State.IDLE, Reason.MATERIAL_WAIT, 12 * 60),
)
TRAIN_BEFORE_S = 90 * 60  # the demo's models learn the history up to 90 minutes before the end of the replay
MODEL_KINDS = ("cnc",)  # machines that get anomaly models in the demo
#: (name, kind) of the models each of them gets
DEMO_MODELS = (("anomaly", "anomaly.pca"), ("sensors", "anomaly.stuck"), ("trend", "anomaly.trend"))
DEMO_AUTHOR = "Smart365 demo"


def backfill_with_script(feed: DirectFeed, plant: Plant, until: datetime) -> int:
    """Backfill up to ``until``, forcing the scripted stops on the way and training the demo's anomaly models
    ``TRAIN_BEFORE_S`` before the end (so the rest is scored online as it is stored)."""
    stored = 0
    steps = [(before_s, (machine, state, reason, seconds)) for before_s, machine, state, reason, seconds in SCRIPT]
    for before_s, stop in sorted([*steps, (TRAIN_BEFORE_S, None)], key=lambda s: -s[0]):
        stored += feed.backfill(plant, until - timedelta(seconds=before_s))
        if stop is None:
            deploy_demo_models(feed.db, feed.store, plant.start, plant.now, plant.labels)
            feed.alarms.reload()
        else:
            machine, state, reason, seconds = stop
            plant.machines[machine].stop(state, reason, seconds)
    return stored + feed.backfill(plant, until)


def deploy_demo_models(
    db: Database, store: TimeSeriesStore, start: datetime, end: datetime, labels: list[Label] | None = None
) -> int:
    """Train and deploy each of the ``DEMO_MODELS`` on every showcase machine of ``MODEL_KINDS`` where none of
    its name is deployed, on the machine's history in ``[start, end)`` without the labelled faults (padded by
    15 minutes); returns how many."""
    deployed = 0
    with db.session(SYSTEM) as session:
        company_id = session.scalar(select(Company.id).where(Company.brn == SHOWCASE_BRN))
        machines = session.scalars(
            select(Equipment).where(Equipment.company_id == company_id, Equipment.kind.in_(MODEL_KINDS))
        ).all()
        for machine, (name, kind) in product(machines, DEMO_MODELS):
            if any(row.name == name for row in models.deployed(session, machine.id)):
                continue
            exclude = [(f.start, f.end + timedelta(minutes=15)) for f in labels or () if f.machine == machine.name]
            try:
                row = train_anomaly_model(
                    session, store, equipment_id=machine.id, start=start, end=end, created_by=DEMO_AUTHOR,
                    kind=kind, name=name, exclude=exclude,
                )  # fmt: skip
            except AppError as exc:  # too little normal history: this machine goes without a model
                log.warning("demo model %s for %s not trained: %s", name, machine.name, exc)
                continue
            models.deploy(session, row.id, by=DEMO_AUTHOR)
            deployed += 1
    log.info("live plant: %d anomaly models deployed", deployed)
    return deployed


def catch_up(feed: DirectFeed, hours: float, seed: int = 365) -> tuple[Plant, int]:
    """A plant caught up to now, and the points stored on the way: the scripted history of the last ``hours``
    (its anomaly models trained and deployed on the way) when the store holds none of the plant's data this
    recent; otherwise only the gap since the last stored point, so histories never overlap."""
    now = datetime.now(UTC)
    latest = feed.store.latest(list(feed.tags.values())).column("ts").to_pylist()
    last = max((_aware(t) for t in latest), default=None)
    if last is None or last < now - timedelta(hours=hours):
        plant = scripted_plant(now - timedelta(hours=hours), hours, seed)
        stored = backfill_with_script(feed, plant, now)
    else:
        plant = Plant.showcase(seed=seed, start=last + timedelta(seconds=1))
        if deploy_demo_models(feed.db, feed.store, now - timedelta(hours=hours), last):  # a store without models
            feed.alarms.reload()
        stored = feed.backfill(plant, now)
    log.info("live plant: %d points of history stored", stored)
    return plant, stored


# -- the live plant --------------------------------------------------------------------------------------


@dataclass
class LiveConfig:
    """How the live plant runs."""

    backfill_h: float = 8.0
    network: bool = True  # False: no servers, the readings go straight to the store (tests)
    tick: float = 1.0
    mqtt_url: str | None = None
    seed: int = 365
    opcua_port: int | None = None  # None: 4840 when free, else any free port
    modbus_port: int | None = None  # None: 5020 when free, else any free port


class LivePlant:
    """The showcase plant running as a plug-in of the system (see the module docstring)."""

    def __init__(self, config: LiveConfig | None = None) -> None:
        self.config = config or LiveConfig(mqtt_url=os.environ.get("SMART365_MQTT_URL") or None)
        self.factory: Factory | None = None
        self.endpoints: Endpoints | None = None
        self.stored_backfill = 0
        self._stop = asyncio.Event()
        self._ticking: asyncio.Task[Any] | None = None

    async def start(self, system: System) -> None:
        """Backfill into the system's store (its alarm rules watching), then start the simulator's servers and
        point the registry at them (or, without the network, feed the store directly)."""
        self.db, self.store = system.db, system.store
        with self.db.session(SYSTEM) as session:
            company_id, tags = showcase_tags(session)
        if company_id is None:
            log.warning("live plant: the showcase firm is not in the database; nothing to run")
            return
        feed = DirectFeed(self.db, self.store, tags, system.alarms)
        plant, self.stored_backfill = await asyncio.to_thread(catch_up, feed, self.config.backfill_h, self.config.seed)
        if self.config.network:
            await self._start_network(plant, company_id)
        else:
            self._ticking = asyncio.create_task(self._feed(plant, feed))

    async def _start_network(self, plant: Plant, company_id: int) -> None:
        cfg = self.config
        config = FactoryConfig(
            opcua_port=cfg.opcua_port or (4840 if port_is_free(4840) else free_port()),
            modbus_port=cfg.modbus_port or (5020 if port_is_free(5020) else free_port()),
            mqtt_url=cfg.mqtt_url,
            tick=cfg.tick,
            seed=cfg.seed,
            fault_horizon_s=cfg.backfill_h * 3600,
        )
        self.factory = Factory(config, plant)
        self.endpoints = await self.factory.start()
        with self.db.session(SYSTEM) as session:
            point_endpoints(session, company_id, self.endpoints)
        self._ticking = asyncio.create_task(self.factory.run(self._stop))

    async def _feed(self, plant: Plant, feed: DirectFeed) -> None:
        while not self._stop.is_set():
            readings = plant.advance(self.config.tick)
            await asyncio.to_thread(feed.ingest, readings_batch(readings, feed.tags))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.config.tick)

    async def stop(self) -> None:
        """Stop the simulator (the system has stopped its connectors first, draining what was queued)."""
        self._stop.set()
        if self._ticking is not None:
            with contextlib.suppress(Exception):
                await self._ticking
        if self.factory is not None:
            await self.factory.stop()
        log.info("live plant stopped")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
