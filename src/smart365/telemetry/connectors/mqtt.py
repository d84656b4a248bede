"""MQTT JSON connector (aiomqtt): topic filter + JSON path per tag, QoS 1, persistent session.

The connector keeps a fixed client id and ``clean_session=False``, so the broker holds QoS 1 messages
published while it is down and delivers them after a restart. A message is acknowledged (PUBACK) only after
``emit`` returned, i.e. once its batch is stored: a crash before that makes the broker deliver it again.
Messages are handled while earlier ones are still being stored (the worker then commits them together) and
acknowledged in the order they arrived, as MQTT requires; a failed store drops the connection unacknowledged.
Broker settings matter: Mosquitto sends a client at most ``max_inflight_messages`` (default 20) unacknowledged
messages, which caps how much one commit can gather, and silently drops QoS 1 messages it has already
acknowledged to the publisher once more than ``max_queued_messages`` (default 1000) wait for a subscriber
that fell behind. A data-plane broker raises both (``bench/bench_store.py`` measures either way).

>>> extract({"values": {"mould_temp": 60.5}}, "values.mould_temp"), extract({"a": [1, 2]}, "a.1")
(60.5, 2)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiomqtt
from pydantic import Field

from smart365.telemetry.batch import NAT_US, Batch, to_epoch_us
from smart365.telemetry.connectors.base import Connector, ConnectorConfig, TagPoint

_MISSING = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PENDING_MESSAGES = 1000
"""Messages received but not yet acknowledged, at most (the broker's own in-flight limit is usually lower)."""


class MqttTag(TagPoint):
    """One value in JSON messages: the topic filter it arrives on and its path in the message body."""

    topic: str = Field(min_length=1)
    path: str = Field(min_length=1)


class MqttConfig(ConnectorConfig):
    """Broker, session and the topic → tag mapping."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = Field(min_length=1, max_length=64)
    username: str | None = None
    password: str | None = None
    qos: int = Field(default=1, ge=0, le=2)
    keepalive_s: int = Field(default=30, ge=5)
    ts_path: str | None = "ts"
    tags: list[MqttTag] = Field(min_length=1)


def extract(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` (list items by index); ``_MISSING`` when absent.

    >>> extract({"a": {"b": 1}}, "a.c") is _MISSING
    True
    """
    return extract_parts(document, path.split("."))


def extract_parts(document: Any, parts: Sequence[str]) -> Any:
    """:func:`extract` with the path already split at its dots (a connector splits each tag's path once)."""
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def parse_ts(text: str) -> int:
    """Epoch microseconds of a timestamp text (ISO 8601 fast, other forms as pandas reads them; naive = UTC);
    ``NAT_US`` when unreadable.

    >>> parse_ts("2024-01-01T09:00:00+09:00") == parse_ts("2024-01-01T00:00:00Z") == 1_704_067_200_000_000
    True
    >>> parse_ts("2024-01-01 00:00:00.5"), parse_ts("Jan 1 2024") == parse_ts("2024-01-01"), parse_ts("x") == NAT_US
    (1704067200500000, True, True)
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return int(to_epoch_us([text])[0])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def as_number(value: Any) -> float | None:
    """A JSON value as a float (booleans as 0/1, numeric strings parsed); ``None`` when it is not a number.

    >>> as_number(True), as_number("1.5"), as_number("run")
    (1.0, 1.5, None)
    """
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class MqttJsonConnector(Connector[MqttConfig]):
    """Subscribes to the tags' topic filters and emits one batch per message."""

    kind: ClassVar[str] = "mqtt"
    config_model: ClassVar[type[ConnectorConfig]] = MqttConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tags_by_topic: dict[str, list[tuple[MqttTag, list[str]]]] = {}

    async def _run_once(self) -> None:
        cfg = self.config
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            identifier=cfg.client_id,
            username=cfg.username,
            password=cfg.password,
            clean_session=False,
            keepalive=cfg.keepalive_s,
        )
        client._client.manual_ack_set(True)
        async with client:
            for topic_filter in sorted({t.topic for t in cfg.tags}):
                await client.subscribe(topic_filter, qos=cfg.qos)
            self._connected()
            unacked: asyncio.Queue[tuple[asyncio.Task[None], int, int]] = asyncio.Queue(PENDING_MESSAGES)
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._acknowledge_in_order(client, unacked))
                    async for message in client.messages:
                        handling = tasks.create_task(self.handle(str(message.topic), _payload_bytes(message.payload)))
                        await unacked.put((handling, message.mid, message.qos))
            except ExceptionGroup as errors:
                raise errors.exceptions[0] from None  # the supervisor reports the cause, not the group

    @staticmethod
    async def _acknowledge_in_order(
        client: aiomqtt.Client, unacked: asyncio.Queue[tuple[asyncio.Task[None], int, int]]
    ) -> None:
        """PUBACK each message once it is handled (its points stored), in arrival order."""
        while True:
            handling, mid, qos = await unacked.get()
            await handling  # a failure ends the session unacknowledged: the broker delivers it again
            if qos > 0:
                client._client.ack(mid, qos)

    def _tags_for(self, topic: str) -> list[tuple[MqttTag, list[str]]]:
        """The tags whose topic filter matches ``topic``, each with its split path (remembered per topic:
        matching is costly)."""
        tags = self._tags_by_topic.get(topic)
        if tags is None:
            if len(self._tags_by_topic) >= 10_000:
                self._tags_by_topic.clear()
            tags = [(t, t.path.split(".")) for t in self.config.tags if aiomqtt.Topic(topic).matches(t.topic)]
            self._tags_by_topic[topic] = tags
        return tags

    async def handle(self, topic: str, payload: bytes) -> None:
        """Turn one message into a batch of the tags mapped to ``topic`` (dead letters for what cannot be read)."""
        tags = self._tags_for(topic)
        if not tags:
            return
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            await self._dead_letter(topic, "malformed_payload", payload, str(error))
            return
        ts = await self._timestamp(topic, payload, document)
        if ts is not None:
            await self._emit(await self._points(topic, payload, document, tags, ts))

    async def _timestamp(self, topic: str, payload: bytes, document: Any) -> int | None:
        raw = extract(document, self.config.ts_path) if self.config.ts_path else _MISSING
        if raw is _MISSING or raw is None:
            return time.time_ns() // 1000
        ts = parse_ts(raw) if isinstance(raw, str) else NAT_US
        if ts == NAT_US:
            await self._dead_letter(topic, "bad_timestamp", payload, f"{self.config.ts_path}={raw!r}")
            return None
        return ts

    async def _points(
        self, topic: str, payload: bytes, document: Any, tags: Sequence[tuple[MqttTag, list[str]]], ts: int
    ) -> Batch:
        ids: list[int] = []
        values: list[float] = []
        for tag, parts in tags:
            raw = extract_parts(document, parts)
            if raw is _MISSING:
                await self._dead_letter(topic, "missing_value", payload, tag.path)
                continue
            value = raw if type(raw) is float else as_number(raw)  # floats are by far the most common
            if value is None:
                await self._dead_letter(topic, "not_numeric", payload, f"{tag.path}={raw!r}")
                continue
            ids.append(tag.tag_id)
            values.append(value * tag.scale + tag.offset)
        return Batch.from_columns(ids, [ts] * len(ids), values) if ids else Batch.empty()


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()
