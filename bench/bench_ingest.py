"""HTTP line-protocol ingest, Smart365 against InfluxDB 1.x: the same bytes, the same clients, interleaved.

Both servers run on this machine, started by this script: ``smart365 serve`` (embedded: SQLite records and a
DuckDB store; ``--shape server`` uses PostgreSQL for both) and Debian's ``influxd`` (its shipped WAL settings,
see ``store_influx.py``). Each *run* writes 1,000,000 points: 10 machines × 100 fields a line × 1,000 seconds,
``bench,machine=M3 f0=…,f1=…,…,f99=… <µs>``, cut into batches of 5,000 or 50,000 points and sent by 1 or 4
client threads with keep-alive connections. Smart365 takes them at ``POST /write?db=bench&precision=u`` (its
InfluxDB 1.x API) with a firm's API key, each series mapped to one of the firm's 1,000 registry tags; InfluxDB
takes the identical bodies at its own ``/write``. Every run of a pair writes a fresh second range on both
sides, so neither ever re-writes a point it holds; the order inside each pair alternates.

A run counts only when every request was answered 204. Afterwards both stores are counted: points lost =
points sent − points held. Last, one run's bodies are sent to Smart365 again: it must hold exactly as many
points as before (re-sends are idempotent), and the rate of that re-send is reported too.

``--shape server`` also measures a plain binary ``COPY`` of the same rows (tag id, time, value, quality) into
a table keyed on (tag id, time), in 50,000-row transactions from this process: the floor a PostgreSQL
store cannot beat, which Smart365's PostgreSQL shape is compared with.

Usage::

    .venv/bin/python bench/bench_ingest.py                      # embedded, both batch sizes, 1 and 4 clients
    .venv/bin/python bench/bench_ingest.py --shape server       # PostgreSQL shape, and the COPY floor
    .venv/bin/python bench/bench_ingest.py --pairs 1 --batches 50000 --clients 4
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
import store_influx
from bench_production import PG_ADMIN, free_port, wait_http

MACHINES = 10
FIELDS = 100
SECONDS = 1_000
POINTS = MACHINES * FIELDS * SECONDS
T0_US = 1_735_689_600_000_000  # 2025-01-01 00:00 UTC: every run writes its own 1,000 seconds after it


@dataclass(frozen=True)
class Case:
    batch_points: int
    clients: int

    def __str__(self) -> str:
        return f"{self.batch_points:,}-point batches, {self.clients} client{'s' if self.clients > 1 else ''}"


def bodies(run: int, batch_points: int) -> list[bytes]:
    """Run ``run``'s 1M points as line-protocol bodies of ``batch_points`` points, time-major."""
    rng = random.Random(run)
    lines_per_body = batch_points // FIELDS
    start = T0_US + run * SECONDS * 1_000_000
    lines = []
    for second in range(SECONDS):
        ts = start + second * 1_000_000
        for machine in range(MACHINES):
            fields = ",".join(f"f{f}={rng.uniform(0, 500):.3f}" for f in range(FIELDS))
            lines.append(f"bench,machine=M{machine} {fields} {ts}")
    return ["\n".join(lines[i : i + lines_per_body]).encode() for i in range(0, len(lines), lines_per_body)]


def send_all(port: int, path: str, headers: dict[str, str], batches: list[bytes], clients: int) -> float:
    """``batches`` over ``clients`` keep-alive connections; the wall seconds until the last 204."""
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in batches:
        work.put(body)
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 204:
                failures.append(f"{response.status} {answer[:300]!r}")
                return

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"a write was not answered 204: {failures[0]}")
    return spent


# -- Smart365 -----------------------------------------------------------------------------------------------


def seed(env: dict[str, str]) -> str:
    """A firm with 10 machines of 100 tags, each ``bench,machine=Mk fj`` series mapped to its tag; an API key."""
    os.environ.update(env)
    from bench_production import firm_with_line

    from smart365.bootstrap import records
    from smart365.core.api_keys import create_key
    from smart365.core.settings import Settings
    from smart365.core.tenancy import SYSTEM
    from smart365.registry.models import Equipment, Tag
    from smart365.telemetry.models import SeriesMapping
    from smart365.telemetry.signals import digest

    db = records(Settings())
    with db.session(SYSTEM) as session:
        firm, line = firm_with_line(session, "수집 정밀")
        for machine in range(MACHINES):
            equipment = Equipment(company_id=firm.id, line_id=line.id, name=f"M{machine}", kind="cnc")
            session.add(equipment)
            session.flush()
            tags = [Tag(company_id=firm.id, equipment_id=equipment.id, name=f"f{f}") for f in range(FIELDS)]
            session.add_all(tags)
            session.flush()
            for field, tag in enumerate(tags):
                series = f"bench,machine=M{machine} f{field}"
                session.add(SeriesMapping(company_id=firm.id, series=series, series_sha256=digest(series),
                                          tag_id=tag.id))  # fmt: skip
        key = create_key(session, firm.id, "bench", created_by="bench")[1]
    db.dispose()
    return key


