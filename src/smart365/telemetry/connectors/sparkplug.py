"""Sparkplug B host connector: births teach aliases, data resolved by alias, deaths and sequence gaps reported.

Subscribes to ``spBv1.0/<group>/#``. NBIRTH/DBIRTH record each metric's name, alias and data type;
NDATA/DDATA carry aliases only and are resolved through them. NDEATH/DDEATH become ``equipment_state``
events (``offline``), births ``online`` ones. A ``seq`` (0–255, wrapping) or ``bdSeq`` that does not follow
is counted, reported as an event and answered with an NCMD ``Node Control/Rebirth``. Data from a node or
device whose birth was never seen is dead-lettered (``no_birth``).

>>> expected_seq(255), expected_seq(7)
(0, 8)
>>> parse_topic("spBv1.0/smart365/DDATA/hanbit/IMM-01")
('DDATA', 'hanbit', 'IMM-01')
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiomqtt
from google.protobuf.message import DecodeError
from pydantic import Field

from smart365.telemetry import sparkplug_b as spb
from smart365.telemetry.batch import Batch
from smart365.telemetry.connectors.base import Connector, ConnectorConfig, TagPoint

REBIRTH_INTERVAL_S = 5.0


class SparkplugTag(TagPoint):
    """One metric: edge node, device (``None`` for a node-level metric) and metric name."""

    edge: str = Field(min_length=1)
    device: str | None = None
    metric: str = Field(min_length=1)


class SparkplugConfig(ConnectorConfig):
    """Broker, Sparkplug group and the metric → tag mapping."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = Field(min_length=1, max_length=64)
    username: str | None = None
    password: str | None = None
    group: str = Field(min_length=1, pattern=r"^[^/#+]+$")
    request_rebirth: bool = True
    tags: list[SparkplugTag] = Field(default_factory=list)


def expected_seq(last: int) -> int:
    """The ``seq`` that must follow ``last`` (wraps after 255)."""
    return (last + 1) % 256


