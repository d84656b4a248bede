"""Sparkplug B connector on the real Mosquitto, fed by the simulator's edge node."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from smart365.sim.factory.mqtt_publisher import MqttPublisher
from smart365.sim.factory.physics import Plant
from smart365.sim.factory.sparkplug import EdgeNode
from smart365.telemetry.connectors.sparkplug import SparkplugConnector
from smart365.telemetry.sparkplug_b import DataType
from tests.telemetry.connector_helpers import Recorder, require_mosquitto, run, wait_until

EDGE = "hanbit-ansan"


def _config(group: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": f"s365-host-{group}",
        "group": group,
        "tags": [
            {"tag_id": 1, "edge": EDGE, "device": "IMM-01", "metric": "mould_temp"},
            {"tag_id": 2, "edge": EDGE, "device": "IMM-01", "metric": "shot_count"},
            {"tag_id": 3, "edge": EDGE, "device": "IMM-02", "metric": "mould_temp"},
        ],
        **extra,
    }


def test_births_aliases_seq_gap_rebirth_and_death() -> None:
    _host, port = require_mosquitto()
    group = f"s365t-{uuid.uuid4().hex[:10]}"
    plant = Plant.showcase(seed=5, start=datetime(2026, 1, 5, 8, tzinfo=UTC))

    async def scenario() -> None:
        recorder = Recorder()
        connector = SparkplugConnector(_config(group), recorder.emit, **recorder.callbacks())
        await connector.start()
        await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
        machines = {"IMM-01": "injection", "IMM-02": "injection"}
        publisher = MqttPublisher(f"mqtt://127.0.0.1:{port}", machines, group=group, edge=EDGE, json_topics=False)
        await publisher.start(plant.readings())
        try:
            await wait_until(
                lambda: EDGE in connector.edges and "IMM-02" in connector.edges[EDGE].devices, what="births"
            )
            born_with = recorder.latest()[1]
            assert born_with == round(plant.readings()["IMM-01"].values["mould_temp"], 4)
            readings = plant.advance(30)
            await publisher.update(readings)
            expected = readings["IMM-01"].values["mould_temp"]
            await wait_until(lambda: recorder.latest().get(1) == round(expected, 4), what="DDATA by alias")
            assert recorder.latest()[2] == int(readings["IMM-01"].values["shot_count"])

            publisher.inject_seq_gap(3)
            await publisher.update(plant.advance(30))
            await wait_until(lambda: connector.health()["seq_gaps"] == 1, what="the seq gap")
            (gap,) = recorder.events_of("seq_gap")
            assert gap.detail["received"] == (gap.detail["expected"] + 3) % 256
            await wait_until(lambda: connector.health()["rebirths_requested"] == 1, what="rebirth request")
            onlines = lambda: [e for e in recorder.events_of("equipment_state") if e.detail["state"] == "online"]  # noqa: E731
            await wait_until(lambda: len(onlines()) >= 6, what="the node reborn (NBIRTH + 2 DBIRTH twice)")
            await publisher.update(plant.advance(30))
            await wait_until(lambda: connector.health()["seq_gaps"] == 1 and recorder.points() > 6, what="data")
        finally:
            await publisher.stop()
        await wait_until(lambda: len(_offline(recorder)) >= 3, what="deaths")
        await connector.stop()
        assert {e.source for e in _offline(recorder)} == {EDGE, f"{EDGE}/IMM-01", f"{EDGE}/IMM-02"}
        assert connector.health()["seq_gaps"] == 1
        assert not recorder.dead

    run(scenario())


def test_data_before_birth_and_unknown_alias_are_dead_lettered() -> None:
    _host, port = require_mosquitto()
    group = f"s365t-{uuid.uuid4().hex[:10]}"

    async def scenario() -> None:
        recorder = Recorder()
        connector = SparkplugConnector(_config(group), recorder.emit, **recorder.callbacks())
        node = EdgeNode(group, EDGE, {"IMM-01": [("mould_temp", DataType.Double)]})
        await connector.start()
        try:
            await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
            async with aiomqtt.Client("127.0.0.1", port, identifier=f"s365-edge-{group}") as edge:
                await edge.publish(*node.ddata("IMM-01", {"mould_temp": 50.0}, ts_ms=1))
                await wait_until(lambda: len(recorder.dead) == 1, what="data before birth")
                await edge.publish(*node.nbirth(ts_ms=2))
                await edge.publish(*node.dbirth("IMM-01", {"mould_temp": 55.0}, ts_ms=3))
                await edge.publish(*node.ddata("IMM-01", {"mould_temp": 56.0}, ts_ms=4))
                await wait_until(lambda: recorder.values(1) == [55.0, 56.0], what="birth and data")
                node.metrics["IMM-01"]["mould_temp"] = (999, DataType.Double)
                await edge.publish(*node.ddata("IMM-01", {"mould_temp": 57.0}, ts_ms=5))
                await edge.publish(f"spBv1.0/{group}/DDATA/{EDGE}/IMM-01", b"\xff\xff not protobuf")
                await wait_until(lambda: len(recorder.dead) == 3, what="alias and malformed dead letters")
        finally:
            await connector.stop()
        assert [d.reason for d in recorder.dead] == ["no_birth", "unknown_alias", "malformed_payload"]
        assert recorder.dead[0].source.endswith("/DDATA/hanbit-ansan/IMM-01")
        assert recorder.batches[0].ts_us.tolist() == [3000]
        assert connector.health()["dead_letters"] == 3

    run(scenario())


def _offline(recorder: Recorder) -> list[Any]:
    return [e for e in recorder.events_of("equipment_state") if e.detail["state"] == "offline"]