class Smart365:
    """``smart365 serve`` on a free port, over a fresh data directory (and fresh PostgreSQL databases)."""

    def __init__(self, shape: str) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="smart365-bench-ingest-"))
        self.env = {"SMART365_DATA_DIR": str(self.work), "SMART365_SECRET_KEY": "bench", "SMART365_WARM_UP": "false",
                    "SMART365_COLLECT": "false"}  # fmt: skip
        self.databases: list[str] = []
        if shape == "server":
            self.databases = [f"bench_ingest_{uuid.uuid4().hex[:8]}_{kind}" for kind in ("records", "ts")]
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                for name in self.databases:
                    admin.execute(f"CREATE DATABASE {name}")
            base = PG_ADMIN.rsplit("/", 1)[0]
            self.env["SMART365_DATABASE_URL"] = (
                f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{self.databases[0]}"
            )
            self.env["SMART365_TIMESERIES_URL"] = f"{base}/{self.databases[1]}"
        key = seed(self.env)
        self.headers = {"Authorization": f"Token {key}", "Content-Type": "text/plain; charset=utf-8"}
        self.port = free_port()
        self._log = (self.work / "serve.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "smart365", "serve", "--port", str(self.port)],
                                     env={**os.environ, **self.env}, stdout=self._log, stderr=self._log)  # fmt: skip
        wait_http(f"http://127.0.0.1:{self.port}")

    def write(self, batches: list[bytes], clients: int) -> float:
        return send_all(self.port, "/write?db=bench&precision=u", self.headers, batches, clients)

    def rss_mb(self) -> float:
        return _status_mb(self.proc.pid, "VmRSS:")

    def held(self) -> int:
        """Points in the store, counted after a clean stop (the embedded store is one process's file)."""
        self.stop()
        from smart365.telemetry.store import open_store

        target = self.env.get("SMART365_TIMESERIES_URL") or str(self.work / "timeseries.duckdb")
        with open_store(target) as store:
            return store.count()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def close(self) -> None:
        self.stop()
        if self.databases:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                for name in self.databases:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- InfluxDB -----------------------------------------------------------------------------------------------


class Influx(store_influx.Influx):
    def write_all(self, batches: list[bytes], clients: int) -> float:
        return send_all(self.port, "/write?db=bench&precision=u", {}, batches, clients)

    def held(self) -> int:
        series = self.query("SELECT count(*) FROM bench")
        return sum(int(v) for v in series[0]["values"][0][1:]) if series else 0


# -- a plain binary COPY into a keyed table (the PostgreSQL floor) ------------------------------------------


def copy_floor(batches: list[bytes], run: int) -> float:
    """The same rows as ``batches`` (parsed here, outside the clock) by binary ``COPY``, 50k rows a commit."""
    import numpy as np

    from smart365.telemetry.store import _PG_SIGNATURE, _POINT_KINDS, encode_pg_binary

    table = f"bench_copy_{uuid.uuid4().hex[:8]}"
    chunks = []
    for body in batches:
        lines = body.decode().split("\n")
        values = np.array([[float(kv.split("=")[1]) for kv in line.split(" ")[1].split(",")] for line in lines])
        machine = np.array([int(line.split(" ")[0].split("=M")[1]) for line in lines])
        ts = np.array([int(line.rsplit(" ", 1)[1]) for line in lines], dtype=np.int64)
        tag = (machine[:, None] * FIELDS + np.arange(FIELDS)[None, :]).ravel().astype(np.int64)
        columns = [tag, np.repeat(ts, FIELDS), values.ravel(), np.full(len(tag), 192, dtype=np.int16)]
        chunks.append(encode_pg_binary(columns, _POINT_KINDS))
    with psycopg.connect(PG_ADMIN) as conn:
        conn.execute(f"CREATE TABLE {table} (tag_id bigint, ts timestamptz, value double precision, "
                     "quality smallint, PRIMARY KEY (tag_id, ts))")  # fmt: skip
        conn.commit()
        try:
            started = time.perf_counter()
            for chunk in chunks:
                with conn.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)".encode()) as copy:
                    copy.write(_PG_SIGNATURE + bytes(8) + chunk + b"\xff\xff")
                conn.commit()
            return time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE {table}")
            conn.commit()


