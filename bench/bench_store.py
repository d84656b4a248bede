"""Time-series store benchmark: batch ingest, MQTT end to end, downsampled range latency and peak memory,
our DuckDB and PostgreSQL stores side by side with InfluxDB 1.x (the server a small factory would otherwise run).

Every phase runs in a fresh process (so each peak RSS is that phase's own):

- **ingest**: ``--tags`` × ``--points-per-tag`` points at 1 s (default 100 × 100,000 = 10M), appended in
  time-major batches of ``--batch-size`` (every tag at consecutive seconds, as a live connector sends them).
  The rate counts only ``store.append`` (commit and rollup merges included), not data generation; for
  InfluxDB only the HTTP write of the ready line-protocol body.
- **query**: ``--query-tags`` tags over ``--query-days`` days. DuckDB and InfluxDB store them at
  ``--query-step-s`` (default 1 s: 20 × 30 days = 51.8M points). PostgreSQL stores them at ``--pg-query-step-s``
  (default 10 s) to keep the run short; a 30-day query at max_points=1000 reads hourly and minute rollups plus
  raw points only at the ragged edges, so the raw density changes what is read only at those edges.
  Queries run ``--repeat`` times with start/end off the minute (median and p95 reported after a cold run).
  InfluxDB answers the same question with ``GROUP BY time()`` and min/max/mean/count over the same buckets
  (timed through its HTTP API, JSON decoded: what a chart backed by it would pay).
- **MQTT end to end** (``bench/store_mqtt.py``): paced QoS 1 publishers through the real Mosquitto
  (``--mqtt-host``/``--mqtt-port``, default 127.0.0.1:1883) into the project's MQTT connector → ingest worker
  (pipeline, group commit) → DuckDB; points stored are counted against points the broker acknowledged.
- **InfluxDB 1.x** (``bench/store_influx.py``): ``influxd`` from Debian's ``influxdb`` package, started here
  on loopback with a temporary directory and free ports, stopped and deleted afterwards.

Usage::

    .venv/bin/python bench/bench_store.py            # everything, default sizes (8-10 min on 2 cores)
    .venv/bin/python bench/bench_store.py --quick    # small sizes for a fast look (~2 min)
    .venv/bin/python bench/bench_store.py --backends duckdb,influxdb --mqtt-brokers ''

PostgreSQL: ``--pg-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); a scratch database
is created and dropped. DuckDB files go to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import numpy as np
import psycopg
import store_influx
import store_mqtt

from smart365.telemetry.batch import Batch
from smart365.telemetry.store import DuckDBStore, PostgresStore, TimeSeriesStore, plan_buckets

T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
SECOND = 1_000_000
DAY = 86_400 * SECOND


BACKENDS = {"duckdb": "DuckDB (ours)", "postgres": "PostgreSQL (ours)", "influxdb": "InfluxDB 1.x"}


@dataclass(frozen=True)
class Row:
    backend: str
    measure: str
    value: str
    note: str = ""
    number: float = float("nan")  # the value as a number, for the DuckDB vs InfluxDB column
    better: str = ""  # "higher" or "lower"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_major_batches(tags: int, seconds: int, step_s: int, batch_size: int) -> Iterator[Batch]:
    """Every tag at each timestamp, ``batch_size`` points per batch (rounded to whole timestamps)."""
    per_batch = max(1, batch_size // tags)
    rng = np.random.default_rng(42)
    tag_ids = np.arange(1, tags + 1, dtype=np.int64)
    for first in range(0, seconds, per_batch * step_s):
        ts = T0 + np.arange(first, min(first + per_batch * step_s, seconds), step_s, dtype=np.int64) * SECOND
        phase = (ts[:, None] / (600 * SECOND) + tag_ids[None, :]).ravel()
        values = np.round(50 + 20 * np.sin(phase) + rng.normal(0, 0.5, phase.size), 2)
        yield Batch.from_columns(np.tile(tag_ids, len(ts)), np.repeat(ts, tags), values)


def open_backend(backend: str, target: str, threads: int) -> TimeSeriesStore:
    return DuckDBStore(target, threads=threads) if backend == "duckdb" else PostgresStore(target)


def load(store: TimeSeriesStore, batches: Iterator[Batch], label: str) -> tuple[int, float]:
    """Append every batch; returns points stored and seconds spent inside ``append``."""
    points, spent, last_report = 0, 0.0, time.perf_counter()
    for batch in batches:
        start = time.perf_counter()
        points += store.append(batch)
        spent += time.perf_counter() - start
        if time.perf_counter() - last_report > 10:
            log(f"  {label}: {points:,} points, {points / spent:,.0f} points/s so far")
            last_report = time.perf_counter()
    return points, spent


def ingest_phase(backend: str, target: str, args: argparse.Namespace) -> list[Row]:
    """The ingest benchmark, run in its own process."""
    with open_backend(backend, target, args.threads) as store:
        batches = time_major_batches(args.tags, args.points_per_tag, 1, args.batch_size)
        points, spent = load(store, batches, f"{backend} ingest")
        again = next(time_major_batches(args.tags, args.points_per_tag, 1, args.batch_size))
        start = time.perf_counter()
        assert store.append(again) == 0  # a re-delivered batch stores nothing
        redelivery_ms = (time.perf_counter() - start) * 1000
    shape = f"{args.tags} tags x {args.points_per_tag:,} s, batches of {args.batch_size:,}"
    return [
        rate_row(backend, "ingest points/s", points, spent, f"{points:,} points ({shape})"),
        ms_row(backend, "re-delivered batch", redelivery_ms, f"{args.batch_size:,} points, 0 new"),
        mb_row(backend, "peak RSS, ingest", peak_rss_mb(), "whole process"),
    ]


def rate_row(backend: str, measure: str, points: int, spent: float, note: str) -> Row:
    return Row(backend, measure, f"{points / spent:,.0f}", note, points / spent, "higher")


def ms_row(backend: str, measure: str, ms: float, note: str) -> Row:
    return Row(backend, measure, f"{ms:,.1f} ms" if ms < 100 else f"{ms:,.0f} ms", note, ms, "lower")


def mb_row(backend: str, measure: str, mb: float, note: str) -> Row:
    return Row(backend, measure, f"{mb:,.0f} MB", note, mb, "lower")


def query_phase(backend: str, target: str, args: argparse.Namespace) -> list[Row]:
    """Build the query dataset, then time downsampled range queries, in its own process."""
    step = args.query_step_s if backend == "duckdb" else args.pg_query_step_s
    seconds = args.query_days * 86_400
    rows: list[Row] = []
    with open_backend(backend, target, args.threads) as store:
        batches = time_major_batches(args.query_tags, seconds, step, args.batch_size)
        points, spent = load(store, batches, f"{backend} query data")
        shape = f"{args.query_tags} tags x {args.query_days} d at {step} s"
        rows.append(rate_row(backend, "query data ingest points/s", points, spent, f"{points:,} points, {shape}"))
        for label, tags, start, stop in query_cases(args):
            rows.append(time_range(store, backend, label, tags, start, stop, args))
        rows.append(time_latest(store, backend, args))
    rows.append(mb_row(backend, "peak RSS, query phase", peak_rss_mb(), "load + queries, whole process"))
    return rows


def query_cases(args: argparse.Namespace) -> list[tuple[str, list[int], int, int]]:
    """(label, tags, start, end) of each range query; start and end off the minute, as a user picks them."""
    seconds = args.query_days * 86_400
    end = T0 + seconds * SECOND - 13 * SECOND
    middle = T0 + seconds // 2 * SECOND + 17 * SECOND
    cases = [
        (f"1 tag, {args.query_days} d", 1, T0 + 17 * SECOND, end),
        (f"{args.query_tags} tags, {args.query_days} d", args.query_tags, T0 + 17 * SECOND, end),
        ("1 tag, 1 d mid-range", 1, middle - DAY // 2, middle + DAY // 2),
        ("1 tag, 1 h mid-range", 1, middle, middle + 3600 * SECOND - 30 * SECOND),
    ]
    out = []
    for label, n_tags, start, stop in cases:
        rng = np.random.default_rng(n_tags)
        tags = sorted(rng.choice(np.arange(1, args.query_tags + 1), n_tags, replace=False).tolist())
        out.append((f"range {label}, max_points=1000", tags, start, stop))
    return out


def timed(call: Callable[[], object], repeat: int, budget_s: float = 20.0) -> tuple[float, float, float, object]:
    """Cold time, median and p95 of up to ``repeat`` warm calls (ms; fewer once they took ``budget_s``: see
    :func:`warm_note`), and the last result."""
    start = time.perf_counter()
    result = call()
    cold = (time.perf_counter() - start) * 1000
    warm: list[float] = []
    while len(warm) < repeat and (not warm or sum(warm) < budget_s * 1000):
        start = time.perf_counter()
        result = call()
        warm.append((time.perf_counter() - start) * 1000)
    p95 = sorted(warm)[max(0, int(len(warm) * 0.95) - 1)]
    return cold, statistics.median(warm), p95, result if len(warm) == repeat else _Few(result, len(warm))


@dataclass(frozen=True)
class _Few:
    """A result whose warm runs were cut short by the time budget."""

    result: object
    runs: int


def warm_note(cold: float, p95: float, result: object) -> tuple[str, object]:
    """The note's timing part ("cold …, p95 …", and how many warm runs when fewer), and the bare result."""
    few = f", {result.runs} warm run(s)" if isinstance(result, _Few) else ""
    return f"cold {cold:,.0f} ms, p95 {p95:,.1f} ms{few}", result.result if isinstance(result, _Few) else result


