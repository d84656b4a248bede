"""MQTT JSON connector on the real Mosquitto: the shared one on 1883, and one of the test's own restarted mid-stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt

from smart365.sim.factory.runner import free_port, start_embedded_broker
from smart365.telemetry.connectors.mqtt import MqttJsonConnector
from tests.telemetry.connector_helpers import (
    OwnMosquitto,
    Recorder,
    forget_session,
    require_mosquitto,
    run,
    wait_until,
)


def _config(prefix: str, port: int = 1883, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "client_id": f"s365-test-{prefix}",
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "tags": [
            {"tag_id": 1, "topic": f"{prefix}/+/IMM-01", "path": "values.mould_temp"},
            {"tag_id": 2, "topic": f"{prefix}/+/IMM-01", "path": "values.cycle_time", "scale": 1000},
        ],
        **extra,
    }


def _message(i: int) -> bytes:
    body = {"ts": f"2026-01-05T08:00:{i:02d}+00:00", "values": {"mould_temp": 60.0 + i, "cycle_time": 0.03}}
    return json.dumps(body).encode()


async def _publish(port: int, items: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"s365-pub-{uuid.uuid4().hex[:8]}") as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1)


def test_json_values_map_to_tags_and_a_malformed_payload_is_dead_lettered() -> None:
    _host, port = require_mosquitto()
    prefix = f"s365t/{uuid.uuid4().hex[:10]}"

    async def scenario() -> None:
        recorder = Recorder()
        connector = MqttJsonConnector(_config(prefix), recorder.emit, **recorder.callbacks())
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
            topic = f"{prefix}/injection/IMM-01"
            await _publish(port, [(topic, _message(1)), (topic, b"{not json"), (topic, _message(2))])
            await wait_until(lambda: len(recorder.values(1)) >= 2, what="both good messages")
        finally:
            await connector.stop()
            await forget_session(port, f"s365-test-{prefix}")
        assert recorder.values(1) == [61.0, 62.0]
        assert recorder.values(2) == [30.0, 30.0]
        assert recorder.batches[0].ts_us.tolist() == [1767600001000000] * 2
        (letter,) = recorder.dead
        assert letter.reason == "malformed_payload"
        assert letter.source == f"{prefix}/injection/IMM-01"
        assert letter.message("ko") == "페이로드를 해석할 수 없습니다."
        assert connector.health()["dead_letters"] == 1

    run(scenario())


def test_missing_path_and_text_value_are_dead_lettered_with_their_reason() -> None:
    _host, port = require_mosquitto()
    prefix = f"s365t/{uuid.uuid4().hex[:10]}"

    async def scenario() -> None:
        recorder = Recorder()
        connector = MqttJsonConnector(_config(prefix), recorder.emit, **recorder.callbacks())
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
            body = json.dumps({"values": {"mould_temp": "hot"}}).encode()
            await _publish(port, [(f"{prefix}/x/IMM-01", body)])
            await wait_until(lambda: len(recorder.dead) >= 2, what="two dead letters")
        finally:
            await connector.stop()
            await forget_session(port, f"s365-test-{prefix}")
        assert sorted(d.reason for d in recorder.dead) == ["missing_value", "not_numeric"]
        assert recorder.points() == 0

    run(scenario())


def test_persistent_session_delivers_messages_published_while_stopped() -> None:
    _host, port = require_mosquitto()
    prefix = f"s365t/{uuid.uuid4().hex[:10]}"
    topic = f"{prefix}/injection/IMM-01"

    async def scenario() -> None:
        recorder = Recorder()
        connector = MqttJsonConnector(_config(prefix), recorder.emit)
        await connector.start()
        await wait_until(lambda: connector.health()["state"] == "connected", what="first session")
        await connector.stop()
        await _publish(port, [(topic, _message(i)) for i in range(1, 6)])
        restarted = MqttJsonConnector(_config(prefix), recorder.emit)
        await restarted.start()
        try:
            await wait_until(lambda: len(recorder.values(1)) >= 5, what="messages held by the broker")
        finally:
            await restarted.stop()
            await forget_session(port, f"s365-test-{prefix}")
        assert sorted(recorder.values(1)) == [61.0, 62.0, 63.0, 64.0, 65.0]

    run(scenario())


def test_messages_are_handled_while_earlier_ones_are_stored_and_acknowledged_only_once_stored() -> None:
    _host, port = require_mosquitto()
    prefix = f"s365t/{uuid.uuid4().hex[:10]}"
    topic = f"{prefix}/injection/IMM-01"

    async def scenario() -> None:
        handed: list[float] = []
        never_stored = asyncio.Event()

        async def slow_emit(batch: Any) -> None:  # a store that does not finish
            handed.extend(batch.value[batch.tag_id == 1].tolist())
            await never_stored.wait()

        connector = MqttJsonConnector(_config(prefix), slow_emit)
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="first session")
            await _publish(port, [(topic, _message(i)) for i in range(1, 4)])
            # All three reach the pipeline although the first one is not stored yet.
            await wait_until(lambda: len(handed) == 3, what="three messages handed on")
        finally:
            await connector.stop()
        assert handed == [61.0, 62.0, 63.0]
        recorder = Recorder()
        restarted = MqttJsonConnector(_config(prefix), recorder.emit)
        await restarted.start()
        try:
            # None was acknowledged, so the broker delivers all three again.
            await wait_until(lambda: len(recorder.values(1)) >= 3, what="re-delivered messages")
        finally:
            await restarted.stop()
            await forget_session(port, f"s365-test-{prefix}")
        assert sorted(recorder.values(1)) == [61.0, 62.0, 63.0]
        assert connector.health()["points"] == 0

    run(scenario())


def test_connector_reconnects_after_the_broker_restarts() -> None:
    async def scenario() -> None:
        port = free_port()
        broker, _url = await start_embedded_broker(port=port)
        prefix = "s365t/restart"
        topic = f"{prefix}/injection/IMM-01"
        recorder = Recorder()
        connector = MqttJsonConnector(_config(prefix, port=port), recorder.emit)
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
            await _publish(port, [(topic, _message(1))])
            await wait_until(lambda: recorder.values(1) == [61.0], what="first value")
            await broker.shutdown()
            await wait_until(lambda: connector.health()["state"] != "connected", what="disconnect noticed")
            broker, _url = await start_embedded_broker(port=port)
            await wait_until(lambda: connector.health()["connects"] >= 2, timeout=20, what="reconnected")
            await _publish(port, [(topic, _message(2))])
            await wait_until(lambda: 62.0 in recorder.values(1), what="data after the restart")
            assert connector.health()["errors"] >= 1
        finally:
            await connector.stop()
            await broker.shutdown()

    run(scenario())


async def _publish_until_acknowledged(port: int, topic: str, values: list[int], on_acked: Any) -> None:
    """Publish each value with QoS 1 and retry it until the broker acknowledged it, as a device would."""
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    pending = list(values)
    while pending:
        try:
            async with aiomqtt.Client("127.0.0.1", port, identifier=f"s365-pub-{uuid.uuid4().hex[:8]}") as client:
                while pending:
                    i = pending[0]
                    ts = (start + timedelta(seconds=i)).isoformat()
                    body = {"ts": ts, "values": {"mould_temp": float(i), "cycle_time": 0.03}}
                    await client.publish(topic, json.dumps(body), qos=1)
                    pending.pop(0)
                    await on_acked(i)
                    await asyncio.sleep(0.01)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)


def test_nothing_the_broker_acknowledged_is_lost_when_mosquitto_restarts_mid_stream(tmp_path: Path) -> None:
    broker = OwnMosquitto(tmp_path, free_port())
    broker.start()
    prefix = f"s365t/{uuid.uuid4().hex[:10]}"
    topic = f"{prefix}/injection/IMM-01"
    values = list(range(1, 201))
    acknowledged: list[int] = []
    restarted = asyncio.Event()

    async def scenario() -> None:
        recorder = Recorder()
        # The connector comes back later than the publisher, so the messages in between reach it only
        # through the persistent session the broker restored from its disk.
        config = _config(prefix, port=broker.port, backoff_initial_s=1.5, backoff_max_s=2.0)
        connector = MqttJsonConnector(config, recorder.emit, **recorder.callbacks())
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="connected")

            async def acked(i: int) -> None:
                acknowledged.append(i)
                if i == 100:  # mid-stream: restart the broker while the publisher keeps going
                    await asyncio.to_thread(broker.stop)
                    await asyncio.to_thread(broker.start)
                    restarted.set()

            await _publish_until_acknowledged(broker.port, topic, values, acked)
            assert restarted.is_set()
            await wait_until(lambda: set(recorder.values(1)) >= set(acknowledged), timeout=30, what="every acked value")
            health = connector.health()
        finally:
            await connector.stop()
        assert acknowledged == values
        assert sorted(set(recorder.values(1))) == [float(v) for v in values]
        assert health["connects"] >= 2 and health["errors"] >= 1
        assert recorder.dead == []

    try:
        run(scenario(), timeout=60)
    finally:
        broker.stop()
