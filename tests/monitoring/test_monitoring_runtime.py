"""The demo's live plant end to end over the network: the system the composition root builds, with the live
plant as its plug-in: seeded registry rows → connectors (OPC UA, Modbus, Sparkplug B over the embedded
broker) → pipeline → store → alarm rules, then a clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from smart365.bootstrap import bootstrap, records
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.registry.models import Equipment
from smart365.sim.demo import seed_demo
from smart365.sim.factory.runner import free_port
from smart365.sim.live import LiveConfig, LivePlant, showcase_tags
from tests.telemetry.connector_helpers import wait_until

LIVE_TAGS = (("MCT-01", "spindle_temp"), ("IMM-01", "mould_temp"), ("PRS-02", "tonnage"))  # OPC UA, Sparkplug, Modbus


def test_live_plant_feeds_the_store_through_every_connector_and_raises_alarms(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, warm_up=False)
    db = records(settings)
    seed_demo(db, firms=2)
    with db.session(SYSTEM) as session:
        _company, tags = showcase_tags(session)
    opcua, modbus = free_port(), free_port()
    system = bootstrap(settings, db=db)
    live = LivePlant(LiveConfig(backfill_h=0.1, opcua_port=opcua, modbus_port=modbus))
    system.plugins.append(live)
    store, collection = system.store, system.collection
    assert collection is not None

    async def scenario() -> None:
        await system.start()
        assert live.stored_backfill > 0 and collection.worker is not None
        try:
            worker = collection.worker
            before = {key: store.count(tags[key]) for key in LIVE_TAGS}
            await wait_until(
                lambda: len(worker.connectors) == 4 and all(c.points > 0 for c in worker.connectors),
                timeout=45,
                what="data from all four connectors",
            )
            for key in LIVE_TAGS:  # each protocol's machine keeps adding points after the backfill
                await wait_until(lambda key=key: store.count(tags[key]) > before[key], timeout=20, what=str(key))
            assert collection.problems == []
            with db.session(SYSTEM) as session:
                press = session.scalars(select(Equipment).where(Equipment.name == "PRS-02")).one()
                health = collection.health_of(press.protocol, press.endpoint)
            assert health is not None and health["state"] == "connected" and health["points"] > 0
            rule_states = system.alarms.states
            assert rule_states and max(s.last_ts_us for s in rule_states.values()) > 0  # the hook saw live data
            connectors = worker.connectors
        finally:
            await system.stop()
        assert all(c.state == "stopped" for c in connectors)

    asyncio.run(scenario())
    with db.session(SYSTEM) as session:
        endpoints = {
            e.name: e.endpoint for e in session.scalars(select(Equipment).where(Equipment.endpoint.is_not(None)))
        }
        events = session.scalars(select(AlarmEvent)).all()
    assert endpoints["MCT-01"] == f"opc.tcp://127.0.0.1:{opcua}/smart365/"
    assert endpoints["PRS-02"] == f"modbus://127.0.0.1:{modbus}/2"
    assert any(e.condition == "barrel_temp > 238 °C" for e in events)  # IMM-02's heater drifts hot
    db.dispose()
