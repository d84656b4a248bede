"""Benchmark: vectorised maturity scoring of a national survey (전수조사) against a per-row baseline.

Generates random responses to the default instrument (stages 0–5, about 8 % of answers N/A, one response in
twenty with a whole domain N/A), scores them all with :func:`smart365.assessment.scoring.score`, and runs a
naive pure-Python per-response scorer (and the per-response :func:`explain`) on a subset side by side,
checking that all give the same totals and levels. Prints one table.

    .venv/bin/python bench/bench_scoring.py              # 100,000 responses, baseline on 5,000
    .venv/bin/python bench/bench_scoring.py --n 20000 --subset 2000
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from smart365.assessment.instrument import Instrument, default_instrument
from smart365.assessment.scoring import explain, score


def survey(instrument: Instrument, n: int, seed: int) -> np.ndarray:
    """Random stage matrix with scattered N/A and some whole N/A domains."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 6, size=(n, len(instrument.items))).astype(np.float64)
    matrix[rng.random(matrix.shape) < 0.08] = np.nan
    rows = np.flatnonzero(rng.random(n) < 0.05)
    dropped = rng.integers(0, len(instrument.domains), size=rows.size)
    block = matrix[rows]
    block[instrument.item_domain[None, :] == dropped[:, None]] = np.nan
    matrix[rows] = block
    return matrix


def naive_score(instrument: Instrument, row: Sequence[float]) -> tuple[float, int]:
    """The obvious per-response loop: the baseline the vectorised engine is compared with."""
    areas = {a.id: a.points for a in instrument.areas}
    domain_points = {d.id: areas[d.area] / sum(1 for o in instrument.domains if o.area == d.area)
                     for d in instrument.domains}
    answered: dict[str, list[float]] = {d.id: [] for d in instrument.domains}
    for item, stage in zip(instrument.items, row, strict=True):
        if not math.isnan(stage):
            answered[item.domain].append(stage)
    kept = {a: sum(domain_points[d.id] for d in instrument.domains if d.area == a and answered[d.id])
            for a in areas}
    used = sum(points for a, points in areas.items() if kept[a] > 0)
    total, domain_stage, area_sum = 0.0, {}, dict.fromkeys(areas, 0.0)
    for d in instrument.domains:
        if answered[d.id]:
            points = domain_points[d.id] * areas[d.area] * 1000 / used / kept[d.area]
            domain_stage[d.id] = sum(answered[d.id]) / len(answered[d.id])
            total += points * domain_stage[d.id] / 5
            area_sum[d.area] += points * domain_stage[d.id]
    systems = instrument.gating.systems_area
    systems_stage = area_sum[systems] / (areas[systems] * 1000 / used) if kept[systems] > 0 else -1.0
    level = 0
    for k, threshold in enumerate(instrument.thresholds, start=1):
        gated = k >= instrument.gating.from_level
        if total < threshold - 1e-6:
            break
        if gated and systems_stage < k - instrument.gating.area_lag - 1e-9:
            break
        if gated and min(domain_stage.values()) < k - instrument.gating.domain_lag - 1e-9:
            break
        level = k
    return total, level


def best_of(runs: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="responses to score (default 100,000)")
    parser.add_argument("--subset", type=int, default=5_000, help="responses for the per-row baselines")
    parser.add_argument("--runs", type=int, default=5, help="repetitions; the best time is reported")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    instrument = default_instrument()
    matrix = survey(instrument, args.n, args.seed)
    subset = matrix[: args.subset].tolist()

    vector_time = best_of(args.runs, lambda: score(instrument, matrix))
    tracemalloc.start()
    result = score(instrument, matrix)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    naive_time = best_of(1, lambda: [naive_score(instrument, row) for row in subset])
    explain_time = best_of(1, lambda: [explain(instrument, row) for row in subset])

    naive = [naive_score(instrument, row) for row in subset]
    agree = all(abs(t - result.total[i]) < 1e-9 and lv == result.level[i] for i, (t, lv) in enumerate(naive))

    vector_rate = args.n / vector_time
    naive_rate, explain_rate = args.subset / naive_time, args.subset / explain_time
    table = Table(title=f"Maturity scoring: {args.n:,} responses × {len(instrument.items)} items "
                        f"(instrument {instrument.version})")
    for column in ("method", "responses", "time", "responses/s", f"time for {args.n:,}", "speed-up"):
        table.add_column(column, justify="left" if column == "method" else "right")
    table.add_row("vectorised score()", f"{args.n:,}", f"{vector_time:.3f} s", f"{vector_rate:,.0f}",
                  f"{vector_time:.3f} s", "1×")
    table.add_row("naive per-row Python", f"{args.subset:,}", f"{naive_time:.3f} s", f"{naive_rate:,.0f}",
                  f"{args.n / naive_rate:.1f} s (est.)", f"{vector_rate / naive_rate:,.0f}× slower")
    table.add_row("explain() per row", f"{args.subset:,}", f"{explain_time:.3f} s", f"{explain_rate:,.0f}",
                  f"{args.n / explain_rate:.1f} s (est.)", f"{vector_rate / explain_rate:,.0f}× slower")
    console = Console()
    console.print(table)
    console.print(f"peak memory while scoring {args.n:,} (tracemalloc): {traced_peak / 2**20:.1f} MiB; "
                  f"process peak RSS: {rss_peak_mb:.0f} MiB")
    console.print(f"vectorised = naive on the subset (totals to 1e-9, levels): {'yes' if agree else 'NO'}")
    console.print(f"levels: {result.level_counts()}")


if __name__ == "__main__":
    main()