def time_range(
    store: TimeSeriesStore, backend: str, label: str, tags: list[int], start: int, end: int, args: argparse.Namespace
) -> Row:
    cold, median, p95, result = timed(lambda: store.range(tags, start, end, max_points=1000), args.repeat)
    timing, table = warm_note(cold, p95, result)
    buckets = table.num_rows // len(tags)  # type: ignore[attr-defined]
    width_s = plan_buckets(start, end, 1000).width_us / SECOND
    return ms_row(backend, label, median, f"{timing}; {buckets} buckets/tag of {width_s:,.0f} s")


def time_latest(store: TimeSeriesStore, backend: str, args: argparse.Namespace) -> Row:
    tags = list(range(1, args.query_tags + 1))
    cold, median, p95, result = timed(lambda: store.latest(tags), args.repeat)
    return ms_row(backend, f"latest, {len(tags)} tags", median, warm_note(cold, p95, result)[0])


# -- InfluxDB 1.x, the same datasets and questions -----------------------------------------------------


def influx_load(db: store_influx.Influx, batches: Iterator[Batch], label: str) -> tuple[int, float]:
    """Write every batch as line protocol; returns points and seconds spent in the HTTP writes only."""
    points, spent, last_report = 0, 0.0, time.perf_counter()
    for batch in batches:
        body = store_influx.line_protocol(batch)
        start = time.perf_counter()
        db.write(body)
        spent += time.perf_counter() - start
        points += len(batch)
        if time.perf_counter() - last_report > 10:
            log(f"  {label}: {points:,} points, {points / spent:,.0f} points/s so far")
            last_report = time.perf_counter()
    return points, spent


