"""Smart365 as the Sparkplug B 3.0 primary host application, on the real Mosquitto, with an edge node (paho-mqtt,
see ``sparkplug_edge``) that is configured to wait for that primary host: the registry's rows → connector →
ingest worker → store, STATE birth, Will and clean death, NDEATH shown stale, seq gap → rebirth request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
from prometheus_client import REGISTRY, generate_latest

from smart365.core.settings import Settings
from smart365.monitoring.runtime import machine_connection
from smart365.telemetry.connectors.sparkplug import SparkplugConnector, state_topic
from smart365.telemetry.pipeline import TagSpec
from smart365.telemetry.sources import SourceIdentity, SourceRow, client_id, connector_configs
from smart365.telemetry.store import DuckDBStore
from smart365.telemetry.worker import IngestWorker
from tests.telemetry.connector_helpers import require_mosquitto, run, wait_until
from tests.telemetry.sparkplug_edge import PahoEdge

EDGE, DEVICE = "hanbit-ansan", "IMM-07"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Spy:
    """Every message on the group and on the host's STATE topic, in the order the broker delivered them."""

    seen: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def states(self) -> list[dict[str, Any]]:
        return [json.loads(raw) | {"retain": retain} for t, raw, retain in self.seen if "/STATE/" in t and raw]

    def kinds(self) -> list[str]:
        return ["STATE" if "/STATE/" in t else t.split("/")[2] for t, _raw, _retain in self.seen]


async def _spy(port: int, group: str, host_id: str, spy: Spy, ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"spy-{group}") as client:
        await client.subscribe(f"spBv1.0/{group}/#", qos=1)
        await client.subscribe(state_topic(host_id), qos=1)
        ready.set()
        async for message in client.messages:
            raw = message.payload if isinstance(message.payload, bytes) else b""
            spy.seen.append((str(message.topic), raw, bool(message.retain)))


