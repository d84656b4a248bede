"""Modbus connector against the simulator's press server: values decode to the physics values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smart365.sim.factory.modbus_server import REGISTER_MAP, PressModbusServer
from smart365.sim.factory.physics import Plant
from smart365.sim.factory.runner import free_port
from smart365.telemetry.connectors.modbus import ModbusConnector, plan_reads
from smart365.telemetry.sources import SourceRow, connector_configs
from tests.telemetry.connector_helpers import Recorder, run, wait_until


def _tags() -> list[dict[str, object]]:
    """The simulator's register map as a connector tag map (tag id = position in the map + 1)."""
    tags: list[dict[str, object]] = []
    for i, spec in enumerate(REGISTER_MAP, start=1):
        dtype = "bool" if spec.dtype == "bool" else spec.dtype
        scale = spec.scale if dtype != "float32" else 1.0
        tags.append(
            {
                "tag_id": i,
                "table": spec.table,
                "address": spec.address,
                "dtype": dtype,
                "word_order": spec.word_order,
                "scale": scale,
            }
        )
    return tags


def test_register_map_is_read_in_one_request_per_contiguous_block() -> None:
    config = ModbusConnector({"host": "127.0.0.1", "tags": _tags()}, Recorder().emit).config
    blocks = [(r.table, r.address, r.count) for r in plan_reads(config.tags)]
    assert blocks == [("holding", 0, 5), ("holding", 10, 6), ("input", 0, 4), ("coil", 0, 2)]


def test_press_registers_decode_to_the_simulated_values() -> None:
    plant = Plant.showcase(seed=7, start=datetime(2026, 1, 5, 8, tzinfo=UTC))
    readings = plant.advance(120)
    press = readings["PRS-01"]

    async def scenario() -> None:
        port = free_port()
        server = PressModbusServer(["PRS-01", "PRS-02"], port=port)
        server.update(readings)
        await server.start()
        recorder = Recorder()
        connector = ModbusConnector(
            {"host": "127.0.0.1", "port": port, "device_id": 1, "interval_s": 0.2, "tags": _tags()}, recorder.emit
        )
        await connector.start()
        try:
            await wait_until(lambda: recorder.points() >= len(REGISTER_MAP), what="a full poll")
        finally:
            await connector.stop()
            await server.stop()
        got = recorder.latest()
        values = {
            **press.values,
            "running": float(press.state.value == "run"),
            "fault": float(press.state.value == "down"),
        }
        for i, spec in enumerate(REGISTER_MAP, start=1):
            if spec.tag in ("state", "reason"):
                continue
            tolerance = spec.scale if spec.dtype != "float32" else 1e-3 * max(1.0, abs(values[spec.tag]))
            assert got[i] == pytest.approx(values[spec.tag], abs=tolerance), spec
        assert connector.health()["state"] == "stopped"

    run(scenario())


def test_float32_word_order_matters() -> None:
    plant = Plant.showcase(seed=7, start=datetime(2026, 1, 5, 8, tzinfo=UTC))
    readings = plant.advance(60)
    die_temp = readings["PRS-01"].values["die_temp"]
    little = {"tag_id": 1, "address": 12, "dtype": "float32", "word_order": "little"}
    swapped = {**little, "tag_id": 2, "word_order": "big"}

    async def scenario() -> None:
        port = free_port()
        server = PressModbusServer(["PRS-01"], port=port)
        server.update(readings)
        await server.start()
        recorder = Recorder()
        connector = ModbusConnector({"host": "127.0.0.1", "port": port, "tags": [little, swapped]}, recorder.emit)
        await connector.start()
        try:
            await wait_until(lambda: recorder.points() >= 2, what="one poll")
        finally:
            await connector.stop()
            await server.stop()
        got = recorder.latest()
        assert got[1] == pytest.approx(die_temp, rel=1e-5)
        assert got[2] != pytest.approx(die_temp, rel=1e-2)

    run(scenario())


def test_unreachable_device_backs_off_and_counts_errors() -> None:
    async def scenario() -> None:
        config = {
            "host": "127.0.0.1",
            "port": free_port(),
            "backoff_initial_s": 0.05,
            "timeout_s": 0.5,
            "tags": [{"tag_id": 1, "address": 0}],
        }
        connector = ModbusConnector(config, Recorder().emit)
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["errors"] >= 2, what="two failed attempts")
            assert connector.health()["state"] in ("backoff", "connecting")
            assert connector.health()["points"] == 0
        finally:
            await connector.stop()

    run(scenario())


def test_the_registry_addresses_of_the_register_map_store_engineering_units() -> None:
    """What the registry can say now: ``holding:0:uint16:scale=0.1`` stores 174.1 t, not the register's 1741."""
    plant = Plant.showcase(seed=7, start=datetime(2026, 1, 5, 8, tzinfo=UTC))
    readings = plant.advance(120)
    press = readings["PRS-01"]
    port = free_port()
    rows = [
        SourceRow("modbus", f"modbus://127.0.0.1:{port}/1", i, spec.tag_address)
        for i, spec in enumerate(REGISTER_MAP, start=1)
    ]
    (spec,), problems = connector_configs(rows)
    assert problems == []

    async def scenario() -> None:
        server = PressModbusServer(["PRS-01"], port=port)
        server.update(readings)
        await server.start()
        recorder = Recorder()
        connector = ModbusConnector({**spec.config, "interval_s": 0.2}, recorder.emit)
        await connector.start()
        try:
            await wait_until(lambda: len(recorder.latest()) == len(REGISTER_MAP), what="a full poll")
        finally:
            await connector.stop()
            await server.stop()
        got = recorder.latest()
        assert got[1] == pytest.approx(round(press.values["tonnage"], 1), abs=1e-9)  # holding:0:uint16:scale=0.1
        assert got[7] == pytest.approx(press.values["die_temp"], abs=1e-3)  # holding:12:float32:word=little

    run(scenario())