def influx_ingest_phase(backend: str, _target: str, args: argparse.Namespace) -> list[Row]:
    db = store_influx.Influx(args.influx_procs)
    try:
        cpu0 = db.cpu_s()
        points, spent = influx_load(
            db, time_major_batches(args.tags, args.points_per_tag, 1, args.batch_size), "influxdb ingest"
        )
        cores = (db.cpu_s() - cpu0) / spent
        again = store_influx.line_protocol(next(time_major_batches(args.tags, args.points_per_tag, 1, args.batch_size)))
        start = time.perf_counter()
        db.write(again)
        redelivery_ms = (time.perf_counter() - start) * 1000
        shape = f"{args.tags} tags x {args.points_per_tag:,} s, batches of {args.batch_size:,}"
        return [
            rate_row(
                backend,
                "ingest points/s",
                points,
                spent,
                f"{points:,} points ({shape}); influxd used {cores:.1f} cores",
            ),
            ms_row(backend, "re-delivered batch", redelivery_ms, f"{args.batch_size:,} points, overwritten"),
            mb_row(backend, "peak RSS, ingest", db.peak_rss_mb(), "influxd (server process)"),
        ]
    finally:
        db.close()


def influx_query_phase(backend: str, _target: str, args: argparse.Namespace) -> list[Row]:
    seconds = args.query_days * 86_400
    db = store_influx.Influx(args.influx_procs)
    try:
        batches = time_major_batches(args.query_tags, seconds, args.query_step_s, args.batch_size)
        points, spent = influx_load(db, batches, "influxdb query data")
        shape = f"{args.query_tags} tags x {args.query_days} d at {args.query_step_s} s"
        idle_after = db.wait_idle()
        note = f"{points:,} points, {shape}; queried once influxd was idle ({idle_after:,.0f} s after the load)"
        rows = [rate_row(backend, "query data ingest points/s", points, spent, note)]
        for label, tags, start, stop in query_cases(args):
            plan = plan_buckets(start, stop, 1000)  # the same buckets as ours
            q = store_influx.range_query(tags, start, stop, plan.width_us, plan.origin_us)
            cold, median, p95, result = timed(partial(db.query, q), args.repeat)
            timing, series = warm_note(cold, p95, result)
            buckets = sum(len(s["values"]) for s in cast(list[dict[str, Any]], series)) // len(tags)
            note = f"{timing}; {buckets} buckets/tag of {plan.width_us / SECOND:,.0f} s"
            rows.append(ms_row(backend, label, median, note))
        tags = list(range(1, args.query_tags + 1))
        cold, median, p95, result = timed(lambda: db.query(store_influx.latest_query(tags)), args.repeat)
        rows.append(ms_row(backend, f"latest, {len(tags)} tags", median, f"{warm_note(cold, p95, result)[0]}; last()"))
        rows.append(mb_row(backend, "peak RSS, query phase", db.peak_rss_mb(), "influxd (server process)"))
        return rows
    finally:
        db.close()


