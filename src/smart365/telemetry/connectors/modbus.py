"""Modbus TCP connector (pymodbus): polls a register map at an interval, contiguous registers read together.

Each tag names a table (``holding`` FC 3, ``input`` FC 4, ``coil`` FC 1, ``discrete`` FC 2), a 0-based
address, a data type (``int16``, ``uint16``, ``int32``, ``uint32``, ``float32``, ``int64``, ``uint64``,
``float64``, ``bool``), the word order of multi-register values (``big``: high word first, ABCD; ``little``:
low word first, CDAB) and the byte order within each register (``big``: high byte first, as the Modbus
standard says; ``little``: bytes swapped, BADC), then ``value = raw * scale + offset``. Tags of one table whose
registers touch or overlap are read with one request.

>>> tags = [{"tag_id": 1, "address": 0}, {"tag_id": 2, "address": 1}, {"tag_id": 3, "address": 10, "dtype": "float32"}]
>>> cfg = ModbusConfig(host="127.0.0.1", tags=tags)
>>> [(r.table, r.address, r.count) for r in plan_reads(cfg.tags)]
[('holding', 0, 2), ('holding', 10, 2)]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.client.mixin import ModbusClientMixin

from smart365.telemetry.batch import Batch
from smart365.telemetry.connectors.base import Connector, ConnectorConfig, TagPoint

Table = Literal["holding", "input", "coil", "discrete"]
DType = Literal["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64", "bool"]
Order = Literal["big", "little"]
TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
BIT_TABLES = frozenset({"coil", "discrete"})
_DATATYPES = {
    "int16": ModbusClientMixin.DATATYPE.INT16,
    "uint16": ModbusClientMixin.DATATYPE.UINT16,
    "int32": ModbusClientMixin.DATATYPE.INT32,
    "uint32": ModbusClientMixin.DATATYPE.UINT32,
    "float32": ModbusClientMixin.DATATYPE.FLOAT32,
    "int64": ModbusClientMixin.DATATYPE.INT64,
    "uint64": ModbusClientMixin.DATATYPE.UINT64,
    "float64": ModbusClientMixin.DATATYPE.FLOAT64,
}
_WIDTH = {"int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4, "float64": 4}
_MAX_COUNT = {"holding": 125, "input": 125, "coil": 2000, "discrete": 2000}


class ModbusTag(TagPoint):
    """Where one value lives in the device and how its registers read."""

    table: Table = "holding"
    address: int = Field(ge=0, le=65535)
    dtype: DType = "uint16"
    word_order: Order = "big"
    byte_order: Order = "big"

    @model_validator(mode="after")
    def _fits(self) -> ModbusTag:
        if self.table in BIT_TABLES and self.dtype not in ("bool", "uint16"):
            raise ValueError(f"a {self.table} holds one bit: its type is bool, not {self.dtype}")
        if self.address + self.count > 65536:
            raise ValueError(f"{self.dtype} at {self.address} runs past the last register 65535")
        return self

    @property
    def count(self) -> int:
        """Registers (or coils) the value spans."""
        return 1 if self.table in BIT_TABLES else _WIDTH.get(self.dtype, 1)


class ModbusConfig(ConnectorConfig):
    """A Modbus TCP device and its register map."""

    host: str
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=255)
    interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=3.0, gt=0)
    tags: list[ModbusTag] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Read:
    """One request: a block of one table and the tags decoded from it."""

    table: Table
    address: int
    count: int
    tags: tuple[ModbusTag, ...]


def plan_reads(tags: Sequence[ModbusTag]) -> list[Read]:
    """Group tags into as few requests as possible: per table, registers that touch or overlap share one.

    >>> t = [ModbusTag(tag_id=1, table="coil", address=0, dtype="bool"), ModbusTag(tag_id=2, table="coil", address=1)]
    >>> [(r.table, r.count, len(r.tags)) for r in plan_reads(t)]
    [('coil', 2, 2)]
    """
    reads: list[Read] = []
    for table in TABLES:
        group: list[ModbusTag] = []
        for tag in sorted((t for t in tags if t.table == table), key=lambda t: t.address):
            end = max((g.address + g.count for g in group), default=-1)
            if group and tag.address <= end and tag.address + tag.count - group[0].address <= _MAX_COUNT[table]:
                group.append(tag)
                continue
            if group:
                reads.append(_read(table, group))
            group = [tag]
        if group:
            reads.append(_read(table, group))
    return reads


def _read(table: Table, group: list[ModbusTag]) -> Read:
    start = group[0].address
    end = max(t.address + t.count for t in group)
    return Read(table, start, end - start, tuple(group))


def swap_bytes(word: int) -> int:
    """A register with its two bytes exchanged (devices that send the low byte first).

    >>> hex(swap_bytes(0x4248))
    '0x4842'
    """
    return ((word & 0xFF) << 8) | ((word >> 8) & 0xFF)


def decode_value(tag: ModbusTag, words: Sequence[int] | Sequence[bool]) -> float:
    """The raw value of ``tag`` from its registers (or coil), before scale and offset.

    >>> decode_value(ModbusTag(tag_id=1, address=0, dtype="int16"), [65535])
    -1.0
    >>> decode_value(ModbusTag(tag_id=1, address=0, dtype="float32", word_order="little"), [0, 16968])
    50.0
    >>> decode_value(ModbusTag(tag_id=1, address=0, dtype="float32", byte_order="little"), [0x4842, 0])
    50.0
    >>> decode_value(ModbusTag(tag_id=1, address=0, dtype="uint64", word_order="little"), [1, 0, 0, 1])
    281474976710657.0
    """
    if tag.dtype == "bool" or tag.table in BIT_TABLES:
        return float(bool(words[0]))
    registers = [int(w) for w in words]
    if tag.byte_order == "little":
        registers = [swap_bytes(w) for w in registers]
    raw = ModbusClientMixin.convert_from_registers(registers, _DATATYPES[tag.dtype], word_order=tag.word_order)
    assert isinstance(raw, int | float)
    return float(raw)


class ModbusConnector(Connector[ModbusConfig]):
    """Polls one Modbus TCP device every ``interval_s`` seconds and emits one batch per poll."""

    kind: ClassVar[str] = "modbus"
    config_model: ClassVar[type[ConnectorConfig]] = ModbusConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = plan_reads(self.config.tags)

    async def _run_once(self) -> None:
        cfg = self.config
        client = AsyncModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0, reconnect_delay=0)
        try:
            if not await client.connect():
                raise ConnectionError(f"cannot connect to {cfg.host}:{cfg.port}")
            self._connected()
            while True:
                await self._emit(await self.poll(client))
                await asyncio.sleep(cfg.interval_s)
        finally:
            client.close()

    async def poll(self, client: AsyncModbusTcpClient) -> Batch:
        """Read every block once and decode the tags (engineering units: ``raw * scale + offset``)."""
        ts = time.time_ns() // 1000
        ids: list[int] = []
        values: list[float] = []
        for read in self.reads:
            words = await self._request(client, read)
            for tag in read.tags:
                at = tag.address - read.address
                ids.append(tag.tag_id)
                values.append(decode_value(tag, words[at : at + tag.count]) * tag.scale + tag.offset)
        return Batch.from_columns(np.asarray(ids, np.int64), np.full(len(ids), ts, np.int64), values)

    async def _request(self, client: AsyncModbusTcpClient, read: Read) -> list[int] | list[bool]:
        device = self.config.device_id
        if read.table == "coil":
            response = await client.read_coils(read.address, count=read.count, device_id=device)
        elif read.table == "discrete":
            response = await client.read_discrete_inputs(read.address, count=read.count, device_id=device)
        elif read.table == "input":
            response = await client.read_input_registers(read.address, count=read.count, device_id=device)
        else:
            response = await client.read_holding_registers(read.address, count=read.count, device_id=device)
        if response.isError():
            raise ConnectionError(f"{read.table} {read.address}+{read.count}: {response}")
        return list(response.bits[: read.count]) if read.table in BIT_TABLES else list(response.registers)
