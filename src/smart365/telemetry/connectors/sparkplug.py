"""Sparkplug B 3.0 host application: STATE births and deaths, births teach aliases, data resolved by alias,
deaths mark nodes and devices stale, sequence gaps answered with a rebirth request.

With a ``host_id`` the connector is a *primary host application* (Sparkplug 3.0 §4.2.3 and §5.3): it connects
with a clean session and an MQTT Will on ``spBv1.0/STATE/<host_id>`` (QoS 1, retained,
``{"online": false, "timestamp": <connect ms>}``), subscribes to ``spBv1.0/<group>/#`` and to its own STATE
topic, then publishes ``{"online": true, "timestamp": <the same ms>}`` there (QoS 1, retained). Edge nodes
configured with that primary host publish their births only after it. On a clean stop it publishes
``{"online": false, "timestamp": <now>}`` before disconnecting; if it is ever handed an offline STATE for
its own id while connected, it publishes its online STATE again. Several connectors of one installation
(one per broker and group) share the host id and keep each other's STATE online that way.

NBIRTH/DBIRTH record each metric's name, alias and data type and mark the node or device online;
NDATA/DDATA carry aliases only and are resolved through them. NDEATH (whose bdSeq matches the last NBIRTH;
an older session's Will is ignored) marks the node and its devices offline, DDEATH one device; losing the
broker marks every node unknown (its data can no longer be trusted to be current). All of it is in
:meth:`SparkplugConnector.health` (``nodes``) for the live page and ``/metrics``, and reported as
``equipment_state`` events. A ``seq`` (0–255, wrapping) that does not follow, a ``bdSeq`` that skips, and
data from a node or device whose birth was never seen (dead-lettered ``no_birth``) are answered with an NCMD
``Node Control/Rebirth`` = true (QoS 0, at most one per node every few seconds): the reorder timeout is zero,
which suits one broker that keeps each client's order, as Mosquitto does.

>>> expected_seq(255), expected_seq(7)
(0, 8)
>>> parse_topic("spBv1.0/smart365/DDATA/hanbit/IMM-01")
('DDATA', 'hanbit', 'IMM-01')
>>> state_payload(True, 1700000000000)
b'{"online": true, "timestamp": 1700000000000}'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiomqtt
from google.protobuf.message import DecodeError
from pydantic import Field

from smart365.telemetry import sparkplug_b as spb
from smart365.telemetry.batch import Batch
from smart365.telemetry.connectors.base import Connector, ConnectorConfig, TagPoint, validate_config

log = logging.getLogger(__name__)

REBIRTH_INTERVAL_S = 5.0
STATE_PUBLISH_TIMEOUT_S = 3.0


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
    #: The Sparkplug host id this connector announces as primary host application (``None``: it only listens).
    host_id: str | None = Field(default=None, min_length=1, pattern=r"^[^/#+]+$")
    request_rebirth: bool = True
    tags: list[SparkplugTag] = Field(default_factory=list)


def expected_seq(last: int) -> int:
    """The ``seq`` that must follow ``last`` (wraps after 255)."""
    return (last + 1) % 256


def state_topic(host_id: str) -> str:
    """The host application's STATE topic (Sparkplug 3.0: in the namespace, no group).

    >>> state_topic("smart365")
    'spBv1.0/STATE/smart365'
    """
    return f"{spb.NAMESPACE}/STATE/{host_id}"


def state_payload(online: bool, timestamp_ms: int) -> bytes:
    """A STATE birth or death: UTF-8 JSON with ``online`` and ``timestamp`` (ms since the epoch, UTC)."""
    return json.dumps({"online": online, "timestamp": timestamp_ms}).encode()


def parse_topic(topic: str) -> tuple[str, str, str | None] | None:
    """(message type, edge node, device or None) of a Sparkplug topic; ``None`` for anything else."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != spb.NAMESPACE:
        return None
    return parts[2], parts[3], parts[4] if len(parts) == 5 else None