# -- MQTT end to end -----------------------------------------------------------------------------------


def mqtt_phase(backend: str, target: str, args: argparse.Namespace) -> list[Row]:
    """Through the shared Mosquitto (``--mqtt-host``/``--mqtt-port``), as it is configured."""
    return mqtt_rows(backend, target, args, args.mqtt_port, f"{args.mqtt_host}:{args.mqtt_port}", args.mqtt_rate)


def mqtt_own_broker_phase(backend: str, target: str, args: argparse.Namespace) -> list[Row]:
    """Through a Mosquitto of the benchmark's own, configured for a data plane."""
    with store_mqtt.own_mosquitto(str(Path(target).parent)) as port:
        return mqtt_rows(backend, target, args, port, "own broker", args.mqtt_own_rate)


def mqtt_rows(backend: str, target: str, args: argparse.Namespace, port: int, broker: str, rate: int) -> list[Row]:
    shape = store_mqtt.MqttShape(
        args.mqtt_host if broker != "own broker" else "127.0.0.1",
        port,
        args.mqtt_publishers,
        args.mqtt_tags_per_message,
        rate,
        args.mqtt_seconds,
        inflight=100,
    )
    r = store_mqtt.run_mqtt(shape, target, args.threads)
    lost = r.acked_points - r.stored_points
    offered = f"{rate:,} points/s offered for {args.mqtt_seconds:g} s"
    msgs = f"{shape.publishers} publishers x {shape.tags_per_message} tags/message (JSON, QoS 1)"
    verdict = "zero loss" if lost == 0 else f"LOST {lost:,}"
    note = (
        f"{offered}, {msgs}; {r.acked_points:,} acked by the broker, {r.stored_points:,} stored: {verdict}; "
        f"all stored {r.stored_s - r.sent_s:,.1f} s after the last PUBACK"
    )
    return [
        rate_row(backend, f"MQTT end to end points/s, {broker}", r.stored_points, r.stored_s, note),
        Row(backend, f"MQTT points lost, {broker}", f"{lost:,}", "acked by the broker - counted in the store", lost),
        Row(
            backend,
            f"MQTT subscriber CPU, {broker}",
            f"{r.cpu_s / r.stored_s:.2f} cores",
            f"connector + pipeline + DuckDB process; {r.stored_points / max(r.cpu_s, 1e-9):,.0f} points per CPU-second",
        ),
        mb_row(backend, f"peak RSS, MQTT subscriber, {broker}", r.peak_rss_mb, "connector + worker + DuckDB process"),
    ]


