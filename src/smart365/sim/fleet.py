"""Many light simulated plants forwarding 1-minute rollups to the centre's hub (``smart365 sim fleet``).

A simulated plant is not a Smart365 process nor a nats-server: it is an asyncio task with its own firm (a
deterministic 10-digit business registration number, :func:`firm_brn`), its own NATS user on the hub with the
firm's permissions, its own connection with the firm's inbox prefix, and its own leaf-side buffer: an
in-memory queue where a rollup message stays until the hub's JetStream acknowledgement for it arrives, so a
hub or link that is away loses nothing and the buffer is caught up afterwards. Publishes are pipelined, at
most ``in_flight`` unacknowledged a plant.

Each plant emits ``tags`` × ``minutes`` 1-minute rollup rows (deterministic values from a seed), one message
per bucket of at most :data:`~smart365.fleet.wire.ROWS_PER_MESSAGE` rows, with a deterministic
``Nats-Msg-Id`` per (firm, plant, bucket, chunk). Time is compressed: with ``minute_s=0`` a plant makes its
next minute as soon as its buffer has room (as fast as the hub takes them); with ``minute_s > 0`` it makes
one every ``minute_s`` real seconds whatever the hub does (the buffer grows while the hub is away).

>>> load = PlantLoad(firm_brn(0), "sim", tags=3, minutes=2, start_s=1_765_065_600)
>>> [(m.subject, m.msg_id, m.rows) for m in load.messages(1)]
[('s365.9000000365.sim.rollup.1m', '9000000365.sim.1m.1765065660.0', 3)]
>>> load.rows, load.checksum() == sum(row_checksum(*key) for key in load.keys())
(6, True)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import numpy as np
import psycopg

from smart365.core.db import libpq_url
from smart365.fleet.centre import ensure_hub_stream
from smart365.fleet.nats_config import CENTRE_USER, NatsServer, free_port, hub_config, inbox_prefix, new_password
from smart365.fleet.wire import HUB_STREAM, ROWS_PER_MESSAGE, encode, subject

SEED = 365
PLANT = "sim"  # every simulated firm has one plant with this id
MINUTE = 60
#: (count, checksum) of the rows of ``fleet_rollup_1m``, the checksum as :func:`row_checksum` sums it
CHECKSUM_SQL = (
    "SELECT count(*), coalesce(sum(('x' || left(md5(brn || '|' || plant || '|' || tag_id || '|' || "
    "extract(epoch FROM bucket)::bigint || '|' || n), 15))::bit(60)::bigint), 0) FROM fleet_rollup_1m"
)


def firm_brn(index: int, seed: int = SEED) -> str:
    """The business registration number of simulated firm ``index``: 10 digits, deterministic, all distinct.

    >>> firm_brn(0), firm_brn(1), len({firm_brn(i) for i in range(10_000)})
    ('9000000365', '9007778142', 10000)
    """
    return f"9{(index * 7_777_777 + seed) % 1_000_000_000:09d}"  # 7,777,777 is prime to 10⁹: a permutation


def row_checksum(brn: str, plant: str, tag: int, bucket: int, n: int) -> int:
    """A row's share of the checksum the centre's PostgreSQL computes with :data:`CHECKSUM_SQL`.

    >>> row_checksum("9000000365", "sim", 1, 1765065600, 60)
    1095648438464927650
    """
    return int(hashlib.md5(f"{brn}|{plant}|{tag}|{bucket}|{n}".encode()).hexdigest()[:15], 16)


def default_start(now_s: float | None = None) -> int:
    """The first bucket: yesterday 00:00 UTC (inside the centre's kept window, the same all day long)."""
    now_s = time.time() if now_s is None else now_s
    return int(now_s // 86400 - 1) * 86400


@functools.lru_cache(maxsize=65536)
def _levels(seed: int, brn: str, tags: int) -> np.ndarray:
    """Each tag's working level at a plant (20..80 in its unit)."""
    return np.random.default_rng([seed, int(brn)]).uniform(20.0, 80.0, tags)


@dataclass(frozen=True)
class Outgoing:
    """One rollup message of a plant: subject, de-duplication id, compact JSON body, its number of rows."""

    subject: str
    msg_id: str
    body: bytes
    rows: int


@dataclass(frozen=True)
class PlantLoad:
    """What one simulated plant sends: ``tags`` tags (ids 1..tags), one rollup row a tag a minute."""

    brn: str
    plant: str
    tags: int
    minutes: int
    start_s: int
    seed: int = SEED

    @property
    def rows(self) -> int:
        return self.tags * self.minutes

    def _rng(self, minute: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(self.brn), minute])

    def _points(self, rng: np.random.Generator) -> np.ndarray:
        """Readings in each bucket: 60 (1 Hz), now and then fewer (a gap in collection)."""
        gaps = rng.random(self.tags) < 0.02
        return np.where(gaps, rng.integers(1, 60, self.tags), 60)

    def messages(self, minute: int) -> list[Outgoing]:
        """Minute ``minute``'s rows (every tag), in messages of at most 1,000 rows."""
        rng = self._rng(minute)
        points = self._points(rng)
        levels = _levels(self.seed, self.brn, self.tags)
        noise = levels * 0.02
        avg = levels * (1 + 0.05 * np.sin(2 * np.pi * minute / 480)) + noise * rng.standard_normal(self.tags)
        vmin = avg - noise * np.abs(rng.standard_normal(self.tags)) * 2
        vmax = avg + noise * np.abs(rng.standard_normal(self.tags)) * 2
        bucket = self.start_s + minute * MINUTE
        rows = list(
            zip(
                range(1, self.tags + 1),
                [bucket] * self.tags,
                points.tolist(),
                avg.tolist(),
                vmin.tolist(),
                vmax.tolist(),
                strict=True,
            )
        )
        where = subject(self.brn, self.plant, "rollup.1m")
        return [
            Outgoing(
                where,
                f"{self.brn}.{self.plant}.1m.{bucket}.{chunk}",
                encode("rows", rows[i : i + ROWS_PER_MESSAGE]),
                len(rows[i : i + ROWS_PER_MESSAGE]),
            )
            for chunk, i in enumerate(range(0, len(rows), ROWS_PER_MESSAGE))
        ]

    def keys(self, minutes: int | None = None) -> Iterator[tuple[str, str, int, int, int]]:
        """(firm, plant, tag, bucket, points) of every row of the first ``minutes`` (all by default)."""
        for minute in range(self.minutes if minutes is None else minutes):
            points = self._points(self._rng(minute)).tolist()
            bucket = self.start_s + minute * MINUTE
            for tag in range(self.tags):
                yield self.brn, self.plant, tag + 1, bucket, points[tag]

    def checksum(self, minutes: int | None = None) -> int:
        """The checksum of the rows of the first ``minutes`` (:func:`row_checksum` summed)."""
        return sum(row_checksum(*key) for key in self.keys(minutes))


@dataclass
class PlantStats:
    """What one plant did: messages and rows acknowledged by the hub, the hub's duplicates, failed tries."""

    messages: int = 0
    rows: int = 0
    bytes: int = 0
    duplicates: int = 0
    retries: int = 0
    first_publish: float | None = None  # time.monotonic()
    last_ack: float | None = None


class SimPlant:
    """One simulated plant: its connection as its firm, its buffer, its producer and publishing lanes."""

    def __init__(
        self,
        load: PlantLoad,
        url: str,
        password: str | None,
        *,
        in_flight: int = 8,
        minute_s: float = 0.0,
        timeout_s: float = 5.0,
        retry_s: float = 0.5,
    ) -> None:
        self.load, self.url, self.password = load, url, password
        self.in_flight, self.minute_s, self.timeout_s, self.retry_s = in_flight, minute_s, timeout_s, retry_s
        self.stats = PlantStats()
        self.produced = 0  # minutes made (into the buffer)
        self._waiting: deque[Outgoing] = deque()  # made, not yet published (or published and failed)
        self._unacked = 0  # published, acknowledgement awaited: still in the buffer too
        self._changed = asyncio.Event()
        self._room = asyncio.Event()
        self._stop = False
        self._finished = False
        self._nc: Any = None

    @property
    def buffered(self) -> int:
        """Messages in the buffer: made and not yet acknowledged by the hub."""
        return len(self._waiting) + self._unacked

    async def connect(self) -> None:
        login = {} if self.password is None else {"user": self.load.brn, "password": self.password}
        self._nc = await nats.connect(
            self.url,
            **login,
            inbox_prefix=inbox_prefix(self.load.brn).encode(),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            name=f"smart365-sim-{self.load.brn}",
        )
        self._js = self._nc.jetstream()

    def make_ahead(self) -> None:
        """Make every minute into the buffer now (off the clock of a benchmark: then only publishing is timed)."""
        for minute in range(self.produced, self.load.minutes):
            self._waiting.extend(self.load.messages(minute))
        self.produced = self.load.minutes

    def stop_producing(self) -> None:
        """Make no more minutes (what is in the buffer is still sent)."""
        self._stop = True
        self._room.set()

    async def run(self) -> PlantStats:
        """Make every minute and publish it; returns once the hub acknowledged everything made."""
        lanes = [asyncio.create_task(self._lane()) for _ in range(self.in_flight)]
        await self._produce()
        await asyncio.gather(*lanes)
        return self.stats

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for minute in range(self.produced, self.load.minutes):
            if self.minute_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped(), began + minute * self.minute_s - loop.time())
            else:
                while len(self._waiting) >= self.in_flight and not self._stop:  # the hub sets the pace
                    self._room.clear()
                    await self._room.wait()
            if self._stop:
                break
            self._waiting.extend(self.load.messages(minute))
            self.produced = minute + 1
            self._changed.set()
        self._finished = True
        self._changed.set()

    async def _stopped(self) -> None:
        while not self._stop:
            self._room.clear()
            await self._room.wait()

    async def _next(self) -> Outgoing | None:
        while not self._waiting:
            if self._finished:
                return None
            self._changed.clear()
            await self._changed.wait()
        self._room.set()
        return self._waiting.popleft()

    async def _lane(self) -> None:
        stats = self.stats
        while (message := await self._next()) is not None:
            self._unacked += 1
            if stats.first_publish is None:
                stats.first_publish = time.monotonic()
            try:
                ack = await self._js.publish(
                    message.subject,
                    message.body,
                    timeout=self.timeout_s,
                    stream=HUB_STREAM,
                    headers={"Nats-Msg-Id": message.msg_id},
                )
            except (nats.errors.Error, TimeoutError, OSError):  # the hub or the link is away: it stays buffered
                self._unacked -= 1
                stats.retries += 1
                self._waiting.appendleft(message)
                self._changed.set()
                await asyncio.sleep(self.retry_s)
                continue
            self._unacked -= 1
            stats.messages += 1
            stats.rows += message.rows
            stats.bytes += len(message.body)
            stats.duplicates += bool(ack.duplicate)
            stats.last_ack = time.monotonic()


