"""The production shapes against the real simulator (its OPC UA, Modbus TCP and Sparkplug B servers on free
ports): ``serve`` on the embedded default collects the registry's machines, takes registry changes live and
refuses unreadable addresses; on PostgreSQL the simulated plant is registered with ``smart365 sim register``
(its history stored and its anomaly models deployed), two ``smart365 worker`` processes share the connectors
without running one twice, raise the alarms and score the deployed models, and a killed worker's connectors
move to the other within 30 s."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.analytics.registry import deployed
from smart365.bootstrap import bootstrap, records
from smart365.core.db import Database, libpq_url
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent, AlarmRule
from smart365.registry.models import Company, Equipment, Tag
from smart365.sim.demo import DEMO_PASSWORD, seed_demo
from smart365.sim.factory.runner import Endpoints, Factory, FactoryConfig, free_port
from smart365.sim.live import SHOWCASE_BRN, point_endpoints, showcase_tags
from smart365.telemetry.models import ConnectorLease
from smart365.telemetry.store import open_store
from smart365.web.app import create_app
from tests.conftest import PG_ADMIN, require_postgres

PROTOCOL_TAGS = {
    "opcua": ("MCT-01", "spindle_temp"),
    "sparkplug": ("IMM-01", "mould_temp"),
    "modbus": ("PRS-02", "tonnage"),
}


def _wait(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.25) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took (a guard against hanging, not a timing
    assertion, except where a test says what the design promises)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


@contextmanager
def simulator() -> Iterator[Endpoints]:
    """The factory simulator on free ports (embedded MQTT broker), in a thread of its own."""
    config = FactoryConfig(opcua_port=free_port(), modbus_port=free_port(), faults=False, tick=0.5)
    ready: list[Endpoints] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        factory = Factory(config)
        try:
            ready.append(await factory.start())
            await factory.run(stop)
        finally:
            await factory.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    _wait(lambda: bool(ready) or not thread.is_alive(), 30, "the simulator to start")
    assert ready, "the simulator did not start"
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)


def _seed(db: Database, endpoints: Endpoints) -> dict[str, int]:
    """The showcase firm pointed at the simulator; the tag id collected over each protocol."""
    seed_demo(db, firms=1)
    with db.session(SYSTEM) as session:
        company_id, tags = showcase_tags(session)
        assert company_id is not None
        point_endpoints(session, company_id, endpoints)
    return {protocol: tags[key] for protocol, key in PROTOCOL_TAGS.items()}


def test_serve_collects_every_protocol_takes_registry_changes_live_and_refuses_bad_addresses(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="shape", warm_up=False, collect_every_s=1.0)
    db = records(settings)
    with simulator() as endpoints:
        tag_of = _seed(db, endpoints)
        system = bootstrap(settings, db=db)
        store = system.store
        with TestClient(create_app(system)) as client:
            for protocol, tag_id in tag_of.items():
                _wait(lambda tag_id=tag_id: store.count(tag_id) > 0, 30, f"{protocol} points")
            token = client.post(
                "/api/v1/auth/token", data={"username": "member@hanbit.example", "password": DEMO_PASSWORD}
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            with db.session(SYSTEM) as session:
                press = session.scalars(select(Equipment).where(Equipment.name == "PRS-01")).one()
            # a tag added through the API is collected without a restart (a second reading of the tonnage)
            added = client.post(
                f"/api/v1/equipment/{press.id}/tags",
                headers=auth,
                json={"name": "tonnage_check", "unit": "t", "address": "holding:10:float32:big"},
            )
            assert added.status_code == 201, added.text
            took = _wait(lambda: store.count(added.json()["id"]) > 0, 10, "the added tag's first points")
            assert took < 10  # the design's promise: collected within 10 s
            # an address the connector cannot read is refused with the reason, on create and on change
            bad = client.post(
                f"/api/v1/equipment/{press.id}/tags", headers=auth, json={"name": "bad", "address": "holding:ten"}
            )
            assert bad.status_code == 422 and "table:address[:type]" in bad.json()["error"]["message_en"]
            bad_type = client.patch(
                f"/api/v1/tags/{added.json()['id']}", headers=auth, json={"address": "holding:10:float128"}
            )
            assert bad_type.status_code == 422 and "dtype" in bad_type.json()["error"]["message_en"]
            # a machine whose source is down shows as such and stops nothing else
            dead = f"modbus://127.0.0.1:{free_port()}/1"
            assert (
                client.patch(f"/api/v1/equipment/{press.id}", headers=auth, json={"endpoint": dead}).status_code == 200
            )
            assert system.collection is not None
            _wait(
                lambda: (system.collection.health_of("modbus", dead) or {}).get("state") in ("backoff", "connecting"),
                10,
                "the dead machine's connector",
            )
            before = store.count(tag_of["opcua"])
            _wait(lambda: store.count(tag_of["opcua"]) > before, 10, "OPC UA points while a machine is down")
            metrics = client.get("/metrics").text
            assert f'smart365_connector_up{{connector="modbus {dead}",kind="modbus"}} 0.0' in metrics
            assert re.search(r'smart365_ingest_points_total\{source="opcua"\} [1-9]', metrics)
            _login(client)
            page = client.get(f"/monitoring/equipment/{press.id}").text
            state = re.search(r'data-testid="connection">연결: <strong class="conn-(backoff|connecting)">', page)
            assert state is not None, page[:3000]
            assert "ConnectionError" in page  # why it is not connected
            # a tag removed stops being collected
            assert client.delete(f"/api/v1/tags/{tag_of['opcua']}", headers=auth).status_code == 204
            _wait(lambda: tag_of["opcua"] not in _collected(system), 10, "the removed tag to stop being collected")


def _collected(system: Any) -> set[int]:
    return {tag["tag_id"] for spec, _c in system.collection.worker.running.values() for tag in spec.config["tags"]}


def _login(client: TestClient) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"email": "member@hanbit.example", "password": DEMO_PASSWORD, "csrf_token": csrf.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


@pytest.fixture
def pg_urls() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases: records and time series (the server shape)."""
    require_postgres()
    names = [f"smart365_shape_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("rec", "ts")]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield base.replace("postgresql://", "postgresql+psycopg://") + f"/{names[0]}", f"{base}/{names[1]}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _register(env: dict[str, str], endpoints: Endpoints, db: Database) -> tuple[dict[str, int], int]:
    """``smart365 sim register`` as a user runs it (3 h of history, the anomaly models trained and deployed),
    and one alarm rule the live plant always breaks; the tag id collected over each protocol, and the rule."""
    opcua, modbus = urllib.parse.urlsplit(endpoints.opcua), urllib.parse.urlsplit(endpoints.modbus)
    command = [
        sys.executable, "-m", "smart365", "sim", "register", "--history", "3", "--opcua-port", str(opcua.port),
        "--modbus-port", str(modbus.port), "--mqtt-url", endpoints.mqtt,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(주)한빛정밀" in done.stdout
    with db.session(SYSTEM) as session:
        _, tags = showcase_tags(session)
        assert len(deployed(session)) == 12  # three models on each of the four CNCs, as in the demo
        rule = AlarmRule(
            company_id=session.get(Tag, tags[PROTOCOL_TAGS["sparkplug"]]).company_id,
            tag_id=tags[PROTOCOL_TAGS["sparkplug"]], kind="high", limit_value=-1.0, severity="warning",
        )  # fmt: skip
        session.add(rule)
        session.flush()
        rule_id = rule.id
    return {protocol: tags[key] for protocol, key in PROTOCOL_TAGS.items()}, rule_id


def _rule_raised(db: Database, rule_id: int) -> bool:
    with db.session(SYSTEM) as session:
        return session.scalar(select(AlarmEvent.id).where(AlarmEvent.rule_id == rule_id)) is not None


def _scored(metrics_port: int) -> float:
    """Rows a worker's deployed models have scored (from its /metrics)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(float(v) for v in re.findall(r"^smart365_model_rows_scored_total\{[^}]*\} (\S+)$", text, re.M))


def _worker(env: dict[str, str], metrics_port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "smart365", "worker", "--metrics-port", str(metrics_port)]
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _running(metrics_port: int) -> set[str]:
    """The connectors a worker says it runs (from its /metrics)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return set()
    return set(re.findall(r'smart365_connector_up\{connector="([^"]+)"', text))


def _named(timeseries_url: str) -> set[int]:
    """The tags the store's Grafana views name (docs/grafana.md)."""
    with psycopg.connect(libpq_url(timeseries_url)) as conn:
        return {row[0] for row in conn.execute("SELECT tag_id FROM grafana_tags")}


@pytest.mark.postgres
def test_two_workers_share_the_connectors_and_a_killed_ones_move_to_the_other(
    tmp_path: Path, pg_urls: tuple[str, str]
) -> None:
    records_url, timeseries_url = pg_urls
    settings = Settings(data_dir=tmp_path, database_url=records_url, timeseries_url=timeseries_url)
    db = records(settings)
    env = {
        **os.environ,
        "SMART365_DATABASE_URL": records_url,
        "SMART365_TIMESERIES_URL": timeseries_url,
        "SMART365_DATA_DIR": str(tmp_path),
        "SMART365_COLLECT_EVERY_S": "2",
    }
    ports = [free_port(), free_port()]
    with simulator() as endpoints:
        tag_of, rule_id = _register(env, endpoints, db)
        workers = [_worker(env, port, tmp_path / f"worker{i}.log") for i, port in enumerate(ports)]
        store = open_store(timeseries_url)
        try:

            def shared() -> bool:
                mine = [_running(port) for port in ports]
                return all(len(m) == 2 for m in mine) and not (mine[0] & mine[1])

            _wait(shared, 90, "both workers running two connectors each, none twice", every=1)
            _wait(lambda: set(tag_of.values()) <= _named(timeseries_url), 30, "the tags named in the Grafana views")
            since = {tag_id: store.count(tag_id) for tag_id in tag_of.values()}  # the registered history
            for protocol, tag_id in tag_of.items():
                _wait(lambda tag_id=tag_id: store.count(tag_id) > since[tag_id], 30, f"{protocol} points collected")
            _wait(lambda: _rule_raised(db, rule_id), 30, "the workers to raise the rule's alarm")
            _wait(lambda: sum(_scored(port) for port in ports) > 0, 60, "the deployed models to score live rows")
            victim, survivor = _running(ports[0]), ports[1]
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=10)
            took = _wait(lambda: _running(survivor) >= victim, 30, "the killed worker's connectors to move", every=0.5)
            assert took <= 30 and len(_running(survivor)) == 4
            with db.session(SYSTEM) as session:
                holders = set(session.scalars(select(ConnectorLease.holder)))
            assert len(holders) == 1
            moved = {tag_of[p] for p in tag_of if any(name.startswith(p) for name in victim)}
            counts = {tag_id: store.count(tag_id) for tag_id in moved}
            for tag_id in moved:  # the moved connectors collect again
                _wait(lambda tag_id=tag_id: store.count(tag_id) > counts[tag_id], 20, f"tag {tag_id} after the move")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    worker.wait(timeout=20)
            store.close()
    with db.session(SYSTEM) as session:  # a clean stop gives the leases back at once
        assert session.scalar(select(ConnectorLease.key)) is None
        assert session.scalar(select(Company.id).where(Company.brn == SHOWCASE_BRN)) is not None
        assert session.scalars(select(Tag.id)).first() is not None
    db.dispose()
