"""The fleet's uplink at scale: simulated plants → the hub's JetStream → centre workers → PostgreSQL.

What runs, all on this machine and started by this script: one hub ``nats-server`` (JetStream on disk in a
temporary directory, a user for every simulated firm with the firm's permissions), PostgreSQL (a fresh,
migrated centre records database for every run, dropped after it), centre workers as real
``python -m smart365 worker --role centre`` subprocesses (the production path: one durable pull consumer
``centre-writer`` shared by the workers, one PostgreSQL transaction a batch, acknowledged after commit) and the
simulator (:mod:`smart365.sim.fleet`, one process: every plant an asyncio task with its own firm, NATS
connection and in-memory buffer, rows made from a seed, 8 publishes in flight a plant). In (a) and (c) the
plants make all their rows into their buffers before the clock starts (``--no-make-ahead``: on the fly, as
the buffers empty), so the clock counts the simulator's publishing but not its making of JSON.

The machine has 2 cores, shared by the hub, PostgreSQL, the simulator and the workers: every rate below is
what the whole chain does on those 2 cores, not what one part would do on its own.

Runs (each on a fresh hub stream and a fresh database):

(a) throughput: ``--factories`` plants × ``--tags`` tags × ``--minutes`` minutes of 1-minute rollups (one
    message a plant a minute, ``tags`` rows in it), as fast as the hub takes them, with 1 worker and then 2.
    rows_per_s = rows sent ÷ seconds from the first publish to the moment the workers' consumer has
    acknowledged (so committed) the stream's last message; rows_per_s_per_worker = rows_per_s ÷ workers.
(b) outage: one plant (firm 0) behind a real leaf-node ``nats-server`` (``leaf_config``) whose link to the
    hub goes through a :class:`~smart365.sim.wan.WanLink`. The plant is the simulator's, with its in-memory
    buffer (not ``smart365.fleet.uplink``'s outbox stream: that one is covered by
    ``tests/fleet/test_fleet_leaf_nodes.py``); it makes one minute of rollups every ``--outage-minute-s`` real
    seconds throughout. After ``--warm-s`` the link is cut for ``--outage-s`` seconds, then restored, and the
    plant stops making new minutes at the restore; catch_up_s = seconds from the restore to the moment its
    last row is committed at the centre.
(c) a killed worker: the load of (a) with 2 workers; when about a third of the stream is committed one
    worker is killed (SIGKILL); its unacknowledged messages go to the other after ``--ack-wait-s``.

(d) drain (a diagnostic, only with ``--runs …,drain``; in the table, not in the JSON): the load of (a) is
    put in the hub's stream first, then the workers start; the rate counts from the hub's first delivery to a
    worker to the last commit, so it is the workers' and PostgreSQL's without the simulator beside them.

Every run ends with the centre counted: rows and a checksum of (firm, plant, tag, bucket, points) over
``fleet_rollup_1m`` against the same of what was sent (computed again from the seed, off the clock):
lost = rows sent − rows stored; a wrong checksum fails the run. PostgreSQL's primary key makes a duplicate
row impossible, so duplicates are reported where they are visible instead: the hub's (a plant's publish the
hub had already, dropped by ``Nats-Msg-Id``), the consumer's redeliveries (deliveries beyond one a message)
and the rows the workers found already stored (their ``smart365_fleet_rows{result="already_stored"}``).

Output: a table on stdout and, with ``--json OUT``, one JSON object a line, a line a run in the order above
((a) with each ``--workers``, then (b), then (c)), with exactly the keys factories, tags, workers, rows_per_s,
rows_per_s_per_worker, outage_s, lost, catch_up_s (null where one does not apply). Progress goes to stderr.

Usage::

    .venv/bin/python bench/bench_fleet.py --json bench/output/bench_fleet.jsonl | tee bench/output/bench_fleet.txt
    .venv/bin/python bench/bench_fleet.py --factories 20 --minutes 1 --outage-s 10 --json /tmp/f.jsonl  # small
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.js.errors import NotFoundError

from smart365.fleet.centre import CONSUMER
from smart365.fleet.nats_config import NatsServer, free_port, leaf_config
from smart365.fleet.wire import HUB_STREAM, ROWS_PER_MESSAGE
from smart365.sim.fleet import (
    Fleet,
    FleetStats,
    PrivateHub,
    SimPlant,
    centre_database,
    committed,
    ensure_stream,
    expected,
    firm_passwords,
    fleet_loads,
    stored,
)
from smart365.sim.wan import WanLink

PG_ADMIN = os.environ.get("SMART365_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KEYS = ("factories", "tags", "workers", "rows_per_s", "rows_per_s_per_worker", "outage_s", "lost", "catch_up_s")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Result:
    """One run: the JSON record's values and what the table shows besides."""

    name: str
    factories: int
    tags: int
    workers: int
    rows_per_s: float | None
    outage_s: float | None
    lost: int
    catch_up_s: float | None
    rows: int
    exact: bool
    seconds: float
    hub_duplicates: int
    redelivered: int
    already_stored: int
    bytes_per_row: float
    rows_per_message: float
    sim_cpu_s: float
    per_worker: list[int | None]
    stream_bytes_per_message: float

    def record(self) -> dict[str, Any]:
        per_worker = None if self.rows_per_s is None else round(self.rows_per_s / self.workers, 1)
        rate = None if self.rows_per_s is None else round(self.rows_per_s, 1)
        catch_up = None if self.catch_up_s is None else round(self.catch_up_s, 2)
        values = (self.factories, self.tags, self.workers, rate, per_worker, self.outage_s, self.lost, catch_up)
        return dict(zip(KEYS, values, strict=True))