@dataclass
class FleetStats:
    """The fleet's totals over a run, and the rate from the first publish to the last acknowledgement."""

    plants: int
    rows: int
    messages: int
    bytes: int
    duplicates: int
    retries: int
    first_publish: float | None
    last_ack: float | None

    @property
    def bytes_per_row(self) -> float:
        return self.bytes / self.rows if self.rows else float("nan")

    @property
    def rows_per_message(self) -> float:
        return self.rows / self.messages if self.messages else float("nan")


def fleet_loads(
    factories: int, tags: int, minutes: int, start_s: int | None = None, seed: int = SEED
) -> list[PlantLoad]:
    """The loads of ``factories`` simulated firms (firm ``i`` is :func:`firm_brn` ``(i)``)."""
    start = default_start() if start_s is None else start_s
    return [PlantLoad(firm_brn(i, seed), PLANT, tags, minutes, start, seed) for i in range(factories)]


class Fleet:
    """Simulated plants publishing to one hub, each as its own firm."""

    def __init__(
        self,
        url: str,
        passwords: dict[str, str],
        loads: list[PlantLoad],
        *,
        in_flight: int = 8,
        minute_s: float = 0.0,
    ) -> None:
        missing = [load.brn for load in loads if load.brn not in passwords]
        if missing:
            raise KeyError(f"{len(missing)} firms without a hub password, the first {missing[0]}")
        self.plants = [
            SimPlant(load, url, passwords[load.brn], in_flight=in_flight, minute_s=minute_s) for load in loads
        ]

    async def connect(self, at_once: int = 50) -> None:
        """Connect every plant to the hub as its firm (``at_once`` connections opening at a time)."""
        gate = asyncio.Semaphore(at_once)

        async def one(plant: SimPlant) -> None:
            async with gate:
                await plant.connect()

        await asyncio.gather(*(one(plant) for plant in self.plants))

    async def run(self, on_progress: Callable[[int], None] | None = None, every_s: float = 0.25) -> FleetStats:
        """Run every plant to the end; ``on_progress`` gets the rows acknowledged so far now and then."""
        runs = asyncio.gather(*(plant.run() for plant in self.plants))
        while on_progress is not None and not runs.done():
            on_progress(sum(plant.stats.rows for plant in self.plants))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(runs), every_s)
        await runs
        if on_progress is not None:
            on_progress(sum(plant.stats.rows for plant in self.plants))
        return self.stats()

    def stats(self) -> FleetStats:
        every = [plant.stats for plant in self.plants]
        firsts = [s.first_publish for s in every if s.first_publish is not None]
        lasts = [s.last_ack for s in every if s.last_ack is not None]
        return FleetStats(
            len(every),
            sum(s.rows for s in every),
            sum(s.messages for s in every),
            sum(s.bytes for s in every),
            sum(s.duplicates for s in every),
            sum(s.retries for s in every),
            min(firsts, default=None),
            max(lasts, default=None),
        )

    async def close(self) -> None:
        await asyncio.gather(*(plant.close() for plant in self.plants))


