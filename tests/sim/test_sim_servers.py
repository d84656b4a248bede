"""Real protocol clients against the simulator's OPC UA and Modbus TCP servers."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient

from smart365.sim.factory.modbus_server import REGISTER_MAP, PressModbusServer, decode
from smart365.sim.factory.opcua_server import NAMESPACE_URI, PlantOpcUaServer
from smart365.sim.factory.physics import TAGS, Plant, State
from smart365.sim.factory.runner import free_port

GUARD_S = 20  # a hang guard, not a timing assertion


class _Changes:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.queue.put_nowait((node, value))


def _cnc_server(plant: Plant) -> PlantOpcUaServer:
    cnc = {m.name: (m.line, TAGS[m.kind]) for m in plant.machines.values() if m.kind == "cnc"}
    return PlantOpcUaServer(cnc, port=free_port(), users={"operator": "s3cret"})


async def _browse_and_subscribe(server: PlantOpcUaServer, plant: Plant) -> None:
    async with Client(server.endpoint) as client:
        ns = await client.get_namespace_index(NAMESPACE_URI)
        plant_node = await client.nodes.objects.get_child([f"{ns}:Plant"])
        lines = {(await n.read_browse_name()).Name for n in await plant_node.get_children()}
        assert lines == {"가공라인"}
        mct = await plant_node.get_child([f"{ns}:가공라인", f"{ns}:MCT-02"])
        names = {(await n.read_browse_name()).Name for n in await mct.get_children()}
        assert {"SpindleLoad", "SpindleTemp", "SpindleSpeed", "CycleTime", "PartCount", "State"} <= names
        load = client.get_node(f"ns={ns};s=Plant/가공라인/MCT-02/SpindleLoad")
        units = await (await load.get_child("0:EngineeringUnits")).read_value()
        assert units.DisplayName.Text == "%"
        handler = _Changes()
        subscription = await client.create_subscription(50, handler)
        await subscription.subscribe_data_change(load)
        first = await asyncio.wait_for(handler.queue.get(), GUARD_S)  # the initial value
        await server.update(plant.advance(30))
        node, value = await asyncio.wait_for(handler.queue.get(), GUARD_S)
        assert node == load and value != first[1]
        assert value == plant.readings()["MCT-02"].values["spindle_load"]
        state = client.get_node(f"ns={ns};s=Plant/가공라인/MCT-02/State")
        assert await state.read_value() in {s.value for s in State}


async def _login(server: PlantOpcUaServer, user: str, password: str) -> bool:
    client = Client(server.endpoint)
    client.set_user(user)
    client.set_password(password)
    try:
        async with client:
            return True
    except ua.UaError:
        return False


def test_opcua_client_browses_the_plant_and_gets_data_changes() -> None:
    async def scenario() -> None:
        plant = Plant.showcase(seed=1)
        server = _cnc_server(plant)
        await server.start()
        try:
            await server.update(plant.readings())
            await _browse_and_subscribe(server, plant)
            assert await _login(server, "operator", "s3cret")
            assert not await _login(server, "operator", "wrong")
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_modbus_client_reads_scaled_and_float32_registers_in_both_word_orders() -> None:
    async def scenario() -> None:
        plant = Plant.showcase(seed=6)
        server = PressModbusServer(["PRS-01", "PRS-02"], port=free_port())
        await server.start()
        client = AsyncModbusTcpClient("127.0.0.1", port=server.port)
        try:
            server.update(plant.advance(600))
            truth = plant.readings()["PRS-02"]
            await client.connect()
            holding = (await client.read_holding_registers(0, count=16, device_id=2)).registers
            inputs = (await client.read_input_registers(0, count=4, device_id=2)).registers
            coils = (await client.read_coils(0, count=2, device_id=2)).bits[:2]
        finally:
            client.close()
            await server.stop()
        by_key = {(s.table, s.address): s for s in REGISTER_MAP}
        tonnage_big = decode(by_key[("holding", 10)], holding[10:12])
        die_little = decode(by_key[("holding", 12)], holding[12:14])
        assert abs(tonnage_big - truth.values["tonnage"]) < 1e-3
        assert abs(die_little - truth.values["die_temp"]) < 1e-4
        wrong_order = decode(by_key[("holding", 10)], holding[12:14][::-1])
        assert abs(wrong_order - truth.values["die_temp"]) < 1e-4, "CDAB is ABCD with the words swapped"
        assert decode(by_key[("holding", 0)], holding[0:1]) == round(truth.values["tonnage"], 1)
        assert decode(by_key[("holding", 14)], holding[14:16]) == truth.values["stroke_count"] > 0
        assert abs(decode(by_key[("input", 0)], inputs[0:2]) - truth.values["vibration"]) < 1e-4
        assert coils == [truth.state is State.RUN, truth.state is State.DOWN]

    asyncio.run(scenario())
