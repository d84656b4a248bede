"""Two plants forward to the centre over NATS leaf nodes with the real nats-server; one loses its link.

The hub, each plant's leaf node and the centre workers (``smart365 worker --role centre`` subprocesses) are
real; plant A reaches the hub through a WAN link the test cuts. While it is cut, plant A goes on publishing
into its own outbox and the centre worker is killed (SIGKILL); after the link returns and a new worker starts,
the centre holds every rollup bucket of both plants exactly once, with the plants' own values, plant A's
alarm and both tag catalogues. Plant A's credentials cannot publish as firm B nor read the hub's stream.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import numpy as np
import psycopg
import pytest

from smart365.bootstrap import System, bootstrap
from smart365.core.db import libpq_url
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.fleet import plant as fleet_plant
from smart365.fleet.nats_config import NatsServer, free_port, hub_config, inbox_prefix, leaf_config
from smart365.fleet.uplink import OUTBOX_STREAM, Uplink
from smart365.fleet.wire import HUB_STREAM, subject
from smart365.monitoring.models import AlarmEvent
from smart365.registry.models import Tag
from smart365.sim.wan import WanLink
from smart365.telemetry.batch import Batch
from tests.conftest import postgres_records
from tests.fleet.firms import firm_with_machine

pytestmark = pytest.mark.usefixtures("nats_server")

BRN_A, BRN_B = "1018600011", "2028700024"
HOUR = 3600
TAGS = [("spindle_load", "%"), ("vibration", "mm/s"), ("coolant_temp", "°C")]


@dataclass
class Plant:
    brn: str
    system: System
    tag_ids: list[int]

    @property
    def uplink(self) -> Uplink:
        assert isinstance(self.system.fleet, Uplink)
        return self.system.fleet

    def expected(self, width: str, now_s: float) -> set[tuple[int, int, int, float]]:
        """(tag, bucket start s, points, mean) of every bucket of the plant's store closed 2 minutes before now."""
        seconds = 60 if width == "1m" else HOUR
        closed = int((now_s - 120) // seconds * seconds)
        table = self.system.store.rollup(self.tag_ids, 0, closed * 1_000_000, width)  # type: ignore[arg-type]
        buckets = (table.column("bucket").cast("int64").to_numpy() // 1_000_000).tolist()
        return set(
            zip(
                table.column("tag_id").to_pylist(),
                buckets,
                table.column("count").to_pylist(),
                np.round(table.column("avg").to_numpy(), 9).tolist(),
                strict=True,
            )
        )


def _seed(system: System, brn: str, start_s: int, hours: int) -> list[int]:
    """A firm with one machine and three tags, with a reading every 10 s for ``hours`` from ``start_s``."""
    with system.db.session(SYSTEM) as session:
        tag_ids = firm_with_machine(
            session, brn, [("spindle_load", "%"), ("vibration", "mm/s"), ("coolant_temp", "°C")]
        )
    ts = np.arange(start_s, start_s + hours * HOUR, 10, dtype=np.int64) * 1_000_000
    rng = np.random.default_rng(int(brn[:4]))
    for tag_id in tag_ids:
        system.store.append(Batch.from_columns(tag_id, ts, rng.normal(50.0, 5.0, ts.size)))
    return tag_ids


def _centre(url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(url)) as conn:
        return list(conn.execute(sql, args).fetchall())


def _stored(url: str, table: str, brn: str) -> set[tuple[int, int, int, float]]:
    rows = _centre(url, f"SELECT tag_id, extract(epoch FROM bucket)::bigint, n, avg FROM {table} WHERE brn = %s", brn)
    return {(int(t), int(b), int(n), round(float(a), 9)) for t, b, n, a in rows}  # type: ignore[call-overload]


async def _until(check: Callable[[], Awaitable[bool] | bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _emptied(uplink: Uplink) -> bool:
    return await uplink.waiting() == 0


def _worker(tmp: Path, url: str, hub_url: str, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SMART365_DATABASE_URL": url,
        "SMART365_FLEET_HUB_URL": hub_url,
        "SMART365_DATA_DIR": str(tmp / name),
        "SMART365_FLEET_ACK_WAIT_S": "2",
    }
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "smart365", "worker", "--role", "centre"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def test_two_leaf_plants_one_cut_and_a_killed_worker_store_every_row_exactly_once(tmp_path: Path) -> None:
    with postgres_records() as url:
        asyncio.run(_scenario(tmp_path, url))


async def _scenario(tmp: Path, url: str) -> None:
    passwords = {BRN_A: "pw-a", BRN_B: "pw-b"}
    hub_port, leaf_port, link_port = free_port(), free_port(), free_port()
    # the hub tells leaf nodes the link's address: one cut off would otherwise reconnect around the link
    conf = hub_config(hub_port, leaf_port, tmp / "hub-js", passwords, centre_password="pw-c", host="127.0.0.1",
                      leaf_advertise=f"127.0.0.1:{link_port}")  # fmt: skip
    hub = NatsServer(conf, tmp, "hub", hub_port).start()
    link = WanLink(link_port, "127.0.0.1", leaf_port)
    await link.restore()
    servers, plants, workers = [hub], {}, []
    hub_url = f"nats://centre:pw-c@127.0.0.1:{hub_port}"
    start_s = (int(time.time()) // HOUR - 8) * HOUR  # four hours of history, eight hours ago
    clock = [start_s + HOUR + 300.0]
    try:
        for brn, name, via in ((BRN_A, "plant-a", link.port), (BRN_B, "plant-b", leaf_port)):
            port = free_port()
            conf = leaf_config(port, f"nats://127.0.0.1:{via}", brn, passwords[brn], tmp / f"{name}-js", plant=name)
            servers.append(NatsServer(conf, tmp, name, port).start())
            settings = Settings(
                data_dir=tmp / name,
                fleet_leaf_url=f"nats://127.0.0.1:{port}",
                fleet_brn=brn,
                fleet_every_s=0.2,
                installation_id=name,
                warm_up=False,
            )
            system = bootstrap(settings)  # the serve shape, as `smart365 serve` builds it
            plants[brn] = Plant(brn, system, _seed(system, brn, start_s, hours=4))
            plants[brn].uplink.clock = lambda: clock[0]
        workers.append(_worker(tmp, url, hub_url, "worker-1"))
        for plant in plants.values():
            await plant.system.start()

        async def centre_has_everything(brns: tuple[str, ...] = (BRN_A, BRN_B)) -> bool:
            return all(
                _stored(url, table, brn) == plants[brn].expected(width, clock[0])
                for brn in brns
                for table, width in (("fleet_rollup_1m", "1m"), ("fleet_rollup_1h", "1h"))
            )

        await _until(centre_has_everything, "the first hour of both plants at the centre")
        first_hour_a = _stored(url, "fleet_rollup_1m", BRN_A)
        assert len(first_hour_a) == 3 * 63  # 3 tags x minutes 0..62 (the clock is at 1:05, buckets close 2 min late)

        # plant A's link goes down; both go on; plant A's alarm is raised while it is cut off
        await link.cut()
        clock[0] = start_s + 2 * HOUR + 300.0
        with plants[BRN_A].system.db.session(SYSTEM) as session:
            tag = session.get(Tag, plants[BRN_A].tag_ids[1])
            assert tag is not None
            session.add(
                AlarmEvent(
                    company_id=tag.company_id,
                    tag_id=tag.id,
                    equipment_id=tag.equipment_id,
                    severity="high",
                    condition="진동 > 8.0 mm/s",
                    raised_at=datetime.now(UTC),
                    raised_value=9.1,
                )
            )
        await _until(lambda: centre_has_everything((BRN_B,)), "plant B's second hour")
        await _until(
            lambda: plants[BRN_A].uplink._until.get("rollup.1m", 0) >= start_s + 2 * HOUR + 180,
            "plant A publishing its second hour into its own outbox",
        )
        assert _stored(url, "fleet_rollup_1m", BRN_A) == first_hour_a  # nothing crossed the cut link
        assert await plants[BRN_A].uplink.waiting() >= 2  # held in plant A's outbox: its second hour

        os.kill(workers[0].pid, signal.SIGKILL)  # the centre's worker dies, whatever it held unacknowledged
        workers[0].wait()
        await link.restore()
        clock[0] = start_s + 4 * HOUR + 300.0
        workers.append(_worker(tmp, url, hub_url, "worker-2"))
        await _until(centre_has_everything, "every row of both plants after the link and a worker came back")
        for plant in plants.values():
            await _until(lambda p=plant: _emptied(p.uplink), "the outbox acknowledged by the hub")

        assert _stored(url, "fleet_rollup_1h", BRN_A) == plants[BRN_A].expected("1h", clock[0])
        assert len(_stored(url, "fleet_rollup_1h", BRN_A)) == 3 * 4
        alarms = _centre(url, "SELECT brn, plant, equipment, condition FROM fleet_alarms")
        assert alarms == [(BRN_A, "plant-a", "MCT-01", "진동 > 8.0 mm/s")]
        labels = _centre(url, "SELECT brn, label, unit FROM fleet_tags ORDER BY brn, tag_id")
        assert [row[0] for row in labels] == [BRN_A] * 3 + [BRN_B] * 3
        assert labels[0][1:] == ("주축 부하", "%")  # the label a person reads travels with the tag
        for brn, plant in plants.items():  # the stages each plant's own data shows, item by item
            measured = fleet_plant.evidence(plant.system.db, plant.system.store, brn, clock[0])
            stored = _centre(url, "SELECT item_id, stage FROM fleet_evidence WHERE brn = %s ORDER BY 1", brn)
            assert stored == [(row[0], row[1]) for row in measured] and measured
        assert _centre(url, "SELECT count(*) FROM fleet_dead_letters") == [(0,)]
        plants_seen = _centre(url, "SELECT brn, plant FROM fleet_plants ORDER BY brn")
        assert plants_seen == [(BRN_A, "plant-a"), (BRN_B, "plant-b")]

        await _refused_as_another_firm(servers[1].port, hub_port)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
        for plant in plants.values():
            await plant.system.stop()
        await link.cut()
        for server in reversed(servers):
            server.stop()


async def _refused_as_another_firm(leaf_a_port: int, hub_port: int) -> None:
    """Plant A, on its own leaf node or straight at the hub, cannot write as firm B nor read the hub's stream."""
    centre = await nats.connect(f"nats://centre:pw-c@127.0.0.1:{hub_port}")
    spy = await centre.subscribe(f"s365.{BRN_B}.>")
    before = (await centre.jetstream().stream_info(HUB_STREAM)).state.messages

    leaf = await nats.connect(f"nats://127.0.0.1:{leaf_a_port}", inbox_prefix=inbox_prefix(BRN_A).encode())
    with pytest.raises(nats.js.errors.NoStreamResponseError):  # the hub takes nothing on B's subjects from A
        await leaf.jetstream().publish(subject(BRN_B, "plant-b", "rollup.1m"), b'{"rows": []}', timeout=2)
    with pytest.raises((nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError, TimeoutError)):
        await leaf.jetstream(domain="hub").stream_info(HUB_STREAM)  # nor reach the hub's JetStream API
    await leaf.close()

    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc))

    direct = await nats.connect(
        f"nats://{BRN_A}:pw-a@127.0.0.1:{hub_port}", error_cb=on_error, inbox_prefix=inbox_prefix(BRN_A).encode()
    )
    await direct.publish(subject(BRN_B, "plant-b", "rollup.1m"), b'{"rows": []}')
    await direct.flush()
    await _until(lambda: bool(violations), "the hub's permissions violation", timeout_s=5)
    assert "permissions violation" in violations[0].lower()
    assert f"s365.{BRN_B}" in violations[0]
    await direct.close()

    with pytest.raises(nats.errors.TimeoutError):
        await spy.next_msg(timeout=0.5)
    assert (await centre.jetstream().stream_info(OUTBOX_STREAM.replace("OUTBOX", "FLEET"))).state.messages == before
    await centre.close()
