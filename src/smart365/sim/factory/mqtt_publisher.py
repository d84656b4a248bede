"""Publish the injection-moulding machines to an MQTT broker, as plain JSON and as Sparkplug B.

Plain JSON, one object per machine and tick (QoS 0)::

    smart365/<site>/<line slug>/<machine>
    {"ts": "2026-01-05T08:00:01+00:00", "site": "안산 본공장", "line": "사출라인", "machine": "IMM-01",
     "state": "run", "reason": "", "values": {"mould_temp": 60.1, ...}}

Sparkplug B (QoS 0, births and deaths as the spec says; the NDEATH is the connection's Will)::

    spBv1.0/<group>/NBIRTH/<edge>            bdSeq, Node Control/Rebirth
    spBv1.0/<group>/DBIRTH/<edge>/<machine>  every metric with name, alias, datatype
    spBv1.0/<group>/DDATA/<edge>/<machine>   changed metrics, by alias
    spBv1.0/<group>/DDEATH/<edge>/<machine>  on a clean stop
    spBv1.0/<group>/NDEATH/<edge>            Will / clean stop
    spBv1.0/<group>/NCMD/<edge>              listened to: "Node Control/Rebirth" = true re-sends the births

>>> mqtt_address("mqtt://broker.local:1884"), mqtt_address(None)
(('broker.local', 1884), ('127.0.0.1', 1883))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import aiomqtt

from smart365.sim.factory.physics import REASON_CODES, STATE_CODES, TAGS, Reading
from smart365.sim.factory.sparkplug import EdgeNode
from smart365.telemetry.sparkplug_b import DataType, topic

LINE_SLUGS = {"가공라인": "machining", "사출라인": "injection", "프레스라인": "press"}
_COUNTERS = {"shot_count", "bad_count", "part_count", "stroke_count"}


def mqtt_address(url: str | None) -> tuple[str, int]:
    """Host and port from ``mqtt://host:port`` (default ``127.0.0.1:1883``)."""
    parsed = urlparse(url or "mqtt://127.0.0.1:1883")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


def device_metrics(kind: str) -> list[tuple[str, DataType]]:
    """Sparkplug metrics of a machine kind: its tags, state, state_reason, last_part_good, then the numeric
    state_code (0 idle, 1 run, 2 down) and reason_code that a host stores.

    >>> device_metrics("injection")[4:9]
    [('shot_count', <DataType.Int64: 4>), ('bad_count', <DataType.Int64: 4>), ('state', <DataType.String: 12>), \
('state_reason', <DataType.String: 12>), ('last_part_good', <DataType.Boolean: 11>)]
    >>> [name for name, _ in device_metrics("injection")[9:]]
    ['state_code', 'reason_code']
    """
    tags = [(tag, DataType.Int64 if tag in _COUNTERS else DataType.Double) for tag in TAGS[kind]]
    texts = [("state", DataType.String), ("state_reason", DataType.String), ("last_part_good", DataType.Boolean)]
    return [*tags, *texts, ("state_code", DataType.Int32), ("reason_code", DataType.Int32)]


def metric_values(reading: Reading) -> dict[str, Any]:
    """A reading as Sparkplug metric values."""
    values: dict[str, Any] = {k: int(v) if k in _COUNTERS else round(v, 4) for k, v in reading.values.items()}
    return {
        **values,
        "state": str(reading.state),
        "state_reason": str(reading.reason),
        "last_part_good": reading.last_part_good,
        "state_code": STATE_CODES[reading.state],
        "reason_code": REASON_CODES[reading.reason],
    }


def json_message(site_slug: str, site: str, reading: Reading) -> tuple[str, bytes]:
    """The plain JSON topic and payload of one reading."""
    line = LINE_SLUGS.get(reading.line, reading.line)
    body = {
        "ts": reading.ts.isoformat(),
        "site": site,
        "line": reading.line,
        "machine": reading.machine,
        "state": str(reading.state),
        "reason": str(reading.reason),
        "values": {k: round(v, 4) for k, v in reading.values.items()},
    }
    return f"smart365/{site_slug}/{line}/{reading.machine}", json.dumps(body, ensure_ascii=False).encode()


