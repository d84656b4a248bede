"""MQTT end to end for ``bench_store.py``: publishers → Mosquitto (QoS 1) → MQTT JSON connector → worker → DuckDB.

The subscriber side is the project's own path, unchanged: :class:`~smart365.telemetry.worker.IngestWorker`
running the ``mqtt`` connector (persistent session, PUBACK only once a message's points are stored), the
pipeline and a :class:`~smart365.telemetry.store.DuckDBStore` file. The publishers are separate processes,
one per simulated machine gateway: each sends one JSON message per machine-second holding every tag of that
machine (``{"ts": "...Z", "v": {"t1": 50.12, ...}}``, the shape a gateway batches a PLC scan into), at QoS 1,
paced to the offered rate. A message counts as sent once the broker acknowledged it (PUBACK); loss is
acknowledged points minus points in the store at the end.

Mosquitto drops QoS 1 messages it already acknowledged to the publisher once more than
``max_queued_messages`` (default 1000) wait for a subscriber that fell behind, so on a busy machine the
default-configured broker itself can lose data; :func:`own_mosquitto` starts one configured for a data
plane (deeper queue, more messages in flight to the connector) to measure the connector without that limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import resource
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho

from smart365.telemetry.pipeline import TagSpec
from smart365.telemetry.sources import ConnectorSpec
from smart365.telemetry.store import DuckDBStore
from smart365.telemetry.worker import IngestWorker

T0_S = 1_704_067_200  # 2024-01-01T00:00:00Z, as the other datasets


@dataclass(frozen=True)
class MqttShape:
    """What the publishers send: ``publishers`` machines × ``tags_per_message`` tags, paced to ``rate``."""

    host: str
    port: int
    publishers: int
    tags_per_message: int
    rate: int  # offered points/s over all publishers
    seconds: float
    inflight: int

    @property
    def messages_per_publisher(self) -> int:
        return max(1, round(self.rate * self.seconds / self.publishers / self.tags_per_message))


@dataclass(frozen=True)
class MqttResult:
    acked_points: int
    stored_points: int
    sent_s: float  # first publish → last PUBACK, slowest publisher
    stored_s: float  # first publish → every acknowledged point stored
    cpu_s: float  # subscriber process (connector, pipeline, DuckDB), user + system
    peak_rss_mb: float
    dead_letters: int


def topic_of(prefix: str, machine: int) -> str:
    return f"{prefix}/m{machine}"


def payload(second: int, values: Any) -> bytes:
    """One gateway message: the machine's tags at one second (ISO timestamp, as the connector reads it)."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0_S + second))
    body = ",".join(f'"t{j}":{v:.2f}' for j, v in enumerate(values))
    return f'{{"ts":"{ts}","v":{{{body}}}}}'.encode()


def publish(shape: MqttShape, prefix: str, machine: int, results: Queue[tuple[int, int, float, float]]) -> None:
    """Publisher process: paced QoS 1 messages; reports (machine, acked messages, first send, last ack)."""
    acked = 0
    last_ack = 0.0

    def on_publish(*_: Any) -> None:
        nonlocal acked, last_ack
        acked += 1
        last_ack = time.time()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub{machine}".replace("/", "-"))
    client.max_inflight_messages_set(shape.inflight)
    client.on_publish = on_publish
    client.connect(shape.host, shape.port, keepalive=60)
    client.loop_start()
    rng = np.random.default_rng(machine)
    n = shape.messages_per_publisher
    values = np.round(50 + 20 * np.sin(np.arange(n)[:, None] / 600 + np.arange(shape.tags_per_message)), 2)
    values += np.round(rng.normal(0, 0.5, values.shape), 2)
    interval = shape.publishers * shape.tags_per_message / shape.rate
    topic = topic_of(prefix, machine)
    first = time.time()
    for k in range(n):
        delay = first + k * interval - time.time()
        if delay > 0:
            time.sleep(delay)
        client.publish(topic, payload(k, values[k]), qos=1)
    deadline = time.time() + 120
    while acked < n and time.time() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    results.put((machine, acked, first, last_ack))


def connector_spec(prefix: str, shape: MqttShape, client_id: str) -> ConnectorSpec:
    tags = [
        {"tag_id": 1 + m * shape.tags_per_message + j, "topic": topic_of(prefix, m), "path": f"v.t{j}"}
        for m in range(shape.publishers)
        for j in range(shape.tags_per_message)
    ]
    return ConnectorSpec(
        "mqtt", "bench", {"host": shape.host, "port": shape.port, "client_id": client_id, "tags": tags}
    )


async def _run(shape: MqttShape, path: str, threads: int) -> MqttResult:
    prefix = f"smart365-bench/{uuid.uuid4().hex[:8]}"
    client_id = f"smart365-bench-{prefix[-8:]}"
    n_tags = shape.publishers * shape.tags_per_message
    store = DuckDBStore(path, threads=threads)
    worker = IngestWorker(store, {tag: TagSpec() for tag in range(1, n_tags + 1)})
    await worker.start([connector_spec(prefix, shape, client_id)])
    connector = worker.connectors[0]
    while connector.state != "connected":
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the SUBSCRIBE is sent right after connecting; let the broker settle it
    ctx = get_context("spawn")
    results: Queue[tuple[int, int, float, float]] = ctx.Queue()
    procs = [ctx.Process(target=publish, args=(shape, prefix, m, results)) for m in range(shape.publishers)]
    cpu0 = _cpu_s()
    for proc in procs:
        proc.start()
    reports: list[tuple[int, int, float, float]] = []
    while len(reports) < len(procs):
        while not results.empty():
            reports.append(results.get())
        if len(reports) < len(procs) and not any(p.is_alive() for p in procs) and results.empty():
            raise RuntimeError("a publisher process died before reporting (see its error above)")
        await asyncio.sleep(0.02)
    acked_points = sum(r[1] for r in reports) * shape.tags_per_message
    seen, stored_at = connector.points, time.time()
    while connector.points < acked_points and time.time() - stored_at < 10:  # give up 10 s after the last progress
        await asyncio.sleep(0.005)
        if connector.points != seen:
            seen, stored_at = connector.points, time.time()
    cpu = _cpu_s() - cpu0
    for proc in procs:
        proc.join()
    await worker.stop()
    stored = await asyncio.to_thread(store.count)
    store.close()
    _forget_session(shape, client_id)
    first = min(r[2] for r in reports)
    return MqttResult(
        acked_points,
        stored,
        max(r[3] for r in reports) - first,
        stored_at - first,
        cpu,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        connector.dead_letters,
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _forget_session(shape: MqttShape, client_id: str) -> None:
    """Drop the persistent session the connector left on the shared broker."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(shape.host, shape.port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


BROKER_TUNING = "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
"""What a data-plane Mosquitto sets beyond the defaults (20 messages in flight per client, 1000 queued)."""


@contextlib.contextmanager
def own_mosquitto(workdir: str) -> Iterator[int]:
    """A Mosquitto of the benchmark's own on a free loopback port, configured with :data:`BROKER_TUNING`."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise SystemExit("mosquitto is not installed: `apt-get install -y mosquitto`")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = Path(workdir) / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n{BROKER_TUNING}")
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen on {port}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_mqtt(shape: MqttShape, path: str, threads: int) -> MqttResult:
    """The MQTT end-to-end measurement (call it in a fresh process so the peak RSS is its own)."""
    return asyncio.run(_run(shape, path, threads))
