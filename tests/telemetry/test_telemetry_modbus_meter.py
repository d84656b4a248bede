"""Modbus through the registry's address grammar against a power meter's register map, served by pymodbus's own
datastore server (not the simulator): word-swapped floats, 64-bit energy counters, scaled integers, byte swap.

The map is styled after common three-phase meters: float32 measurements in input registers the way Eastron
SDM-series meters lay them out (L1 voltage at 30001 → address 0, L1 current at 30007 → 6, frequency at 30071
→ 70), an int64 active-energy counter in Wh at 3204 → 3203 as Schneider PM5000-series meters keep it, and the
scaled and word-swapped forms other vendors use (integer × 0.1 with the low word first, CDAB floats, BADC
byte-swapped registers). The registers are packed here with :mod:`struct`, independently of pymodbus's
conversion helpers that the connector uses.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from smart365.sim.factory.runner import free_port
from smart365.telemetry.connectors.modbus import ModbusConnector
from smart365.telemetry.sources import SourceRow, check_source, connector_configs
from tests.telemetry.connector_helpers import Recorder, run, wait_until


def _words(fmt: str, value: float | int) -> list[int]:
    raw = struct.pack(f">{fmt}", value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _cdab(words: list[int]) -> list[int]:
    return list(reversed(words))


def _badc(words: list[int]) -> list[int]:
    return [((w & 0xFF) << 8) | (w >> 8) for w in words]


# tag id → (registry address, how the meter stores it, the engineering value expected)
METER: dict[int, tuple[str, str, float]] = {
    1: ("input:0:float32", "L1 voltage, float32 ABCD", 229.87),
    2: ("input:6:float32", "L1 current, float32 ABCD", 12.5),
    3: ("input:70:float32", "frequency, float32 ABCD", 59.98),
    4: ("holding:3203:int64:scale=0.001", "active energy delivered, int64 Wh → kWh", 12_345_678.901),
    5: ("holding:100:float32:word=little", "power factor, float32 CDAB", 0.97),
    6: ("holding:110:uint16:scale=0.1", "press tonnage, uint16 × 0.1", 174.1),
    7: ("holding:111:int16:scale=0.1:offset=-40", "temperature, int16 × 0.1 − 40", 25.5),
    8: ("holding:120:float32:byte=swap", "reactive power, float32 BADC", -312.25),
    9: ("holding:130:float64:word=little:byte=little", "apparent energy, float64 DCBA", 98_765.4321),
    10: ("holding:140:int32:word=little:scale=0.1", "active power, int32 LSW first × 0.1", -1234.5),
    11: ("holding:150:uint64", "operating seconds, uint64 ABCD", 2**40 + 7),
    12: ("discrete:0", "relay 1 closed (discrete input)", 1.0),
    13: ("discrete:1", "relay 2 closed (discrete input)", 0.0),
    14: ("coil:0:bool", "alarm output (coil)", 1.0),
}


def _images() -> tuple[dict[int, int], dict[int, int], dict[int, bool], dict[int, bool]]:
    inputs: dict[int, int] = {}
    holding: dict[int, int] = {}

    def put(table: dict[int, int], address: int, words: list[int]) -> None:
        table.update({address + i: w for i, w in enumerate(words)})

    put(inputs, 0, _words("f", 229.87))
    put(inputs, 6, _words("f", 12.5))
    put(inputs, 70, _words("f", 59.98))
    put(holding, 3203, _words("q", 12_345_678_901))
    put(holding, 100, _cdab(_words("f", 0.97)))
    put(holding, 110, [1741])
    put(holding, 111, _words("h", 655))  # 65.5 - 40
    put(holding, 120, _badc(_words("f", -312.25)))
    put(holding, 130, _badc(_cdab(_words("d", 98_765.4321))))
    put(holding, 140, _cdab(_words("i", -12345)))
    put(holding, 150, _words("Q", 2**40 + 7))
    return inputs, holding, {0: True, 1: False}, {0: True}


def _block(values: dict[int, Any], size: int, fill: Any) -> ModbusSequentialDataBlock:
    data = [fill] * size
    for address, value in values.items():
        data[address] = value
    return ModbusSequentialDataBlock(1, data)  # this pymodbus block counts from 1: protocol address 0 is its 1


def _server(port: int) -> ModbusTcpServer:
    inputs, holding, discrete, coils = _images()
    device = ModbusDeviceContext(
        ir=_block(inputs, 200, 0),
        hr=_block(holding, 3300, 0),
        di=_block(discrete, 16, False),
        co=_block(coils, 16, False),
    )
    return ModbusTcpServer(ModbusServerContext(devices={1: device}, single=False), address=("127.0.0.1", port))


def test_a_power_meter_map_decodes_to_engineering_values_through_registry_addresses() -> None:
    port = free_port()
    endpoint = f"modbus://127.0.0.1:{port}/1"
    rows = [SourceRow("modbus", endpoint, tag_id, address) for tag_id, (address, _, _) in METER.items()]
    (spec,), problems = connector_configs(rows)
    assert problems == []

    async def scenario() -> dict[int, float]:
        server = _server(port)
        await server.serve_forever(background=True)
        recorder = Recorder()
        connector = ModbusConnector({**spec.config, "interval_s": 0.2}, recorder.emit)
        await connector.start()
        try:
            await wait_until(lambda: len(recorder.latest()) == len(METER), what="a full poll of the meter")
        finally:
            await connector.stop()
            await server.shutdown()
        return recorder.latest()

    got: dict[int, float] = {}

    async def keep() -> None:
        got.update(await scenario())

    run(keep())
    for tag_id, (address, what, expected) in METER.items():
        assert got[tag_id] == pytest.approx(expected, rel=1e-6, abs=1e-6), (address, what, got[tag_id])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("holding:10:float32:gain=2", "is unknown: use word, byte, scale or offset"),
        ("holding:10:float32:scale=0.1:scale=1", "is given twice"),
        ("holding:10:float32:word=middle", "big or little (swap), not 'middle'"),
        ("holding:10:uint16:scale=nan", "finite number, not 'nan'"),
        ("holding:10:uint16:offset=ten", "finite number, not 'ten'"),
        ("holding:10:scale=0.1:uint16", "table:address[:type]"),  # options come after the type
        ("discrete:3:float32", "holds one bit"),
        ("holding:65534:int64", "runs past the last register"),
        ("register:10", "table"),
    ],
)
def test_unreadable_modbus_options_are_refused_with_the_reason(address: str, reason: str) -> None:
    problem = check_source("modbus", "modbus://plc:502/1", address)
    assert problem is not None
    english = problem.message.format(**problem.params)
    assert reason in english, english


def test_bare_word_order_still_reads_and_options_combine_with_it() -> None:
    (spec,), problems = connector_configs(
        [SourceRow("modbus", "modbus://plc:502/1", 1, "holding:12:float32:little:byte=swap:offset=1.5")]
    )
    assert problems == []
    assert spec.config["tags"] == [
        {
            "tag_id": 1,
            "table": "holding",
            "address": 12,
            "dtype": "float32",
            "word_order": "little",
            "byte_order": "little",
            "offset": 1.5,
        }
    ]
