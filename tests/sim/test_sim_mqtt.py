"""Sparkplug B and JSON on the real Mosquitto broker (127.0.0.1:1883), and the whole simulator end to end."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from typer.testing import CliRunner

from smart365.sim.factory.cli import app
from smart365.sim.factory.mqtt_publisher import MqttPublisher
from smart365.sim.factory.physics import Plant
from smart365.sim.factory.runner import FactoryConfig, run_factory
from smart365.telemetry.sparkplug_b import DataType, decode, metric_value

BROKER = ("127.0.0.1", 1883)
GUARD_S = 20  # a hang guard, not a timing assertion
INJECTION = {"IMM-01": "injection", "IMM-02": "injection", "IMM-03": "injection"}


def _mosquitto_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def mosquitto() -> str:
    if not _mosquitto_up():
        if os.environ.get("CI") == "true":
            pytest.fail("Mosquitto is not reachable at 127.0.0.1:1883 (required in CI)")
        pytest.skip("Mosquitto is not reachable at 127.0.0.1:1883")
    return f"mqtt://{BROKER[0]}:{BROKER[1]}"


async def _collect(client: aiomqtt.Client, until: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    async for message in client.messages:
        assert isinstance(message.payload, bytes)
        got.append((str(message.topic), message.payload))
        if len(got) >= until:
            return got
    return got


async def _publish_and_listen(url: str, group: str, ticks: int, gap_at: int | None = None) -> list[tuple[str, bytes]]:
    plant = Plant.showcase(seed=21)
    publisher = MqttPublisher(url, INJECTION, group=group, edge="edge-1", site_slug=group, bd_seq=7)
    async with aiomqtt.Client(*BROKER, identifier=f"test-{group}") as client:
        await client.subscribe(f"spBv1.0/{group}/#")
        await client.subscribe(f"smart365/{group}/#")
        await publisher.start(plant.readings())
        for tick in range(ticks):
            if tick == gap_at:
                publisher.inject_seq_gap()
            await publisher.update(plant.advance(60))
        await publisher.stop()
        # NBIRTH + 3 DBIRTH + per tick 3 JSON and 3 DDATA + 3 DDEATH + NDEATH
        return await asyncio.wait_for(_collect(client, 1 + 3 + ticks * 6 + 3 + 1), GUARD_S)


def _sparkplug(messages: list[tuple[str, bytes]]) -> list[tuple[str, Any]]:
    return [(t, decode(raw)) for t, raw in messages if t.startswith("spBv1.0/")]


def test_sparkplug_births_then_data_with_increasing_seq_and_aliases(mosquitto: str) -> None:
    group = f"t{uuid.uuid4().hex[:10]}"
    messages = asyncio.run(_publish_and_listen(mosquitto, group, ticks=4))
    spb = _sparkplug(messages)
    kinds = [t.split("/")[2] for t, _ in spb]
    assert kinds[:4] == ["NBIRTH", "DBIRTH", "DBIRTH", "DBIRTH"]
    assert kinds[-1] == "NDEATH" and kinds.count("DDATA") == 12
    nbirth = spb[0][1]
    assert nbirth.seq == 0 and {m.name: metric_value(m) for m in nbirth.metrics}["bdSeq"] == 7
    assert {m.name: metric_value(m) for m in spb[-1][1].metrics}["bdSeq"] == 7
    seqs = [p.seq for t, p in spb if "/NDEATH/" not in t]
    assert seqs == list(range(len(seqs)))
    birth = next(p for t, p in spb if t.endswith("/DBIRTH/edge-1/IMM-02"))
    aliases = {m.alias: (m.name, DataType(m.datatype)) for m in birth.metrics}
    assert {"mould_temp", "shot_count", "state"} <= {name for name, _ in aliases.values()}
    data = [p for t, p in spb if t.endswith("/DDATA/edge-1/IMM-02")]
    decoded = {aliases[m.alias][0]: metric_value(m, aliases[m.alias][1]) for m in data[-1].metrics}
    assert all(not m.name for m in data[-1].metrics), "data messages use aliases only"
    assert 30 < decoded["mould_temp"] < 120 and decoded["shot_count"] > 0
    json_topics = {t: json.loads(raw) for t, raw in messages if t.startswith("smart365/")}
    body = json_topics[f"smart365/{group}/injection/IMM-02"]
    assert body["line"] == "사출라인" and set(body["values"]) >= {"mould_temp", "barrel_temp", "shot_count"}


def test_seq_gap_option_produces_a_detectable_gap(mosquitto: str) -> None:
    group = f"t{uuid.uuid4().hex[:10]}"
    spb = _sparkplug(asyncio.run(_publish_and_listen(mosquitto, group, ticks=3, gap_at=1)))
    seqs = [p.seq for t, p in spb if "/NDEATH/" not in t]
    steps = [(b - a) % 256 for a, b in itertools.pairwise(seqs)]
    assert steps.count(2) == 1 and set(steps) == {1, 2}


def test_whole_simulator_runs_with_the_embedded_broker_and_writes_labels(tmp_path: Path) -> None:
    from smart365.sim.factory.runner import free_port

    labels = tmp_path / "labels.csv"
    config = FactoryConfig(
        opcua_port=free_port(), modbus_port=free_port(), speed=600, tick=0.1, duration=0.5, labels=labels
    )
    started: list[Any] = []
    plant = asyncio.run(run_factory(config, on_start=started.append))
    assert started and started[0].embedded_broker and started[0].mqtt.startswith("mqtt://127.0.0.1:")
    assert plant.t >= 1 + 600 * 0.1, "at least one tick of speed × tick simulated seconds"
    rows = labels.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "machine,tag,fault,start,end,magnitude" and len(rows) == len(plant.labels) + 1 > 1


def test_cli_prints_the_register_map() -> None:
    result = CliRunner().invoke(app, ["registers"])
    assert result.exit_code == 0 and "float32" in result.output and "little" in result.output