def _metric(line_start: str) -> float | None:
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_edge_waits_for_smart365_state_then_data_stale_on_ndeath_and_seq_gap_gets_a_rebirth() -> None:
    _host, port = require_mosquitto()
    suffix = uuid.uuid4().hex[:10]
    group, host_id = f"s365t-{suffix}", f"s365h-{suffix}"
    endpoint = f"mqtt://127.0.0.1:{port}/{group}"
    rows = [
        SourceRow("sparkplug", endpoint, 1, f"{EDGE}/{DEVICE}/barrel_temp"),
        SourceRow("sparkplug", endpoint, 2, f"{EDGE}/{DEVICE}/inject_pressure"),
    ]
    (spec,), problems = connector_configs(rows, SourceIdentity(f"inst-{suffix}", host_id))
    assert problems == [] and spec.config["host_id"] == host_id
    label = f'connector="{spec.name}"'

    async def scenario() -> None:
        spy, ready = Spy(), asyncio.Event()
        spying = asyncio.create_task(_spy(port, group, host_id, spy, ready))
        await asyncio.wait_for(ready.wait(), 10)
        edge = PahoEdge(port, group, EDGE, DEVICE, ["barrel_temp", "inject_pressure"], primary_host=host_id)
        edge.start()
        store = DuckDBStore(":memory:")
        worker = IngestWorker(store, {1: TagSpec(), 2: TagSpec()})
        try:
            await wait_until(edge.subscribed.is_set, what="the edge's subscriptions")
            # no primary host yet: the edge waits, the broker carries nothing from it
            assert edge.log == [] and not edge.publish_data({"barrel_temp": 1.0})
            assert spy.kinds() == []

            await worker.start([spec])
            (connector,) = worker.connectors
            assert isinstance(connector, SparkplugConnector)
            await wait_until(lambda: "DBIRTH" in edge.log, what="the edge's births after Smart365's STATE")
            assert edge.log[:3] == ["STATE online", "NBIRTH", "DBIRTH"]
            await wait_until(lambda: spy.kinds()[:3] == ["STATE", "NBIRTH", "DBIRTH"], what="the broker's order")
            (birth,) = spy.states()
            assert birth["online"] is True and birth["retain"] is False  # a live delivery; published retained:
            assert isinstance(birth["timestamp"], int) and birth["timestamp"] == connector._state_ts

            # values reach the store
            assert edge.publish_data({"barrel_temp": 231.5, "inject_pressure": 88.0})
            await wait_until(lambda: store.count([1, 2]) >= 2 + 2, what="births and data in the store")
            assert store.latest([1, 2]).column("value").to_pylist() == [231.5, 88.0]

            # a tag added to the machine in the registry is taken without a new session (no STATE churn)
            rows.append(SourceRow("sparkplug", endpoint, 3, f"{EDGE}/{DEVICE}/inject_pressure"))
            (wider,), _ = connector_configs(rows, SourceIdentity(f"inst-{suffix}", host_id))
            worker.set_tag_specs({1: TagSpec(), 2: TagSpec(), 3: TagSpec()})
            await worker.reconcile([wider])
            assert worker.connectors == [connector] and connector.health()["connects"] == 1
            assert edge.publish_data({"inject_pressure": 90.0})
            await wait_until(lambda: store.count(3) == 1, what="the added tag's first point")
            assert len(spy.states()) == 1

            # a seq gap: Smart365 asks for a rebirth, the edge receives it and is born again
            edge.skip_seq(3)
            assert edge.publish_data({"barrel_temp": 232.0})
            await wait_until(lambda: edge.rebirth_requests == 1, what="the rebirth request at the edge")
            await wait_until(lambda: edge.log.count("NBIRTH") == 2, what="the rebirth")
            health = connector.health()
            assert health["seq_gaps"] == 1 and health["rebirths_requested"] == 1
            assert _metric(f"smart365_sparkplug_seq_gaps_total{{{label}}}") == 1.0
            assert _metric(f"smart365_sparkplug_rebirth_requests_total{{{label}}}") == 1.0
            page = machine_connection(worker.health()[0], "sparkplug", [r.address for r in rows])
            assert page["state"] == "connected"
            assert _metric(f'smart365_sparkplug_node_online{{{label},edge="{EDGE}"}}') == 1.0

            # the edge loses power: the broker sends its NDEATH Will, the node and its device are stale
            edge.die()
            await wait_until(
                lambda: any(n["online"] is False and n["reason"] == "NDEATH" for n in connector.health()["nodes"]),
                what="the NDEATH",
            )
            page = machine_connection(worker.health()[0], "sparkplug", [r.address for r in rows])
            assert page["state"] == "edge_offline" and page["reason"] == "NDEATH"
            assert worker.health()[0]["state"] == "connected"  # the connector itself is fine
            assert _metric(f'smart365_sparkplug_node_online{{{label},edge="{EDGE}"}}') == 0.0
            assert _metric(f'smart365_sparkplug_device_online{{{label},device="{DEVICE}",edge="{EDGE}"}}') == 0.0
            assert any(e.kind == "seq_gap" for e in worker.recent_events)

            # someone says our host is offline: Smart365 says online again, with its session's timestamp
            async with aiomqtt.Client("127.0.0.1", port, identifier=f"liar-{suffix}") as liar:
                await liar.publish(state_topic(host_id), json.dumps({"online": False, "timestamp": now_ms()}), qos=1)
            await wait_until(lambda: len(spy.states()) >= 3, what="the STATE republished")
            assert spy.states()[2]["online"] is True and spy.states()[2]["timestamp"] == birth["timestamp"]

            # the host's connection drops without DISCONNECT: the broker publishes its Will (offline, the
            # birth's timestamp), then the connector reconnects and is born again with a new timestamp
            sock = connector._client._client.socket() if connector._client else None
            assert sock is not None
            sock.shutdown(socket.SHUT_RDWR)
            await wait_until(lambda: len(spy.states()) >= 5, what="the Will, then a new birth")
            will, reborn = spy.states()[3], spy.states()[4]
            assert will["online"] is False and will["timestamp"] == birth["timestamp"]
            assert reborn["online"] is True and reborn["timestamp"] > birth["timestamp"]
            await wait_until(lambda: connector.health()["host_online"], what="online again")
        finally:
            await worker.stop()
            store.close()
            with contextlib.suppress(Exception):
                edge.client.loop_stop()
        # a clean stop: the retained STATE says offline, stamped now
        await wait_until(lambda: len(spy.states()) >= 6, what="the clean death")
        death = spy.states()[5]
        assert death["online"] is False and death["timestamp"] > spy.states()[4]["timestamp"]  # not the Will
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"late-{suffix}") as late:
            await late.subscribe(state_topic(host_id), qos=1)
            message = await asyncio.wait_for(anext(late.messages), 5)
            assert message.retain and json.loads(message.payload)["online"] is False  # type: ignore[arg-type]
            await late.publish(state_topic(host_id), b"", qos=1, retain=True)  # leave no retained message
        spying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await spying

    run(scenario(), timeout=60)


def test_two_installations_on_one_broker_get_different_client_ids(tmp_path: Path) -> None:
    first, second = Settings(data_dir=tmp_path / "a"), Settings(data_dir=tmp_path / "b")
    assert first.installation != second.installation
    assert first.installation == Settings(data_dir=tmp_path / "a").installation  # kept across restarts
    endpoint = "mqtt://broker.factory:1883/smart365"
    ids = {client_id(endpoint, s.installation) for s in (first, second)}
    assert len(ids) == 2 and all(len(i) <= 23 for i in ids)
    assert Settings(data_dir=tmp_path / "c", installation_id="plant-7").installation == "plant-7"
    rows = [SourceRow("sparkplug", endpoint, 1, "e/d/m"), SourceRow("mqtt", "mqtt://broker.factory:1883", 2, "t#v")]
    (spark, plain), _ = connector_configs(rows, SourceIdentity(first.installation, "smart365"))
    assert spark.config["client_id"] != plain.config["client_id"]
    assert spark.config["host_id"] == "smart365" and "host_id" not in plain.config