class Workers:
    """``smart365 worker --role centre`` subprocesses, each with its /metrics port."""

    def __init__(self, count: int, records_url: str, hub_url: str, workdir: Path, ack_wait_s: float) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.procs: list[subprocess.Popen[bytes]] = []
        for number, port in enumerate(self.ports):
            env = {**os.environ, "SMART365_DATABASE_URL": records_url, "SMART365_FLEET_HUB_URL": hub_url,
                   "SMART365_DATA_DIR": str(workdir / f"worker-{number}"),
                   "SMART365_FLEET_ACK_WAIT_S": str(ack_wait_s)}  # fmt: skip
            out = (workdir / f"worker-{number}.log").open("wb")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "smart365", "worker", "--role", "centre", "--metrics-port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT))  # fmt: skip

    async def ready(self, centre_url: str, timeout_s: float = 120.0) -> None:
        """Until every worker has a pull request waiting on the consumer."""
        nc = await nats.connect(centre_url)
        try:
            js = nc.jetstream()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for proc in self.procs:
                    if proc.poll() is not None:
                        raise RuntimeError(f"a centre worker exited with {proc.returncode}")
                try:
                    info = await js.consumer_info(HUB_STREAM, CONSUMER)
                    if (info.num_waiting or 0) >= len(self.procs):
                        return
                except NotFoundError:
                    pass
                await asyncio.sleep(0.2)
        finally:
            await nc.close()
        raise TimeoutError("the centre workers did not start")

    def metric(self, number: int, result: str) -> int | None:
        """A live worker's ``smart365_fleet_rows_total{kind="rollup.1m", result=…}`` (None for a dead one)."""
        if self.procs[number].poll() is not None:
            return None
        url = f"http://127.0.0.1:{self.ports[number]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        wanted = f'smart365_fleet_rows_total{{kind="rollup.1m",result="{result}"}}'
        return sum(int(float(line.split()[-1])) for line in text.splitlines() if line.startswith(wanted))

    def kill(self, number: int) -> None:
        os.kill(self.procs[number].pid, signal.SIGKILL)
        self.procs[number].wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def centre(workers: int, hub: PrivateHub, ack_wait_s: float) -> Iterator[tuple[str, Workers]]:
    """A fresh centre database and ``workers`` worker subprocesses writing it from ``hub``."""
    with centre_database(PG_ADMIN) as url, tempfile.TemporaryDirectory(prefix="smart365-bench-fleet-") as tmp:
        pool = Workers(workers, url, hub.centre_url, Path(tmp), ack_wait_s)
        try:
            yield url, pool
        finally:
            pool.stop()


