"""OPC UA connector against the simulator's server: browse, subscriptions, deadband, reconnect after a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from asyncua import Node, ua

from smart365.sim.factory.opcua_server import PlantOpcUaServer
from smart365.sim.factory.physics import TAGS, Plant
from smart365.sim.factory.runner import free_port
from smart365.telemetry.connectors.opcua import OpcUaConnector, browse
from tests.telemetry.connector_helpers import Recorder, run, wait_until

SPINDLE_LOAD = "ns=2;s=Plant/가공라인/MCT-01/SpindleLoad"
SPINDLE_TEMP = "ns=2;s=Plant/가공라인/MCT-01/SpindleTemp"


def _server(port: int) -> PlantOpcUaServer:
    return PlantOpcUaServer({"MCT-01": ("가공라인", TAGS["cnc"]), "MCT-02": ("가공라인", TAGS["cnc"])}, port=port)


@contextlib.asynccontextmanager
async def _ticking(server: PlantOpcUaServer, plant: Plant) -> AsyncIterator[None]:
    """Advance the plant and write it to ``server`` every 0.1 s while the block runs."""

    async def tick() -> None:
        while True:
            await server.update(plant.advance(5))
            await asyncio.sleep(0.1)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _plant() -> Plant:
    return Plant.showcase(seed=3, start=datetime(2026, 1, 5, 8, tzinfo=UTC))


def test_browse_offers_spindle_load_with_type_unit_and_range() -> None:
    async def scenario() -> None:
        server = _server(free_port())
        await server.start()
        try:
            suggestions = await browse(server.endpoint)
            login = await browse(server.endpoint, username="operator", password="smart365")
        finally:
            await server.stop()
        found = {s.node_id: s for s in suggestions}
        load = found[SPINDLE_LOAD]
        assert load.browse_path.endswith("Plant/가공라인/MCT-01/SpindleLoad")
        assert load.data_type == "Double"
        assert (load.unit, load.low, load.high) == ("%", 0.0, 150.0)  # an AnalogItemType's EURange
        assert not any(s.browse_path.endswith(("EngineeringUnits", "EURange")) for s in suggestions)
        assert found[SPINDLE_LOAD.replace("SpindleLoad", "State")].low is None  # a plain string variable
        assert {s.node_id for s in login} == set(found)

    run(scenario())


def test_subscription_delivers_values_and_resumes_after_a_server_restart() -> None:
    plant = _plant()

    async def scenario() -> None:
        port = free_port()
        server = _server(port)
        await server.start()
        recorder = Recorder()
        config = {
            "endpoint": server.endpoint,
            "username": "operator",
            "password": "smart365",
            "publishing_interval_ms": 100,
            "backoff_initial_s": 0.2,
            "backoff_max_s": 1.0,
            "tags": [{"tag_id": 11, "node_id": SPINDLE_LOAD}, {"tag_id": 12, "node_id": SPINDLE_TEMP, "scale": 10}],
        }
        connector = OpcUaConnector(config, recorder.emit)
        await connector.start()
        try:
            async with _ticking(server, plant):
                await wait_until(lambda: len(recorder.values(11)) >= 3, what="spindle load values")
            expected = plant.readings()["MCT-01"].values
            await wait_until(lambda: recorder.latest().get(12) == expected["spindle_temp"] * 10, what="last value")
            await server.stop()
            await wait_until(lambda: connector.health()["state"] != "connected", what="disconnect noticed")
            before = len(recorder.values(11))
            server = _server(port)
            await server.start()
            async with _ticking(server, plant):
                await wait_until(lambda: len(recorder.values(11)) >= before + 3, timeout=30, what="data resumed")
            assert connector.health()["connects"] >= 2
            assert connector.health()["errors"] >= 1
        finally:
            await connector.stop()
            await server.stop()

    run(scenario(), timeout=60)


def test_absolute_deadband_suppresses_small_changes() -> None:
    async def scenario() -> None:
        server = _server(free_port())
        await server.start()
        node = server.nodes[("MCT-01", "spindle_load")]
        recorder = Recorder()
        config = {
            "endpoint": server.endpoint,
            "publishing_interval_ms": 50,
            "tags": [{"tag_id": 1, "node_id": SPINDLE_LOAD, "deadband": 5.0}],
        }
        connector = OpcUaConnector(config, recorder.emit)
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
            for value in (10.0, 11.0, 12.0, 13.0, 20.0, 21.0, 30.0):
                await node.write_value(value)
                await asyncio.sleep(0.1)
            await wait_until(lambda: 30.0 in recorder.values(1), what="the last big change")
        finally:
            await connector.stop()
            await server.stop()
        assert [v for v in recorder.values(1) if v >= 10] == [10.0, 20.0, 30.0]

    run(scenario())


class _RefusingSubscription:
    """A subscription whose server refuses DataChangeFilters (as some PLC servers do)."""

    def __init__(self) -> None:
        self.plain: list[Node] = []

    async def deadband_monitor(self, node: Node, deadband: float) -> int:
        raise ua.UaStatusCodeError(ua.StatusCodes.BadMonitoredItemFilterUnsupported)

    async def subscribe_data_change(self, node: Node) -> int:
        self.plain.append(node)
        return 1


def test_deadband_is_applied_on_the_client_when_the_server_refuses_the_filter() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        config = {
            "endpoint": "opc.tcp://127.0.0.1:4840/",
            "tags": [{"tag_id": 1, "node_id": SPINDLE_LOAD, "deadband": 5}],
        }
        connector = OpcUaConnector(config, recorder.emit)
        subscription = _RefusingSubscription()
        node_id = ua.NodeId.from_string(SPINDLE_LOAD)
        await connector._monitor(subscription, Node(None, node_id), connector.config.tags[0])  # type: ignore[arg-type]
        assert len(subscription.plain) == 1
        good = ua.DataValue(ua.Variant(0.0, ua.VariantType.Double))
        changes = [(node_id.to_string(), v, good) for v in (10.0, 12.0, 14.9, 15.5, 16.0, 22.0)]
        batch = await connector._batch(changes)
        assert batch.value.tolist() == [10.0, 15.5, 22.0]

    run(scenario())