class PrivateHub:
    """A hub nats-server of its own (free ports, a temporary directory) with a user for each firm given.

    ``leaf_advertise`` (``host:port``) is the leaf-node address the hub tells leaf nodes: a WAN link's.
    """

    def __init__(
        self, passwords: dict[str, str], workdir: Path | None = None, *, leaf_advertise: str | None = None
    ) -> None:
        self.passwords = passwords
        self.centre_password = new_password()
        self._tmp = None if workdir is not None else tempfile.TemporaryDirectory(prefix="smart365-fleet-hub-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.port, self.leaf_port = free_port(), free_port()
        config = hub_config(self.port, self.leaf_port, self.workdir / "hub-js", passwords,
                            centre_password=self.centre_password, host="127.0.0.1",
                            leaf_advertise=leaf_advertise)  # fmt: skip
        self.server = NatsServer(config, self.workdir, "hub", self.port)

    @property
    def url(self) -> str:
        """Where clients connect (no credentials)."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def centre_url(self) -> str:
        return f"nats://{CENTRE_USER}:{self.centre_password}@127.0.0.1:{self.port}"

    def start(self) -> PrivateHub:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> PrivateHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def ensure_stream(centre_url: str) -> None:
    """Make the hub's stream (as the centre's workers do) before the first plant publishes."""
    nc = await nats.connect(centre_url)
    try:
        await ensure_hub_stream(nc.jetstream())
    finally:
        await nc.close()


def firm_passwords(loads: list[PlantLoad]) -> dict[str, str]:
    """A new password for each simulated firm (for a private hub)."""
    return {load.brn: new_password() for load in loads}


def users_file_passwords(path: Path) -> dict[str, str]:
    """The firms' passwords of a hub's user file (``smart365 fleet credential``'s JSON)."""
    data = json.loads(path.read_text())
    firms: dict[str, str] = data.get("firms", {})
    return firms


def register_firms(path: Path, loads: list[PlantLoad]) -> int:
    """Give the simulated firms missing from a hub's user file a password there; returns how many were added.

    The file is ``smart365 fleet credential``'s (``{"centre": {"password": …}, "firms": {brn: password}}``);
    write the hub's configuration from it again (``smart365 fleet hub-config``) and reload the hub.
    """
    data = json.loads(path.read_text()) if path.exists() else {"centre": {"password": new_password()}, "firms": {}}
    missing = [load.brn for load in loads if load.brn not in data["firms"]]
    data["firms"].update({brn: new_password() for brn in missing})
    path.write_text(json.dumps(data, indent=2))
    path.chmod(0o600)
    return len(missing)


@contextlib.contextmanager
def centre_database(admin_url: str, prefix: str = "smart365_fleet") -> Iterator[str]:
    """A fresh, migrated centre records database on the PostgreSQL at ``admin_url``, dropped afterwards."""
    from smart365.core import migrate

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored(url: str, brns: list[str] | None = None) -> tuple[int, int]:
    """(rows, checksum) of the centre's 1-minute rollups (of the firms ``brns`` only, when given)."""
    sql, args = CHECKSUM_SQL, ()
    if brns is not None:
        sql, args = f"{CHECKSUM_SQL} WHERE brn = ANY(%s)", ([*brns],)  # type: ignore[assignment]
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@dataclass
class Expected:
    """What was sent: rows and checksum."""

    rows: int = 0
    checksum: int = 0
    per_plant: dict[str, int] = field(default_factory=dict)


def expected(plants: list[SimPlant]) -> Expected:
    """Rows and checksum of every minute the plants made (computed again from the seed, off the clock)."""
    out = Expected()
    for plant in plants:
        out.rows += plant.load.tags * plant.produced
        out.checksum += plant.load.checksum(plant.produced)
        out.per_plant[plant.load.brn] = plant.load.tags * plant.produced
    return out


async def committed(centre_url: str, timeout_s: float = 600.0, poll_s: float = 0.1) -> tuple[float, int]:
    """Wait until the centre's workers acknowledged (so committed) every message of the hub's stream.

    Returns when (``time.monotonic()``) and the redeliveries: deliveries beyond one a message of the stream.
    """
    from nats.js.errors import NotFoundError

    from smart365.fleet.centre import CONSUMER

    nc = await nats.connect(centre_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            last = (await js.stream_info(HUB_STREAM)).state.last_seq
            with contextlib.suppress(NotFoundError):
                info = await js.consumer_info(HUB_STREAM, CONSUMER)
                if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= last:
                    delivered = info.delivered
                    extra = 0 if delivered is None else (delivered.consumer_seq or 0) - (delivered.stream_seq or 0)
                    return time.monotonic(), extra
            await asyncio.sleep(poll_s)
    finally:
        await nc.close()
    raise TimeoutError(f"the centre did not commit the hub's stream in {timeout_s:.0f} s")


@dataclass
class Report:
    """One simulated run against a private hub and centre: what was sent, what the centre holds, how fast."""

    sent: FleetStats
    expected: Expected
    stored_rows: int
    stored_checksum: int
    seconds: float  # from the first publish to the last message committed at the centre
    redelivered: int

    @property
    def lost(self) -> int:
        return self.expected.rows - self.stored_rows

    @property
    def exact(self) -> bool:
        """Every row arrived exactly once (count and checksum equal)."""
        return self.stored_rows == self.expected.rows and self.stored_checksum == self.expected.checksum

    @property
    def rows_per_s(self) -> float:
        return self.stored_rows / self.seconds if self.seconds > 0 else float("nan")


async def simulate_private(
    loads: list[PlantLoad],
    records_url: str,
    *,
    workers: int = 1,
    in_flight: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> Report:
    """Run the plants against a private hub with ``workers`` in-process centre workers writing ``records_url``."""
    from smart365.fleet.centre import CentreConsumer

    passwords = firm_passwords(loads)
    with PrivateHub(passwords) as hub:
        await ensure_stream(hub.centre_url)
        consumers = [CentreConsumer(hub.centre_url, libpq_url(records_url), ack_wait_s=10) for _ in range(workers)]
        fleet = Fleet(hub.url, passwords, loads, in_flight=in_flight)
        try:
            for consumer in consumers:
                await consumer.start()
            await fleet.connect()
            sent = await fleet.run(on_progress)
            done, redelivered = await committed(hub.centre_url)
        finally:
            await fleet.close()
            for consumer in consumers:
                await consumer.stop()
    rows, checksum = await asyncio.to_thread(stored, records_url)
    first = sent.first_publish if sent.first_publish is not None else done
    return Report(sent, expected(fleet.plants), rows, checksum, done - first, redelivered)