async def kill_at(fraction: float, total: int, centre_url: str, workers: Workers) -> None:
    """SIGKILL worker 0 once ``fraction`` of ``total`` messages are committed."""
    nc = await nats.connect(centre_url)
    try:
        js = nc.jetstream()
        while True:
            with_info = await js.consumer_info(HUB_STREAM, CONSUMER)
            if with_info.ack_floor is not None and (with_info.ack_floor.stream_seq or 0) >= fraction * total:
                workers.kill(0)
                log(f"  worker 0 killed at stream sequence {with_info.ack_floor.stream_seq:,} of {total:,}")
                return
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def throughput(args: argparse.Namespace, workers: int, kill: bool = False) -> Result:
    loads = fleet_loads(args.factories, args.tags, args.minutes)
    passwords = firm_passwords(loads)
    name = f"{'killed worker' if kill else 'throughput'}, {workers} worker{'s' if workers > 1 else ''}"
    log(f"{name}: {args.factories:,} plants × {args.tags} tags × {args.minutes} min")
    with PrivateHub(passwords) as hub, centre(workers, hub, args.ack_wait_s) as (url, pool):
        await ensure_stream(hub.centre_url)
        await pool.ready(hub.centre_url)
        fleet = Fleet(hub.url, passwords, loads, in_flight=args.in_flight)
        await fleet.connect()
        if args.make_ahead:
            for plant in fleet.plants:
                plant.make_ahead()
        log(f"  {len(fleet.plants):,} plants connected; publishing")
        cpu = time.process_time()
        killer = None
        if kill:
            total_messages = sum(-(-load.tags // ROWS_PER_MESSAGE) for load in loads) * args.minutes
            killer = asyncio.create_task(kill_at(args.kill_at, total_messages, hub.centre_url, pool))
        try:
            sent = await fleet.run()
            done, redelivered = await committed(hub.centre_url, timeout_s=args.timeout_s)
            if killer is not None:
                await killer
        finally:
            await fleet.close()
        sim_cpu = time.process_time() - cpu
        already = [pool.metric(n, "already_stored") or 0 for n in range(workers)]
        per_worker = [pool.metric(n, "stored") for n in range(workers)]
        rows, checksum = stored(url)
        stream = await stream_size(hub.centre_url)
    want = expected(fleet.plants)
    seconds = done - (sent.first_publish or done)
    return _result(name, args, workers, want.rows / seconds, None, want.rows - rows, None, want.rows,
                   rows == want.rows and checksum == want.checksum, seconds, sent, redelivered, sum(already),
                   sim_cpu, per_worker, stream)  # fmt: skip


def _result(name: str, args: argparse.Namespace, workers: int, rate: float | None, outage_s: float | None,
            lost: int, catch_up_s: float | None, rows: int, exact: bool, seconds: float, sent: FleetStats,
            redelivered: int, already: int, sim_cpu: float, per_worker: list[int | None], stream: float,
            factories: int | None = None) -> Result:  # fmt: skip
    return Result(name, args.factories if factories is None else factories, args.tags, workers, rate, outage_s,
                  lost, catch_up_s, rows, exact, seconds, sent.duplicates, redelivered, already,
                  sent.bytes_per_row, sent.rows_per_message, sim_cpu, per_worker, stream)  # fmt: skip


async def stream_size(centre_url: str) -> float:
    """Bytes the hub's stream holds a message (body, subject, headers and the store's own framing)."""
    nc = await nats.connect(centre_url)
    try:
        state = (await nc.jetstream().stream_info(HUB_STREAM)).state
    finally:
        await nc.close()
    return state.bytes / state.messages if state.messages else float("nan")


async def outage(args: argparse.Namespace) -> Result:
    loads = fleet_loads(1, args.tags, 1_000_000)  # minutes: made until the restore
    passwords = firm_passwords(loads)
    brn = loads[0].brn
    log(f"outage: 1 plant × {args.tags} tags behind a leaf node, a minute every {args.outage_minute_s} s, "
        f"cut {args.outage_s:g} s")  # fmt: skip
    link_port = free_port()
    with (
        PrivateHub(passwords, leaf_advertise=f"127.0.0.1:{link_port}") as hub,
        centre(1, hub, args.ack_wait_s) as (url, pool),
    ):
        await ensure_stream(hub.centre_url)
        await pool.ready(hub.centre_url)
        link = WanLink(link_port, "127.0.0.1", hub.leaf_port)
        await link.restore()
        leaf_port = free_port()
        conf = leaf_config(leaf_port, f"nats://127.0.0.1:{link.port}", brn, passwords[brn], hub.workdir / "leaf-js",
                           plant="sim")  # fmt: skip
        leaf = NatsServer(conf, hub.workdir, "leaf", leaf_port).start()
        plant = SimPlant(loads[0], f"nats://127.0.0.1:{leaf_port}", None, in_flight=args.in_flight,
                         minute_s=args.outage_minute_s)  # fmt: skip
        try:
            await asyncio.sleep(2.0)  # the leaf node joins the hub
            await plant.connect()
            cpu = time.process_time()
            running = asyncio.create_task(plant.run())
            await asyncio.sleep(args.warm_s)
            await link.cut()
            log(f"  link cut at minute {plant.produced}; {args.outage_s:g} s")
            await asyncio.sleep(args.outage_s)
            log(f"  restored at minute {plant.produced}, {plant.buffered:,} messages buffered")
            await link.restore()
            restored = time.monotonic()
            plant.stop_producing()
            await running
            done, redelivered = await committed(hub.centre_url, timeout_s=args.timeout_s)
            sim_cpu = time.process_time() - cpu
        finally:
            await plant.close()
            leaf.stop()
            await link.cut()
        already = [pool.metric(0, "already_stored") or 0]
        per_worker = [pool.metric(0, "stored")]
        rows, checksum = stored(url)
        stream = await stream_size(hub.centre_url)
    want = expected([plant])
    sent = FleetStats(1, plant.stats.rows, plant.stats.messages, plant.stats.bytes, plant.stats.duplicates,
                      plant.stats.retries, plant.stats.first_publish, plant.stats.last_ack)  # fmt: skip
    log(f"  {plant.stats.retries:,} publishes refused during the cut and tried again")
    return _result("outage, 1 worker", args, 1, None, args.outage_s, want.rows - rows, done - restored, want.rows,
                   rows == want.rows and checksum == want.checksum, done - (sent.first_publish or done), sent,
                   redelivered, sum(already), sim_cpu, per_worker, stream, factories=1)  # fmt: skip


async def first_delivery(centre_url: str, timeout_s: float = 120.0) -> float:
    """When the hub first handed a message of its stream to a worker (``time.monotonic()``)."""
    nc = await nats.connect(centre_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(HUB_STREAM, CONSUMER)
                if info.delivered is not None and (info.delivered.stream_seq or 0) > 0:
                    return time.monotonic()
            except NotFoundError:
                pass
            await asyncio.sleep(0.01)
    finally:
        await nc.close()
    raise TimeoutError("the centre workers took nothing")


async def drain(args: argparse.Namespace, workers: int) -> Result:
    """The stream filled first, then drained: the workers' rate without the simulator beside them."""
    loads = fleet_loads(args.factories, args.tags, args.minutes)
    passwords = firm_passwords(loads)
    name = f"drain, {workers} worker{'s' if workers > 1 else ''}"
    log(f"{name}: the stream filled with {args.factories:,} plants × {args.tags} tags × {args.minutes} min first")
    with (
        PrivateHub(passwords) as hub,
        centre_database(PG_ADMIN) as url,
        tempfile.TemporaryDirectory(prefix="smart365-bench-fleet-") as tmp,
    ):
        await ensure_stream(hub.centre_url)
        fleet = Fleet(hub.url, passwords, loads, in_flight=args.in_flight)
        await fleet.connect()
        try:
            sent = await fleet.run()
        finally:
            await fleet.close()
        pool = Workers(workers, url, hub.centre_url, Path(tmp), args.ack_wait_s)
        try:
            began = await first_delivery(hub.centre_url)
            done, redelivered = await committed(hub.centre_url, timeout_s=args.timeout_s)
            already = [pool.metric(n, "already_stored") or 0 for n in range(workers)]
            per_worker = [pool.metric(n, "stored") for n in range(workers)]
        finally:
            pool.stop()
        rows, checksum = stored(url)
        stream = await stream_size(hub.centre_url)
    want = expected(fleet.plants)
    return _result(name, args, workers, want.rows / (done - began), None, want.rows - rows, None, want.rows,
                   rows == want.rows and checksum == want.checksum, done - began, sent, redelivered, sum(already),
                   0.0, per_worker, stream)  # fmt: skip


def table(results: list[Result], args: argparse.Namespace, started: float, argv: list[str]) -> None:
    print(f"\n# .venv/bin/python bench/bench_fleet.py {' '.join(argv)}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {time.time() - started:.0f} s, "
          f"{os.cpu_count()} CPUs shared by the hub, PostgreSQL, the simulator and the workers; "
          f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(
        "| run | plants × tags × min | rows | seconds | rows/s | rows/s per worker | rows per worker | lost | "
        "exactly once | outage s | catch-up s | hub dup. / redelivered / already stored | sim CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        shape = f"{r.factories:,} × {r.tags} × {r.rows // (r.factories * r.tags):,}"
        rate = "—" if r.rows_per_s is None else f"{r.rows_per_s:,.0f}"
        per = "—" if r.rows_per_s is None else f"{r.rows_per_s / r.workers:,.0f}"
        each = " / ".join("killed" if n is None else f"{n:,}" for n in r.per_worker)
        print(f"| {r.name} | {shape} | {r.rows:,} | {r.seconds:.1f} | {rate} | {per} | "
              f"{each} | {r.lost:,} | {'yes' if r.exact else 'NO'} | "
              f"{'—' if r.outage_s is None else f'{r.outage_s:g}'} | "
              f"{'—' if r.catch_up_s is None else f'{r.catch_up_s:.1f}'} | "
              f"{r.hub_duplicates:,} / {r.redelivered:,} / {r.already_stored:,} | {r.sim_cpu_s:.1f} |")  # fmt: skip
    sizes = [r for r in results if r.rows_per_s is not None] or results
    print(f"\nwire: {sizes[0].bytes_per_row:.1f} bytes of JSON body a row, {sizes[0].rows_per_message:,.0f} rows a "
          f"message; the hub's stream holds {sizes[0].stream_bytes_per_message:,.0f} bytes a message "
          "(subject, headers and its own framing included)")  # fmt: skip


async def main_async(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    runs = set(args.runs.split(","))
    for workers in (int(w) for w in args.workers.split(",")):
        if "throughput" in runs:
            results.append(await throughput(args, workers))
            log(f"  {results[-1].record()}")
    if "outage" in runs:
        results.append(await outage(args))
        log(f"  {results[-1].record()}")
    if "kill" in runs:
        results.append(await throughput(args, 2, kill=True))
        log(f"  {results[-1].record()}")
    for workers in (int(w) for w in args.workers.split(",")):
        if "drain" in runs:
            results.append(await drain(args, workers))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write one JSON record a run here (JSON lines)")
    parser.add_argument("--factories", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--minutes", type=int, default=10, help="minutes of 1-minute rollups a plant sends")
    parser.add_argument("--workers", default="1,2", help="centre workers of the throughput runs")
    parser.add_argument("--runs", default="throughput,outage,kill", help="which runs, comma-separated")
    parser.add_argument("--in-flight", type=int, default=8, help="unacknowledged publishes a plant")
    parser.add_argument("--make-ahead", action=argparse.BooleanOptionalAction, default=True,
                        help="(a), (c): plants make their rows into their buffers before the clock starts")  # fmt: skip
    parser.add_argument("--outage-s", type=float, default=600.0, help="how long the plant's link is cut")
    parser.add_argument("--outage-minute-s", type=float, default=1.0, help="real seconds a simulated minute")
    parser.add_argument("--warm-s", type=float, default=10.0, help="seconds the plant runs before the cut")
    parser.add_argument("--ack-wait-s", type=float, default=5.0, help="SMART365_FLEET_ACK_WAIT_S of the workers")
    parser.add_argument("--kill-at", type=float, default=0.33, help="share of the stream committed at the kill")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="longest wait for the centre to commit")
    argv = sys.argv[1:]
    args = parser.parse_args()
    started = time.time()
    results = asyncio.run(main_async(args))
    if args.json is not None:
        records = [r.record() for r in results if not r.name.startswith("drain")]
        args.json.write_text("".join(json.dumps(record) + "\n" for record in records))
    table(results, args, started, argv)
    if not all(r.exact and r.lost == 0 for r in results):
        sys.exit("some row was lost or changed")


if __name__ == "__main__":
    main()