def run_isolated(
    phase: Callable[[str, str, argparse.Namespace], list[Row]], backend: str, target: str, args: argparse.Namespace
) -> list[Row]:
    """Run a phase in a fresh process so its peak memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(phase, backend, target, args).result()


def pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    name = f"smart365_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{admin_url.rpartition('/')[0]}/{name}", drop


PHASES: dict[str, tuple[Callable[[str, str, argparse.Namespace], list[Row]], ...]] = {
    "duckdb": (ingest_phase, query_phase),
    "postgres": (ingest_phase, query_phase),
    "influxdb": (influx_ingest_phase, influx_query_phase),
    "mqtt": (mqtt_phase,),
    "mqtt-own": (mqtt_own_broker_phase,),
}


def run_backend(backend: str, args: argparse.Namespace, scratch: str) -> list[Row]:
    rows: list[Row] = []
    for phase in PHASES[backend]:
        name = "duckdb" if backend.startswith("mqtt") else backend
        if backend == "postgres":
            target, cleanup = pg_database(args.pg_url)
        else:
            target, cleanup = str(Path(scratch) / f"{phase.__name__}.duckdb"), (lambda: None)
        log(f"{backend}: {phase.__name__.replace('_', ' ')}...")
        try:
            rows += run_isolated(phase, name, target, args)
        finally:
            cleanup()
    return rows


def ratio(ours: Row | None, peer: Row | None) -> str:
    """How far DuckDB is ahead of InfluxDB: faster, more points/s or less memory."""
    if ours is None or peer is None or not ours.better or not (ours.number > 0 and peer.number > 0):
        return "-"
    ahead = ours.number / peer.number if ours.better == "higher" else peer.number / ours.number
    return f"{ahead:,.1f}x ahead" if ahead >= 1 else f"{1 / ahead:,.1f}x behind"


def print_table(rows: list[Row], backends: list[str]) -> None:
    """One row per measure, the backends side by side, then each cell's note."""
    columns = [b for b in BACKENDS if b in backends]
    cells = {(r.measure, r.backend): r for r in rows}
    header = ["measure", *(BACKENDS[b] for b in columns), "DuckDB vs InfluxDB"]
    table = [header]
    for measure in dict.fromkeys(r.measure for r in rows):
        values = [cells[(measure, b)].value if (measure, b) in cells else "-" for b in columns]
        table.append([measure, *values, ratio(cells.get((measure, "duckdb")), cells.get((measure, "influxdb")))])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print(
            "| "
            + " | ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
            + " |"
        )
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\nNotes:")
    for r in rows:
        if r.note:
            print(f"- {BACKENDS[r.backend]}, {r.measure}: {r.note}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backends", default="duckdb,postgres,influxdb", help="comma-separated: duckdb, postgres, influxdb"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast look (overrides the sizes below)")
    parser.add_argument(
        "--mqtt-brokers",
        default="shared,own",
        help="MQTT end to end through: shared (--mqtt-host/--mqtt-port as configured), own (a tuned Mosquitto "
        "started here); empty to skip",
    )
    parser.add_argument("--tags", type=int, default=100, help="tags in the ingest dataset")
    parser.add_argument("--points-per-tag", type=int, default=100_000, help="1 s points per tag (ingest)")
    parser.add_argument("--batch-size", type=int, default=100_000, help="points per append")
    parser.add_argument("--query-tags", type=int, default=20)
    parser.add_argument("--query-days", type=int, default=30)
    parser.add_argument("--query-step-s", type=int, default=1, help="sample period of the DuckDB query data")
    parser.add_argument("--pg-query-step-s", type=int, default=10, help="sample period of the PostgreSQL query data")
    parser.add_argument("--repeat", type=int, default=20, help="warm repetitions per query")
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads (the target is one core)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--influx-procs", type=int, default=None, help="GOMAXPROCS for influxd (default: all cores)")
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--mqtt-rate", type=int, default=100_000, help="points/s the publishers offer, together")
    parser.add_argument(
        "--mqtt-own-rate",
        type=int,
        default=200_000,
        help="the same through the own broker (its deep queue takes bursts)",
    )
    parser.add_argument("--mqtt-seconds", type=float, default=30, help="how long they publish")
    parser.add_argument("--mqtt-publishers", type=int, default=2, help="publisher processes (one machine each)")
    parser.add_argument("--mqtt-tags-per-message", type=int, default=100, help="points per JSON message")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # smaller defaults; explicit sizes still win
        parser.set_defaults(points_per_tag=20_000, query_days=3, repeat=5, mqtt_seconds=5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",")]
    if "influxdb" in backends and store_influx.influxd_path() is None:
        raise SystemExit(store_influx.INSTALL_HINT + " Or leave it out: --backends duckdb,postgres")
    scratch = tempfile.mkdtemp(prefix="smart365-bench-")
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        for backend in backends + [f"mqtt-{b}".replace("-shared", "") for b in args.mqtt_brokers.split(",") if b]:
            rows += run_backend(backend, args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load = os.getloadavg()[0]
    print(
        f"\nbench_store: {time.perf_counter() - started:,.0f} s, {os.cpu_count()} CPUs, DuckDB threads={args.threads}, "
        f"load average at the end {load:.1f}\n"
    )
    print_table(rows, backends)


if __name__ == "__main__":
    main()