# -- the table ----------------------------------------------------------------------------------------------


def ratio_cells(ours: list[float], peer: list[float]) -> str:
    """min / median / max of the pairwise ratios (ours ÷ peer, in points per second)."""
    ratios = sorted(o / p for o, p in zip(ours, peer, strict=True))
    return f"{ratios[0]:.2f}× / {statistics.median(ratios):.2f}× / {ratios[-1]:.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=("embedded", "server"), default="embedded")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved pairs per case")
    parser.add_argument("--batches", default="5000,50000", help="points per request, comma-separated")
    parser.add_argument("--clients", default="1,4", help="client threads, comma-separated")
    args = parser.parse_args()
    cases = [Case(int(b), int(c)) for b in args.batches.split(",") for c in args.clients.split(",")]
    started = time.time()
    ours, peer = Smart365(args.shape), Influx()
    rates: dict[Case, dict[str, list[float]]] = {case: {"ours": [], "peer": [], "copy": []} for case in cases}
    try:
        idle_rss = ours.rss_mb()
        run = 0
        for case in cases:
            for pair in range(args.pairs):
                batches = bodies(run, case.batch_points)
                sides = [("ours", ours.write), ("peer", peer.write_all)]
                for side, write in sides if pair % 2 == 0 else sides[::-1]:
                    spent = write(batches, case.clients)
                    rates[case][side].append(POINTS / spent)
                    print(f"{case}, pair {pair + 1}: {side} {POINTS / spent:,.0f} points/s", flush=True)
                if args.shape == "server":
                    rates[case]["copy"].append(POINTS / copy_floor(batches, run))
                run += 1
        busy_rss = ours.rss_mb()
        again = bodies(0, cases[0].batch_points)
        resend = POINTS / ours.write(again, cases[0].clients)
        sent = run * POINTS
        held, peer_held = ours.held(), peer.held()
    finally:
        ours.close()
        peer.close()
    shape = "embedded (SQLite + DuckDB)" if args.shape == "embedded" else "server (PostgreSQL records and store)"
    print(f"\n# .venv/bin/python bench/bench_ingest.py --shape {args.shape} --pairs {args.pairs} "
          f"--batches {args.batches} --clients {args.clients}")  # fmt: skip
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {time.time() - started:.0f} s, "
          f"{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}; Smart365 {shape}")  # fmt: skip
    print("# points per second over HTTP, 1,000,000 points a run, 100 fields a line; ratio = Smart365 ÷ InfluxDB")
    print("| case | Smart365 median | InfluxDB 1.x median | ratio min / median / max |"
          + (" binary COPY median | vs COPY min / median / max |" if args.shape == "server" else ""))  # fmt: skip
    print("|---|---|---|---|" + ("---|---|" if args.shape == "server" else ""))
    for case in cases:
        r = rates[case]
        row = f"| {case} | {statistics.median(r['ours']):,.0f} | {statistics.median(r['peer']):,.0f} | " \
              f"{ratio_cells(r['ours'], r['peer'])} |"  # fmt: skip
        if args.shape == "server":
            row += f" {statistics.median(r['copy']):,.0f} | {ratio_cells(r['ours'], r['copy'])} |"
        print(row)
    print(f"\npoints sent {sent:,}; held by Smart365 {held:,} (lost {sent - held:,}); "
          f"held by InfluxDB {peer_held:,} (lost {sent - peer_held:,})")  # fmt: skip
    print(f"re-send of run 1 ({cases[0]}): {resend:,.0f} points/s, held afterwards {held:,} "
          f"({'unchanged' if held == sent else 'CHANGED'})")  # fmt: skip
    print(f"Smart365 server RSS: idle after start {idle_rss:.0f} MB, after the runs {busy_rss:.0f} MB")


if __name__ == "__main__":
    main()
