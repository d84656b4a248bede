"""Time-series store benchmark: batch ingest rate, downsampled range latency and peak memory.

Two datasets per backend, each built in a fresh process (so each row's peak RSS is that phase's own):

- **ingest**: ``--tags`` × ``--points-per-tag`` points at 1 s (default 100 × 100,000 = 10M), appended in
  time-major batches of ``--batch-size`` (every tag at consecutive seconds, as a live connector sends them).
  The rate counts only ``store.append`` (commit and rollup merges included), not data generation.
- **query**: ``--query-tags`` tags over ``--query-days`` days. DuckDB stores them at ``--query-step-s``
  (default 1 s: 20 × 30 days = 51.8M points). PostgreSQL stores them at ``--pg-query-step-s`` (default
  10 s) to keep the run short; a 30-day query at max_points=1000 reads hourly and minute rollups plus raw
  points only at the ragged edges, so the raw density changes what is read only at those edges.
  Queries run ``--repeat`` times with start/end off the minute (median and p95 reported after a cold run).

Usage::

    .venv/bin/python bench/bench_store.py                        # both backends, default sizes (~3.5 min on 2 cores)
    .venv/bin/python bench/bench_store.py --backends duckdb --points-per-tag 20000   # quick look

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
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import psycopg

from smart365.telemetry.batch import Batch
from smart365.telemetry.store import DuckDBStore, PostgresStore, TimeSeriesStore, plan_buckets

T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
SECOND = 1_000_000
DAY = 86_400 * SECOND


@dataclass(frozen=True)
class Row:
    backend: str
    measure: str
    value: str
    note: str = ""


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
        Row(backend, "ingest points/s", f"{points / spent:,.0f}", f"{points:,} points ({shape})"),
        Row(backend, "re-delivered batch (0 new)", f"{redelivery_ms:,.0f} ms", f"{args.batch_size:,} points"),
        Row(backend, "peak RSS, ingest", f"{peak_rss_mb():,.0f} MB", "whole process"),
    ]


def query_phase(backend: str, target: str, args: argparse.Namespace) -> list[Row]:
    """Build the query dataset, then time downsampled range queries, in its own process."""
    step = args.query_step_s if backend == "duckdb" else args.pg_query_step_s
    seconds = args.query_days * 86_400
    rows: list[Row] = []
    with open_backend(backend, target, args.threads) as store:
        batches = time_major_batches(args.query_tags, seconds, step, args.batch_size)
        points, spent = load(store, batches, f"{backend} query data")
        shape = f"{args.query_tags} tags x {args.query_days} d at {step} s"
        rows.append(Row(backend, "query data ingest points/s", f"{points / spent:,.0f}", f"{points:,} points, {shape}"))
        end = T0 + seconds * SECOND - 13 * SECOND
        middle = T0 + seconds // 2 * SECOND + 17 * SECOND  # start and end off the minute, as a user picks
        cases = [
            (f"1 tag, {args.query_days} d", 1, T0 + 17 * SECOND, end),
            (f"{args.query_tags} tags, {args.query_days} d", args.query_tags, T0 + 17 * SECOND, end),
            ("1 tag, 1 d", 1, middle - DAY // 2, middle + DAY // 2),
            ("1 tag, 1 h", 1, middle, middle + 3600 * SECOND - 30 * SECOND),
        ]
        for label, n_tags, start, stop in cases:
            rows.append(time_range(store, backend, label, n_tags, start, stop, args))
        rows.append(time_latest(store, backend, args))
    rows.append(Row(backend, "peak RSS, query phase", f"{peak_rss_mb():,.0f} MB", "load + queries, whole process"))
    return rows


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """Cold time, median and p95 of ``repeat`` warm calls (ms), and the last result."""
    start = time.perf_counter()
    result = call()
    cold = (time.perf_counter() - start) * 1000
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        warm.append((time.perf_counter() - start) * 1000)
    p95 = sorted(warm)[max(0, int(len(warm) * 0.95) - 1)]
    return cold, statistics.median(warm), p95, result


def time_range(
    store: TimeSeriesStore, backend: str, label: str, n_tags: int, start: int, end: int, args: argparse.Namespace
) -> Row:
    rng = np.random.default_rng(n_tags)
    tags = sorted(rng.choice(np.arange(1, args.query_tags + 1), n_tags, replace=False).tolist())
    cold, median, p95, table = timed(lambda: store.range(tags, start, end, max_points=1000), args.repeat)
    buckets = table.num_rows // n_tags  # type: ignore[attr-defined]
    width_s = plan_buckets(start, end, 1000).width_us / SECOND
    note = f"cold {cold:,.0f} ms, p95 {p95:,.1f} ms; {buckets} buckets/tag of {width_s:,.0f} s"
    return Row(backend, f"range {label}, max_points=1000", f"{median:,.1f} ms", note)


def time_latest(store: TimeSeriesStore, backend: str, args: argparse.Namespace) -> Row:
    tags = list(range(1, args.query_tags + 1))
    cold, median, p95, _ = timed(lambda: store.latest(tags), args.repeat)
    return Row(backend, f"latest, {len(tags)} tags", f"{median:,.1f} ms", f"cold {cold:,.0f} ms, p95 {p95:,.1f} ms")


def run_isolated(phase: Callable[[str, str, argparse.Namespace], list[Row]], *call: object) -> list[Row]:
    """Run a phase in a fresh process so its peak memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(phase, *call).result()


def pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    name = f"smart365_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{admin_url.rpartition('/')[0]}/{name}", drop


def run_backend(backend: str, args: argparse.Namespace, scratch: str) -> list[Row]:
    rows: list[Row] = []
    for phase in (ingest_phase, query_phase):
        if backend == "duckdb":
            target, cleanup = str(Path(scratch) / f"{phase.__name__}.duckdb"), (lambda: None)
        else:
            target, cleanup = pg_database(args.pg_url)
        log(f"{backend}: {phase.__name__.replace('_', ' ')}...")
        try:
            rows += run_isolated(phase, backend, target, args)
        finally:
            cleanup()
    return rows


def print_table(rows: list[Row]) -> None:
    widths = [
        max(len(getattr(r, f)) for r in [Row("backend", "measure", "value", "note"), *rows])
        for f in ("backend", "measure", "value", "note")
    ]
    header = Row("backend", "measure", "value", "note")
    for i, row in enumerate([header, *rows]):
        print(
            f"| {row.backend:<{widths[0]}} | {row.measure:<{widths[1]}} | {row.value:>{widths[2]}} "
            f"| {row.note:<{widths[3]}} |"
        )
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="duckdb,postgres", help="comma-separated: duckdb, postgres")
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="smart365-bench-")
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        for backend in args.backends.split(","):
            rows += run_backend(backend.strip(), args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"\nbench_store: {time.perf_counter() - started:,.0f} s, {os.cpu_count()} CPUs, DuckDB threads={args.threads}\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
