"""The demo's live plant end to end over the network: seeded registry rows → connectors (OPC UA, Modbus,
Sparkplug B over the embedded broker) → pipeline → store → alarm rules, then a clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from smart365.core import migrate
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.registry.models import Equipment
from smart365.sim.demo import seed_demo
from smart365.sim.factory.runner import free_port
from smart365.sim.live import LiveConfig, LivePlant, showcase_tags
from smart365.telemetry.store import DuckDBStore
from tests.telemetry.connector_helpers import wait_until

LIVE_TAGS = (("MCT-01", "spindle_temp"), ("IMM-01", "mould_temp"), ("PRS-02", "tonnage"))  # OPC UA, Sparkplug, Modbus


def test_live_plant_feeds_the_store_through_every_connector_and_raises_alarms(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    migrate.upgrade(url)
    db = Database(url)
    seed_demo(db, firms=2)
    with db.session(SYSTEM) as session:
        _company, tags = showcase_tags(session)
    store = DuckDBStore(tmp_path / "ts.duckdb")
    opcua, modbus = free_port(), free_port()

    async def scenario() -> None:
        live = LivePlant(db, store, LiveConfig(backfill_h=0.1, opcua_port=opcua, modbus_port=modbus))
        await live.start()
        assert live.stored_backfill > 0 and live.runtime is not None and live.runtime.worker is not None
        try:
            worker = live.runtime.worker
            before = {key: store.count(tags[key]) for key in LIVE_TAGS}
            await wait_until(
                lambda: len(worker.connectors) == 4 and all(c.points > 0 for c in worker.connectors),
                timeout=45,
                what="data from all four connectors",
            )
            for key in LIVE_TAGS:  # each protocol's machine keeps adding points after the backfill
                await wait_until(lambda key=key: store.count(tags[key]) > before[key], timeout=20, what=str(key))
            assert live.runtime.problems == []
            with db.session(SYSTEM) as session:
                press = session.scalars(select(Equipment).where(Equipment.name == "PRS-02")).one()
                health = live.runtime.health_of(press.protocol, press.endpoint)
            assert health is not None and health["state"] == "connected" and health["points"] > 0
            rule_states = live.runtime.alarms.states
            assert rule_states and max(s.last_ts_us for s in rule_states.values()) > 0  # the hook saw live data
        finally:
            await live.stop()
        assert all(c.state == "stopped" for c in worker.connectors)

    asyncio.run(scenario())
    with db.session(SYSTEM) as session:
        endpoints = {
            e.name: e.endpoint for e in session.scalars(select(Equipment).where(Equipment.endpoint.is_not(None)))
        }
        events = session.scalars(select(AlarmEvent)).all()
    assert endpoints["MCT-01"] == f"opc.tcp://127.0.0.1:{opcua}/smart365/"
    assert endpoints["PRS-02"] == f"modbus://127.0.0.1:{modbus}/2"
    assert any(e.condition == "barrel_temp > 238 °C" for e in events)  # IMM-02's heater drifts hot
    store.close()
    db.dispose()