@dataclass
class Presence:
    """Whether a node or device is online, since when and why (``NBIRTH``, ``NDEATH``, ``connection lost``…)."""

    online: bool | None
    reason: str
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class EdgeState:
    """What the host knows about one edge node since its last birth."""

    bd_seq: int | None = None
    seq: int | None = None
    born: bool = False
    aliases: dict[tuple[str | None, int], tuple[str, int | None]] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)
    last_rebirth_request: float = 0.0
    #: device (``None``: the node itself) → its presence as the host last saw it
    presence: dict[str | None, Presence] = field(default_factory=dict)

    def mark(self, device: str | None, online: bool | None, reason: str) -> None:
        """Record that the node (``device=None``) or a device went online, offline or unknown."""
        self.presence[device] = Presence(online, reason)


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
        self._state_ts: int | None = None  # the timestamp of this session's STATE (Will and birth)
        self.host_online = False  # this session's online STATE is published

    def retag(self, config: Mapping[str, Any]) -> bool:
        """A new tag map on the same broker, group and host id is taken at once, without a new MQTT session: a
        restart would publish the host's offline STATE, and every edge waiting for it would reconnect.

        >>> c = SparkplugConnector({"client_id": "c", "group": "g", "tags": []}, emit=None)
        >>> c.retag({"client_id": "c", "group": "g", "tags": [{"tag_id": 1, "edge": "e", "metric": "m"}]}), len(c._tags)
        (True, 1)
        >>> c.retag({"client_id": "c", "group": "other", "tags": []})
        False
        """
        new = validate_config(SparkplugConfig, config)
        if new.model_copy(update={"tags": []}) != self.config.model_copy(update={"tags": []}):
            return False
        self.config = new
        self._tags = {(t.edge, t.device, t.metric): t for t in new.tags}
        return True

    def health(self) -> dict[str, Any]:
        """The base health plus the primary host's STATE, every node's and device's presence, and the
        sequence-gap and rebirth counters."""
        nodes = [
            {"edge": edge, "device": device, "online": p.online, "reason": p.reason, "since": p.since}
            for edge, state in sorted(self.edges.items())
            for device, p in sorted(state.presence.items(), key=lambda item: item[0] or "")
        ]
        return {
            **super().health(),
            "group": self.config.group,
            "host_id": self.config.host_id,
            "host_online": self.host_online,
            "nodes": nodes,
            "seq_gaps": self.seq_gaps,
            "bd_seq_gaps": self.bd_seq_gaps,
            "rebirths_requested": self.rebirths_requested,
        }

    async def _run_once(self) -> None:
        cfg = self.config
        will = None
        if cfg.host_id:
            self._state_ts = int(time.time() * 1000)
            will = aiomqtt.Will(state_topic(cfg.host_id), state_payload(False, self._state_ts), qos=1, retain=True)
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            identifier=cfg.client_id,
            username=cfg.username,
            password=cfg.password,
            clean_session=True,
            will=will,
        )
        async with client:
            self._client = client
            try:
                await client.subscribe(f"{spb.NAMESPACE}/{cfg.group}/#", qos=0)
                if cfg.host_id:
                    await client.subscribe(state_topic(cfg.host_id), qos=1)
                    await self._announce_online(client)
                self._connected()
                async for message in client.messages:
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    await self.handle(str(message.topic), payload)
            except asyncio.CancelledError:
                await self._announce_offline(client)  # a clean stop: edges learn it now, not at the Will
                raise
            finally:
                self._client = None
                self.host_online = False
                self._lost_connection()

    async def _announce_online(self, client: aiomqtt.Client) -> None:
        assert self.config.host_id and self._state_ts is not None
        payload = state_payload(True, self._state_ts)
        await client.publish(state_topic(self.config.host_id), payload, qos=1, retain=True)
        self.host_online = True
        log.info("sparkplug %s: primary host %s online", self.name, self.config.host_id)

    async def _announce_offline(self, client: aiomqtt.Client) -> None:
        if not self.config.host_id or not self.host_online:
            return
        payload = state_payload(False, int(time.time() * 1000))
        with contextlib.suppress(Exception):  # the broker gone as well: its Will says the same
            await asyncio.wait_for(
                client.publish(state_topic(self.config.host_id), payload, qos=1, retain=True),
                STATE_PUBLISH_TIMEOUT_S,
            )
        self.host_online = False

    def _lost_connection(self) -> None:
        """Without the broker the host cannot know whether its nodes are still there: they are unknown (stale)
        until their next birth, which a rebirth request asks for when data arrives first."""
        for state in self.edges.values():
            for device, presence in list(state.presence.items()):
                if presence.online:
                    state.mark(device, None, "connection lost")
            state.born, state.seq = False, None
            state.devices.clear()

    async def handle(self, topic: str, raw: bytes) -> None:
        """Process one Sparkplug message (never raises for a bad payload: it is dead-lettered)."""
        if self.config.host_id and topic == state_topic(self.config.host_id):
            await self._own_state(raw)
            return
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

    async def _own_state(self, raw: bytes) -> None:
        """Our own STATE came back. If it says offline, stamped no earlier than this session's birth (another
        connector of this installation stopped, or someone else claims the id), publish online again with this
        session's timestamp (Sparkplug 3.0 §5.3); an older one (a previous session's Will, retained) is past, and
        edges ignore it as well."""
        try:
            state = json.loads(raw)
            online, stamp = bool(state["online"]), int(state["timestamp"])
        except (ValueError, TypeError, KeyError):
            return
        if online or self._state_ts is None or stamp < self._state_ts:
            return
        if self.host_online and self._client is not None:
            await self._announce_online(self._client)

    async def _dispatch(
        self, kind: str, topic: str, edge: str, device: str | None, state: EdgeState, payload: Any, raw: bytes
    ) -> None:
        if kind == "NBIRTH":
            await self._emit_metrics(edge, None, state, payload)
        elif kind == "DBIRTH" and device is not None:
            await self._dbirth(edge, device, state, payload)
        elif kind == "DDEATH" and device is not None:
            state.devices.discard(device)
            state.mark(device, False, "DDEATH")
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
        state.mark(None, True, "NBIRTH")
        await self._event("equipment_state", edge, edge=edge, device=None, state="online")

    async def _dbirth(self, edge: str, device: str, state: EdgeState, payload: Any) -> None:
        if not state.born:
            await self._dead_letter(f"{edge}/{device}", "no_birth", payload.SerializeToString(), "DBIRTH before NBIRTH")
            await self._request_rebirth(edge, state)
            return
        state.devices.add(device)
        state.aliases = {k: v for k, v in state.aliases.items() if k[0] != device}
        self._learn(state, device, payload)
        state.mark(device, True, "DBIRTH")
        await self._event("equipment_state", f"{edge}/{device}", edge=edge, device=device, state="online")
        await self._emit_metrics(edge, device, state, payload)

    async def _ndeath(self, edge: str, state: EdgeState, payload: Any) -> None:
        bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == spb.BD_SEQ), None)
        if state.bd_seq is not None and bd_seq is not None and bd_seq != state.bd_seq:
            return  # the Will of an older session: this node has been reborn since
        for device in sorted(state.devices):
            await self._event("equipment_state", f"{edge}/{device}", edge=edge, device=device, state="offline")
        for device in [d for d in state.presence if d is not None]:
            state.mark(device, False, "NDEATH")
        state.mark(None, False, "NDEATH")
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
