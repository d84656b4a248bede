"""Durability of the production shapes: ``kill -9`` of the collecting process mid-ingest, a restart, and a count
of what was acknowledged and is missing.

Shapes:

- **embedded**: one ``smart365 serve`` (SQLite records, DuckDB time series); it takes the HTTP ingest and runs
  the connectors, so it is the process killed.
- **server**: PostgreSQL records and time series; ``smart365 serve`` (web, HTTP ingest) and one ``smart365
  worker`` (the connectors); both are killed at the same moment and restarted.

Paths, each running through the kill:

- **HTTP**: a client posts JSON batches (10 tags × 100 seconds = 1,000 points) to ``POST /api/v1/ingest`` with
  an ingest-scoped bearer token; a batch is acknowledged when the answer is 200; a batch whose request failed
  (the server was down) is sent again, as a gateway would.
- **MQTT QoS 1**: a publisher sends one JSON message a tick (10 values) to the real Mosquitto on
  127.0.0.1:1883; a message is acknowledged when the broker returned its PUBACK. Smart365's MQTT connector keeps a
  persistent session and acknowledges a message to the broker only once its points are stored, so what the
  broker queued while Smart365 was down arrives after the restart.
- **OPC UA**: the factory simulator's CNC nodes (``smart365 sim run`` in a subprocess). OPC UA keeps nothing for
  a client that is gone, so here "acknowledged" means stored before the kill: those points must survive, and
  collection must resume by itself.

Acknowledged points lost = acknowledged (tag, ts) pairs missing from the store after a clean stop at the end.

Usage::

    .venv/bin/python bench/bench_production.py                 # both shapes, ~3 min
    .venv/bin/python bench/bench_production.py --shapes embedded
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

PG_ADMIN = os.environ.get("SMART365_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SMART365 = [sys.executable, "-m", "smart365"]
TAGS = 10
CNC_TAGS = ("spindle_load", "spindle_temp", "vibration")
PASSWORD = "bench-durable-365"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Plant:
    """The registry of the benchmark firm: its HTTP, MQTT and OPC UA tags (ids)."""

    http: list[int]
    mqtt: list[int]
    opcua: list[int]
    topic: str


@dataclass
class Acked:
    pairs: set[tuple[int, int]] = field(default_factory=set)  # (tag id, ts µs)
    resent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def firm_with_line(session: Any, name: str) -> tuple[Any, Any]:
    """A benchmark firm with one site and one line (가공라인) and a member who logs in with ``PASSWORD``."""
    from smart365.core.accounts import create_user
    from smart365.core.tenancy import Role
    from smart365.registry.models import Line, Site
    from smart365.registry.schemas import CompanyIn
    from smart365.registry.service import create_company

    firm = create_company(session, CompanyIn(name=name, brn="1018600011", ksic_code="29229", region="경기"))
    site = Site(company_id=firm.id, name="본공장")
    session.add(site)
    session.flush()
    line = Line(company_id=firm.id, site_id=site.id, name="가공라인")
    session.add(line)
    session.flush()
    create_user(session, "bench@durable.kr", "bench", PASSWORD, Role.COMPANY_MEMBER, firm.id)
    return firm, line


def seed(env: dict[str, str], opcua_port: int) -> Plant:
    """Migrate, add a firm with three machines and a member; returns the tag ids."""
    os.environ.update(env)
    from smart365.bootstrap import records
    from smart365.core.settings import Settings
    from smart365.core.tenancy import SYSTEM
    from smart365.registry.models import Equipment, Tag
    from smart365.sim.factory.opcua_server import browse_name

    db = records(Settings())
    topic = f"bench/{uuid.uuid4().hex[:8]}/gw"
    with db.session(SYSTEM) as session:
        firm, line = firm_with_line(session, "내구성 정밀")
        machines = {
            "HTTP-01": ("none", None),
            "GW-01": ("mqtt", "mqtt://127.0.0.1:1883"),
            "MCT-01": ("opcua", f"opc.tcp://127.0.0.1:{opcua_port}/smart365/"),
        }
        ids: dict[str, list[int]] = {}
        for name, (protocol, endpoint) in machines.items():
            machine = Equipment(company_id=firm.id, line_id=line.id, name=name, kind="cnc", protocol=protocol,
                                endpoint=endpoint)  # fmt: skip
            session.add(machine)
            session.flush()
            if name == "MCT-01":
                tags = [Tag(company_id=firm.id, equipment_id=machine.id, name=t,
                            address=f"ns=2;s=Plant/가공라인/MCT-01/{browse_name(t)}") for t in CNC_TAGS]  # fmt: skip
            else:
                address = (lambda i: f"{topic}#v.t{i}") if protocol == "mqtt" else (lambda i: None)
                tags = [Tag(company_id=firm.id, equipment_id=machine.id, name=f"t{i}", address=address(i))
                        for i in range(TAGS)]  # fmt: skip
            session.add_all(tags)
            session.flush()
            ids[name] = [t.id for t in tags]
    db.dispose()
    return Plant(ids["HTTP-01"], ids["GW-01"], ids["MCT-01"], topic)


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def wait_http(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request(f"{base}/healthz")
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not come up")


def token(base: str) -> str:
    body = f"username=bench%40durable.kr&password={PASSWORD}".encode()
    return str(request(f"{base}/api/v1/auth/token", body, {"Content-Type": "application/x-www-form-urlencoded"})
               ["access_token"])  # fmt: skip


def http_client(base: str, plant: Plant, acked: Acked, stop: threading.Event) -> None:
    """Sequential 1,000-point batches; a failed request is sent again until it is acknowledged."""
    auth: dict[str, str] = {}
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)  # always in the past
    batch = 0
    while not stop.is_set():
        moments = [t0 + timedelta(seconds=batch * 100 + s) for s in range(100)]
        points = [{"tag_id": tag, "ts": m.isoformat(), "value": float(s)} for s, m in enumerate(moments)
                  for tag in plant.http]  # fmt: skip
        body = json.dumps({"points": points}).encode()
        while True:
            try:
                auth = auth or {"Authorization": f"Bearer {token(base)}"}
                answer = request(f"{base}/api/v1/ingest", body, {"Content-Type": "application/json", **auth})
                taken = answer["stored"] + answer["already_stored"]
                assert taken == len(points), f"{len(points) - taken} points refused: {answer['rejected'][:1]}"
                break
            except (urllib.error.URLError, OSError, ConnectionError):  # the server is down: send it again
                acked.resent += 1
                time.sleep(0.2)
        with acked.lock:
            acked.pairs |= {(tag, int(m.timestamp() * 1e6)) for m in moments for tag in plant.http}
        batch += 1


def mqtt_publisher(plant: Plant, acked: Acked, stop: threading.Event, every_s: float = 0.02) -> None:
    """QoS 1 JSON messages; a message counts once the broker acknowledged it."""
    pending: dict[int, int] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")

    def on_publish(_c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with acked.lock:
            ts = pending.pop(mid, None)
            if ts is not None:
                acked.pairs |= {(tag, ts) for tag in plant.mqtt}

    client.on_publish = on_publish
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    start = int(time.time() * 1e6)
    n = 0
    while not stop.is_set():
        ts = start + n * 10_000  # 10 ms apart: unique, in the past by the time it is stored
        payload = json.dumps({"ts": datetime.fromtimestamp(ts / 1e6, UTC).isoformat(), "v": {f"t{i}": n % 97 + i
                              for i in range(TAGS)}})  # fmt: skip
        with acked.lock:
            info = client.publish(plant.topic, payload, qos=1)
            pending[info.mid] = ts
        n += 1
        time.sleep(every_s)
    deadline = time.monotonic() + 10
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
    client.loop_stop()
    client.disconnect()


def latest_ts(base: str, auth: dict[str, str], tag: int) -> str | None:
    try:
        return request(f"{base}/api/v1/tags/{tag}/latest", headers=auth).get("ts")
    except (urllib.error.URLError, OSError):
        return None


def run_shape(shape: str, seconds: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"smart365-durable-{shape}-"))
    env = {"SMART365_DATA_DIR": str(work), "SMART365_SECRET_KEY": "bench", "SMART365_WARM_UP": "false",
           "SMART365_COLLECT_EVERY_S": "2"}  # fmt: skip
    dbs: list[str] = []
    if shape == "server":
        dbs = [f"smart365_durable_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("rec", "ts")]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in dbs:
                conn.execute(f'CREATE DATABASE "{name}"')
        base_url = PG_ADMIN.rsplit("/", 1)[0]
        env |= {"SMART365_DATABASE_URL": base_url.replace("postgresql://", "postgresql+psycopg://") + f"/{dbs[0]}",
                "SMART365_TIMESERIES_URL": f"{base_url}/{dbs[1]}"}  # fmt: skip
    opcua_port, port = free_port(), free_port()
    plant = seed(env, opcua_port)
    full_env = {**os.environ, **env}
    sim = subprocess.Popen([*SMART365, "sim", "run", "--opcua-port", str(opcua_port), "--modbus-port",
                            str(free_port()), "--mqtt-url", "mqtt://127.0.0.1:1883", "--no-faults"],
                           env=full_env, stdout=(work / "sim.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def start() -> list[subprocess.Popen[bytes]]:
        log = (work / f"{shape}.log").open("ab")
        procs = [subprocess.Popen([*SMART365, "serve", "--port", str(port)], env=full_env, stdout=log, stderr=log)]
        if shape == "server":
            procs.append(subprocess.Popen([*SMART365, "worker"], env=full_env, stdout=log, stderr=log))
        wait_http(base)
        return procs

    procs = start()
    auth = {"Authorization": f"Bearer {token(base)}"}
    http, mq, stop = Acked(), Acked(), threading.Event()
    threads = [threading.Thread(target=http_client, args=(base, plant, http, stop)),
               threading.Thread(target=mqtt_publisher, args=(plant, mq, stop))]  # fmt: skip
    deadline = time.monotonic() + 60
    while latest_ts(base, auth, plant.opcua[0]) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    for t in threads:
        t.start()
    time.sleep(seconds / 2)
    before_kill = {tag: latest_ts(base, auth, tag) for tag in plant.opcua}
    for p in procs:
        p.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait()
    killed_at = time.monotonic()
    time.sleep(2)
    restart_wall = datetime.now(UTC)
    procs = start()
    restarted = time.monotonic()
    resumed_s = None
    while resumed_s is None and time.monotonic() - restarted < 60:
        now = latest_ts(base, auth, plant.opcua[0])
        if now is not None and datetime.fromisoformat(now) > restart_wall:  # a reading taken after the restart
            resumed_s = time.monotonic() - restarted
        time.sleep(0.2)
    time.sleep(max(0.0, seconds / 2 - (time.monotonic() - restarted)))
    stop.set()
    for t in threads:
        t.join(timeout=60)
    time.sleep(5)  # the broker's queue drains into the store
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)
    sim.send_signal(signal.SIGTERM)
    sim.wait(timeout=20)
    result = count_lost(env, plant, http, mq, before_kill)
    result |= {
        "shape": shape,
        "opcua_resumed_s": resumed_s,
        "down_s": restarted - killed_at,
        "http_resent": http.resent,
    }
    if dbs:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in dbs:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def count_lost(
    env: dict[str, str], plant: Plant, http: Acked, mq: Acked, before: dict[int, str | None]
) -> dict[str, Any]:
    from smart365.core.settings import Settings
    from smart365.telemetry.store import open_store

    os.environ.update(env)
    store = open_store(Settings().timeseries_target)
    try:
        stored: set[tuple[int, int]] = set()
        for tags in (plant.http, plant.mqtt):
            batch = store.read(tags, "2000-01-01", "2100-01-01")
            stored |= set(zip(batch.tag_id.tolist(), batch.ts_us.tolist(), strict=True))
        opcua = {tag: store.read(tag, "2000-01-01", "2100-01-01") for tag in plant.opcua}
    finally:
        store.close()
    opcua_lost = 0
    for tag, last in before.items():
        if last is not None:
            cut = int(datetime.fromisoformat(last).timestamp() * 1e6)
            opcua_lost += int(cut not in set(opcua[tag].ts_us.tolist()))
    return {
        "http_acked": len(http.pairs), "http_lost": len(http.pairs - stored),
        "mqtt_acked": len(mq.pairs), "mqtt_lost": len(mq.pairs - stored),
        "opcua_latest_before_kill_missing": opcua_lost, "opcua_points": sum(len(b) for b in opcua.values()),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="embedded,server")
    parser.add_argument("--seconds", type=float, default=20.0, help="load time, the kill in the middle")
    args = parser.parse_args()
    rows = [run_shape(shape, args.seconds) for shape in args.shapes.split(",")]
    header = ("shape", "HTTP acked", "HTTP lost", "MQTT acked", "MQTT lost", "OPC UA last-before-kill missing",
              "OPC UA resumed (s)", "down (s)", "HTTP resends")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        resumed = f"{r['opcua_resumed_s']:.1f}" if r["opcua_resumed_s"] is not None else "no"
        print(
            f"| {r['shape']} | {r['http_acked']:,} | {r['http_lost']} | {r['mqtt_acked']:,} | {r['mqtt_lost']} | "
            f"{r['opcua_latest_before_kill_missing']} | {resumed} | {r['down_s']:.1f} | {r['http_resent']} |"
        )


if __name__ == "__main__":
    main()
