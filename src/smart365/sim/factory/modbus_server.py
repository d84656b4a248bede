"""Modbus TCP server for the presses (pymodbus), with the register map as data for the connector to reuse.

One Modbus device id per press (``PRS-01`` → 1, ``PRS-02`` → 2), the same map on each. Addresses are
0-based protocol addresses (what goes on the wire). A value is ``raw × scale``; 32-bit values span two
registers, ``word_order="big"`` puts the high word first (ABCD), ``"little"`` the low word first (CDAB).

>>> spec = REGISTER_MAP[0]; (spec.table, spec.address, spec.tag, spec.dtype, spec.scale)
('holding', 0, 'tonnage', 'uint16', 0.1)
>>> encode(spec, 182.34)
[1823]
>>> decode(REGISTER_MAP[6], encode(REGISTER_MAP[6], 55.5))
55.5
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from smart365.sim.factory.physics import REASON_CODES, STATE_CODES, Reading, State

Table = Literal["holding", "input", "coil"]
WordOrder = Literal["big", "little"]
FUNCTION_CODE = {"coil": 1, "holding": 3, "input": 4}
HOLDING_SIZE, INPUT_SIZE = 32, 16
_DATATYPES = {
    "int16": ModbusClientMixin.DATATYPE.INT16,
    "uint16": ModbusClientMixin.DATATYPE.UINT16,
    "int32": ModbusClientMixin.DATATYPE.INT32,
    "uint32": ModbusClientMixin.DATATYPE.UINT32,
    "float32": ModbusClientMixin.DATATYPE.FLOAT32,
}


@dataclass(frozen=True)
class RegisterSpec:
    """Where and how one value is stored."""

    table: Table
    address: int
    tag: str
    dtype: str = "uint16"
    scale: float = 1.0
    unit: str = ""
    word_order: WordOrder = "big"

    @property
    def count(self) -> int:
        """Registers (or coils) used."""
        return 2 if self.dtype.endswith("32") else 1

    @property
    def tag_address(self) -> str:
        """The address a Smart365 tag gives to read this value (registry grammar, scale included).

        >>> REGISTER_MAP[0].tag_address, REGISTER_MAP[6].tag_address, REGISTER_MAP[10].tag_address
        ('holding:0:uint16:scale=0.1', 'holding:12:float32:word=little', 'coil:0:bool')
        """
        parts = [self.table, str(self.address), self.dtype]
        if self.count > 1 and self.word_order != "big":
            parts.append(f"word={self.word_order}")
        if self.scale != 1.0:
            parts.append(f"scale={self.scale:g}")
        return ":".join(parts)


#: The press register map (per device id).
REGISTER_MAP: tuple[RegisterSpec, ...] = (
    RegisterSpec("holding", 0, "tonnage", "uint16", 0.1, "t"),
    RegisterSpec("holding", 1, "stroke_rate", "uint16", 0.1, "spm"),
    RegisterSpec("holding", 2, "die_temp", "int16", 0.1, "°C"),
    RegisterSpec("holding", 3, "state", "uint16", 1.0, "", "big"),  # 0 idle, 1 run, 2 down
    RegisterSpec("holding", 4, "reason", "uint16", 1.0, "", "big"),  # see REASON_CODES
    RegisterSpec("holding", 10, "tonnage", "float32", 1.0, "t", "big"),
    RegisterSpec("holding", 12, "die_temp", "float32", 1.0, "°C", "little"),
    RegisterSpec("holding", 14, "stroke_count", "int32", 1.0, "ea", "big"),
    RegisterSpec("input", 0, "vibration", "float32", 1.0, "mm/s", "little"),
    RegisterSpec("input", 2, "stroke_rate", "float32", 1.0, "spm", "big"),
    RegisterSpec("coil", 0, "running", "bool"),
    RegisterSpec("coil", 1, "fault", "bool"),
)


def register_map() -> list[dict[str, Any]]:
    """The register map as plain dicts (for the connector, docs and JSON).

    >>> register_map()[5]["word_order"], register_map()[6]["word_order"]
    ('big', 'little')
    """
    return [{**asdict(spec), "count": spec.count, "tag_address": spec.tag_address} for spec in REGISTER_MAP]


def encode(spec: RegisterSpec, value: float) -> list[int]:
    """Registers for an engineering value (``round(value / scale)`` for integers)."""
    dtype = _DATATYPES[spec.dtype]
    raw: float | int = float(value) if spec.dtype == "float32" else round(value / spec.scale)
    registers = ModbusClientMixin.convert_to_registers(raw, dtype, word_order=spec.word_order)
    return [int(r) for r in registers] if isinstance(registers, list) else [int(registers)]


def decode(spec: RegisterSpec, registers: list[int]) -> float:
    """The engineering value from registers (what a connector does).

    >>> decode(REGISTER_MAP[2], [65535])
    -0.1
    """
    raw = ModbusClientMixin.convert_from_registers(registers, _DATATYPES[spec.dtype], word_order=spec.word_order)
    assert isinstance(raw, int | float)
    return round(float(raw) * spec.scale, 6) if spec.dtype != "float32" else float(raw)


def _values(reading: Reading) -> dict[str, float]:
    return {
        **reading.values,
        "state": STATE_CODES[reading.state],
        "reason": REASON_CODES[reading.reason],
        "running": float(reading.state is State.RUN),
        "fault": float(reading.state is State.DOWN),
    }


class PressModbusServer:
    """A pymodbus TCP server whose registers follow the presses' readings.

    >>> server = PressModbusServer(["PRS-01", "PRS-02"], port=0); server.device_ids
    {'PRS-01': 1, 'PRS-02': 2}
    """

    def __init__(self, presses: list[str], host: str = "127.0.0.1", port: int = 5020) -> None:
        self.device_ids = {name: i for i, name in enumerate(presses, start=1)}
        # device id → function code → current registers (coils packed 16 to a register)
        self.images: dict[int, dict[int, list[int]]] = {
            i: {1: [0], 3: [0] * HOLDING_SIZE, 4: [0] * INPUT_SIZE} for i in self.device_ids.values()
        }
        self.host, self.port = host, port
        self.server: ModbusTcpServer | None = None

    def _device(self, device_id: int) -> SimDevice:
        blocks = (
            [SimData(0, count=1, datatype=DataType.BITS)],
            [SimData(0, count=1, datatype=DataType.BITS)],
            [SimData(0, count=HOLDING_SIZE, datatype=DataType.REGISTERS)],
            [SimData(0, count=INPUT_SIZE, datatype=DataType.REGISTERS)],
        )
        return SimDevice(id=device_id, simdata=blocks, action=partial(self._on_request, device_id))

    async def _on_request(
        self,
        device_id: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        """Serve reads from the latest image (writes are accepted and overwritten at the next tick)."""
        image = self.images[device_id].get(function_code)
        if image is not None:
            registers[: len(image)] = image

    def update(self, readings: dict[str, Reading]) -> None:
        """Write the presses' current values into their register images."""
        for name, device_id in self.device_ids.items():
            if name not in readings:
                continue
            values = _values(readings[name])
            image = self.images[device_id]
            bits = [False] * 16
            for spec in REGISTER_MAP:
                if spec.table == "coil":
                    bits[spec.address] = bool(values[spec.tag])
                else:
                    table = image[FUNCTION_CODE[spec.table]]
                    table[spec.address : spec.address + spec.count] = encode(spec, values[spec.tag])
            image[1] = [int(r) for r in SimUtils.bitsToRegisters(bits)]

    async def start(self) -> None:
        """Listen in the background (returns once the port is open)."""
        devices = [self._device(i) for i in self.device_ids.values()]
        self.server = ModbusTcpServer(devices, address=(self.host, self.port))
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