def parse_topic(topic: str) -> tuple[str, str, str | None] | None:
    """(message type, edge node, device or None) of a Sparkplug topic; ``None`` for anything else."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != spb.NAMESPACE:
        return None
    return parts[2], parts[3], parts[4] if len(parts) == 5 else None


@dataclass
class EdgeState:
    """What the host knows about one edge node since its last birth."""

    bd_seq: int | None = None
    seq: int | None = None
    born: bool = False
    aliases: dict[tuple[str | None, int], tuple[str, int | None]] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)
    last_rebirth_request: float = 0.0


class SparkplugConnector(Connector[SparkplugConfig]):
    """A Sparkplug B host application for one group."""

    kind: ClassVar[str] = "sparkplug"
    config_model: ClassVar[type[ConnectorConfig]] = SparkplugConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.edges: dict[str, EdgeState] = {}
        self.seq_gaps = 0
        self.bd_seq_gaps = 0
        self.rebirths_requested = 0
        self._tags = {(t.edge, t.device, t.metric): t for t in self.config.tags}
        self._client: aiomqtt.Client | None = None

    def health(self) -> dict[str, Any]:
        """The base health plus sequence-gap and rebirth counters."""
        return {
            **super().health(),
            "seq_gaps": self.seq_gaps,
            "bd_seq_gaps": self.bd_seq_gaps,
            "rebirths_requested": self.rebirths_requested,
        }

    async def _run_once(self) -> None:
        cfg = self.config
        client = aiomqtt.Client(
            cfg.host, cfg.port, identifier=cfg.client_id, username=cfg.username, password=cfg.password
        )
        async with client:
            self._client = client
            try:
                await client.subscribe(f"{spb.NAMESPACE}/{cfg.group}/#", qos=0)
                self._connected()
                async for message in client.messages:
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    await self.handle(str(message.topic), payload)
            finally:
                self._client = None

    async def handle(self, topic: str, raw: bytes) -> None:
        """Process one Sparkplug message (never raises for a bad payload: it is dead-lettered)."""
        parsed = parse_topic(topic)
        if parsed is None or parsed[0] in ("NCMD", "DCMD"):
            return
        kind, edge, device = parsed
        try:
            payload = spb.decode(raw)
        except DecodeError as error:
            await self._dead_letter(topic, "malformed_payload", raw, str(error))
            return
        state = self.edges.setdefault(edge, EdgeState())
        if kind == "NDEATH":
            await self._ndeath(edge, state, payload)
            return
        if kind == "NBIRTH":
            await self._nbirth(edge, state, payload)
        else:
            await self._check_seq(topic, edge, state, payload)
        await self._dispatch(kind, topic, edge, device, state, payload, raw)

    async def _dispatch(
        self, kind: str, topic: str, edge: str, device: str | None, state: EdgeState, payload: Any, raw: bytes
    ) -> None:
        if kind == "NBIRTH":
            await self._emit_metrics(edge, None, state, payload)
        elif kind == "DBIRTH" and device is not None:
            await self._dbirth(edge, device, state, payload)
        elif kind == "DDEATH" and device is not None:
            state.devices.discard(device)
            await self._event("equipment_state", f"{edge}/{device}", edge=edge, device=device, state="offline")
        elif kind in ("NDATA", "DDATA"):
            if not state.born or (device is not None and device not in state.devices):
                await self._dead_letter(topic, "no_birth", raw, f"{edge}/{device or ''}")
                await self._request_rebirth(edge, state)
                return
            await self._emit_metrics(edge, device, state, payload, topic=topic, raw=raw)

    async def _nbirth(self, edge: str, state: EdgeState, payload: Any) -> None:
        bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == spb.BD_SEQ), None)
        previous = state.bd_seq
        if previous is not None and bd_seq is not None and bd_seq not in (previous, expected_seq(previous)):
            self.bd_seq_gaps += 1
            await self._event("bd_seq_gap", edge, edge=edge, expected=expected_seq(previous), received=bd_seq)
        state.bd_seq, state.seq, state.born = bd_seq, int(payload.seq), True
        state.aliases = {k: v for k, v in state.aliases.items() if k[0] is not None}
        self._learn(state, None, payload)
        await self._event("equipment_state", edge, edge=edge, device=None, state="online")

    async def _dbirth(self, edge: str, device: str, state: EdgeState, payload: Any) -> None:
        if not state.born:
            await self._dead_letter(f"{edge}/{device}", "no_birth", payload.SerializeToString(), "DBIRTH before NBIRTH")
            await self._request_rebirth(edge, state)
            return
        state.devices.add(device)
        state.aliases = {k: v for k, v in state.aliases.items() if k[0] != device}
        self._learn(state, device, payload)
        await self._event("equipment_state", f"{edge}/{device}", edge=edge, device=device, state="online")
        await self._emit_metrics(edge, device, state, payload)

    async def _ndeath(self, edge: str, state: EdgeState, payload: Any) -> None:
        bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == spb.BD_SEQ), None)
        if state.bd_seq is not None and bd_seq is not None and bd_seq != state.bd_seq:
            return  # the Will of an older session: this node has been reborn since
        for device in sorted(state.devices):
            await self._event("equipment_state", f"{edge}/{device}", edge=edge, device=device, state="offline")
        state.devices.clear()
        state.born, state.seq = False, None
        await self._event("equipment_state", edge, edge=edge, device=None, state="offline")

    async def _check_seq(self, topic: str, edge: str, state: EdgeState, payload: Any) -> bool:
        if not payload.HasField("seq") or state.seq is None:
            return True
        received, expected = int(payload.seq), expected_seq(state.seq)
        state.seq = received
        if received == expected:
            return True
        self.seq_gaps += 1
        await self._event("seq_gap", topic, edge=edge, expected=expected, received=received)
        await self._request_rebirth(edge, state)
        return False

    def _learn(self, state: EdgeState, device: str | None, payload: Any) -> None:
        for metric in payload.metrics:
            if metric.HasField("alias"):
                dtype = int(metric.datatype) if metric.HasField("datatype") else None
                state.aliases[(device, int(metric.alias))] = (metric.name, dtype)

    async def _emit_metrics(
        self, edge: str, device: str | None, state: EdgeState, payload: Any, topic: str = "", raw: bytes = b""
    ) -> None:
        ids: list[int] = []
        ts: list[int] = []
        values: list[float] = []
        for metric in payload.metrics:
            resolved = self._resolve(device, state, metric)
            if resolved is None:
                await self._dead_letter(topic or edge, "unknown_alias", raw, f"alias {metric.alias}")
                continue
            name, dtype = resolved
            tag = self._tags.get((edge, device, name))
            if tag is None:
                continue
            value = spb.metric_value(metric, spb.DataType(dtype) if dtype is not None else None)
            if isinstance(value, str | bytes) or value is None:
                await self._dead_letter(topic or edge, "not_numeric", raw, f"{name}={value!r}")
                continue
            ids.append(tag.tag_id)
            ts.append(int(metric.timestamp or payload.timestamp or time.time_ns() // 1_000_000) * 1000)
            values.append(float(value) * tag.scale + tag.offset)
        if ids:
            await self._emit(Batch.from_columns(ids, ts, values))

    def _resolve(self, device: str | None, state: EdgeState, metric: Any) -> tuple[str, int | None] | None:
        if metric.name:
            dtype = int(metric.datatype) if metric.HasField("datatype") else None
            known = state.aliases.get((device, int(metric.alias))) if metric.HasField("alias") else None
            return metric.name, dtype if dtype is not None else (known[1] if known else None)
        if metric.HasField("alias"):
            return state.aliases.get((device, int(metric.alias)))
        return None

    async def _request_rebirth(self, edge: str, state: EdgeState) -> None:
        now = time.monotonic()
        if not self.config.request_rebirth or self._client is None:
            return
        if now - state.last_rebirth_request < REBIRTH_INTERVAL_S:
            return
        state.last_rebirth_request = now
        payload = spb.Payload(timestamp=int(time.time() * 1000))
        spb.set_metric_value(payload.metrics.add(name=spb.REBIRTH), spb.DataType.Boolean, True)
        await self._client.publish(spb.topic(self.config.group, "NCMD", edge), payload.SerializeToString(), qos=0)
        self.rebirths_requested += 1
        await self._event("rebirth_requested", edge, edge=edge)
