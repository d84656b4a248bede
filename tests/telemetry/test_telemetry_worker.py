"""End to end in one loop: the simulated plant → four kinds of connectors built from registry-style rows →
the ingest worker → the store."""

from __future__ import annotations

import asyncio

from smart365.sim.factory.runner import Factory, FactoryConfig, free_port
from smart365.telemetry.pipeline import TagSpec
from smart365.telemetry.sources import SourceRow, connector_configs
from smart365.telemetry.store import DuckDBStore
from smart365.telemetry.worker import IngestWorker
from tests.telemetry.connector_helpers import wait_until


def _rows(opcua: str, modbus_port: int, mqtt: str) -> list[SourceRow]:
    return [
        SourceRow("opcua", opcua, 1, "ns=2;s=Plant/가공라인/MCT-01/SpindleLoad"),
        SourceRow("modbus", f"modbus://127.0.0.1:{modbus_port}/1", 2, "holding:10:float32:big"),
        SourceRow("sparkplug", f"{mqtt}/smart365", 3, "hanbit-ansan/IMM-01/mould_temp"),
        SourceRow("mqtt", mqtt, 4, "smart365/ansan/injection/IMM-01#values.mould_temp"),
        SourceRow("modbus", f"modbus://127.0.0.1:{modbus_port}/1", 5, "holding:ten"),  # a typo in the registry
    ]


def test_plant_data_flows_from_every_protocol_into_the_store() -> None:
    async def scenario() -> None:
        config = FactoryConfig(opcua_port=free_port(), modbus_port=free_port(), tick=0.2, speed=5, faults=False)
        factory = Factory(config)
        endpoints = await factory.start()
        stop = asyncio.Event()
        ticking = asyncio.create_task(factory.run(stop))
        specs, problems = connector_configs(_rows(endpoints.opcua, config.modbus_port, endpoints.mqtt))
        assert [p.tag_id for p in problems] == [5]
        assert sorted(s.kind for s in specs) == ["modbus", "mqtt", "opcua", "sparkplug"]
        store = DuckDBStore(":memory:")
        worker = IngestWorker(store, {tag: TagSpec(min_value=0) for tag in (1, 2, 3, 4)})
        try:
            await worker.start(specs)
            for tag in (1, 2, 3, 4):
                await wait_until(lambda tag=tag: store.count(tag) > 0, timeout=30, what=f"points of tag {tag}")
            assert {h["state"] for h in worker.health()} == {"connected"}
        finally:
            await worker.stop()
            stop.set()
            await ticking
            await factory.stop()
        mould = store.read(3, "2000-01-01", "2100-01-01").value
        assert 20 < mould.mean() < 120  # a plausible mould temperature, in °C
        store.close()

    asyncio.run(scenario())