class MqttPublisher:
    """Publishes machines' readings; one MQTT connection carries both layouts."""

    def __init__(
        self,
        url: str | None,
        machines: Mapping[str, str],
        *,
        site: str = "안산 본공장",
        site_slug: str = "ansan",
        group: str = "smart365",
        edge: str = "hanbit-ansan",
        bd_seq: int = 0,
        json_topics: bool = True,
        sparkplug: bool = True,
    ) -> None:
        """``machines`` maps a machine name to its kind."""
        self.host, self.port = mqtt_address(url)
        self.site, self.site_slug = site, site_slug
        self.json_topics, self.sparkplug = json_topics, sparkplug
        self.node = EdgeNode(group, edge, {name: device_metrics(kind) for name, kind in machines.items()}, bd_seq)
        self._sent: dict[str, dict[str, Any]] = {}
        self._latest: dict[str, Reading] = {}
        self._client: aiomqtt.Client | None = None
        self._listener: asyncio.Task[None] | None = None

    def inject_seq_gap(self, count: int = 1) -> None:
        """Skip ``count`` Sparkplug seq numbers before the next message (for connector tests)."""
        self.node.skip_seq(count)

    async def start(self, readings: Mapping[str, Reading]) -> None:
        """Connect (NDEATH as Will), publish NBIRTH and a DBIRTH per machine, listen for rebirth commands."""
        will_topic, will_payload = self.node.ndeath()
        self._client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=f"smart365-sim-{self.node.group}-{self.node.edge}",
            will=aiomqtt.Will(will_topic, will_payload, qos=0, retain=False),
        )
        await self._client.__aenter__()
        self._latest.update({k: v for k, v in readings.items() if k in self.node.metrics})
        if self.sparkplug:
            await self._client.subscribe(topic(self.node.group, "NCMD", self.node.edge))
            self._listener = asyncio.create_task(self._listen())
            await self.births()

    async def births(self) -> None:
        """(Re)publish NBIRTH and every DBIRTH with current values."""
        client = self._require_client()
        ts = self._ts_ms()
        await client.publish(*self.node.nbirth(ts))
        for device in self.node.metrics:
            reading = self._latest.get(device)
            values = metric_values(reading) if reading else {}
            await client.publish(*self.node.dbirth(device, values, ts))
            self._sent[device] = values

    async def update(self, readings: Mapping[str, Reading]) -> None:
        """Publish JSON for every machine and a Sparkplug DDATA with each machine's changed metrics."""
        client = self._require_client()
        for device in self.node.metrics:
            reading = readings.get(device)
            if reading is None:
                continue
            self._latest[device] = reading
            if self.json_topics:
                await client.publish(*json_message(self.site_slug, self.site, reading))
            if self.sparkplug:
                await self._ddata(client, device, reading)

    async def _ddata(self, client: aiomqtt.Client, device: str, reading: Reading) -> None:
        values = metric_values(reading)
        last = self._sent.setdefault(device, {})
        changed = {k: v for k, v in values.items() if last.get(k) != v}
        if changed:
            await client.publish(*self.node.ddata(device, changed, int(reading.ts.timestamp() * 1000)))
            last.update(changed)

    async def _listen(self) -> None:
        client = self._require_client()
        async for message in client.messages:
            if isinstance(message.payload, bytes) and self.node.is_rebirth_request(message.payload):
                await self.births()

    async def stop(self) -> None:
        """DDEATH each machine, NDEATH, disconnect."""
        if self._client is None:
            return
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self.sparkplug:
            ts = self._ts_ms()
            for device in self.node.metrics:
                await self._client.publish(*self.node.ddeath(device, ts))
            await self._client.publish(*self.node.ndeath())
        await self._client.__aexit__(None, None, None)
        self._client = None

    def _ts_ms(self) -> int:
        latest = max((r.ts for r in self._latest.values()), default=None)
        return int(latest.timestamp() * 1000) if latest else 0

    def _require_client(self) -> aiomqtt.Client:
        if self._client is None:
            raise RuntimeError("publisher not started")
        return self._client
