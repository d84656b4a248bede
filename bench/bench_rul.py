"""C-MAPSS remaining-useful-life benchmark, standard protocol.

For each subset FD001–FD004:

1. choose the feature window (30, 60, 100, 150 or 250 cycles) on the *training* units only
   (unit-wise 3-fold CV, RMSE vs the capped target at every cycle of the held-out units);
2. fit :class:`~smart365.analytics.rul.RulModel` on all training units (trees by early stopping on an
   inner unit split, RUL capped at 125);
3. predict one RUL per test unit at its last cycle and score it against ``RUL_FD00x.txt`` (uncapped):
   RMSE, NASA score, coverage of the 10–90 % interval; also, for papers that cap the truth, the same
   against the true RUL capped at 125.

Usage::

    .venv/bin/python bench/bench_rul.py                 # all four subsets, with window selection
    .venv/bin/python bench/bench_rul.py FD001 --no-select  # default config only (faster)

Data come from ``$SMART365_DATASETS`` (default: ``../shared/datasets``); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from smart365.analytics.contract import EvalResult
from smart365.analytics.datasets import CMAPSS_SUBSETS, load_cmapss
from smart365.analytics.rul import RulConfig, RulModel, evaluate_cmapss, select_config

#: Published RMSE ranges under the capped-RUL protocol (shared/datasets/cmapss/SOURCE.md).
REFERENCE_RMSE = {"FD001": "11-18", "FD002": "13-25", "FD003": "11-17", "FD004": "15-28"}
WINDOWS = (30, 60, 100, 150, 250)
HEADER = (
    f"{'dataset':<8} {'window':>6} {'cv_rmse':>8} {'RMSE':>7} {'NASA':>9} {'ref RMSE':>9} {'RMSE_ct':>7} "
    f"{'NASA_ct':>8} {'floor':>6} {'cover80':>7} {'trees':>5} {'select_s':>8} {'fit_s':>6} {'rows/s':>9}"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_subset(subset: str, select: bool) -> tuple[EvalResult, RulConfig, float, float]:
    """Select (optional), fit and evaluate one subset; returns result, config, CV RMSE, selection time."""
    data = load_cmapss(subset)
    cv_rmse, select_s = float("nan"), 0.0
    config = RulConfig()
    if select:
        log(f"[{subset}] selecting window among {WINDOWS} on training units (3-fold, unit-wise)...")
        start = time.perf_counter()
        selection = select_config(data.train, [RulConfig(window=w) for w in WINDOWS])
        select_s = time.perf_counter() - start
        config = selection.best
        cv_rmse = {c.window: s for c, s in selection.scores}[config.window]
        log(f"[{subset}] CV RMSE by window: " + ", ".join(f"{c.window}: {s:.2f}" for c, s in selection.scores))
    log(f"[{subset}] fitting on all training units and scoring the official test set...")
    result = evaluate_cmapss(data, lambda: RulModel(config))
    return result, config, cv_rmse, select_s


def row(subset: str, result: EvalResult, config: RulConfig, cv_rmse: float, select_s: float) -> str:
    m = result.metrics
    return (
        f"{subset:<8} {config.window:>6} {cv_rmse:>8.2f} {m['rmse']:>7.2f} {m['nasa_score']:>9.1f} "
        f"{REFERENCE_RMSE[subset]:>9} {m['rmse_capped_truth']:>7.2f} {m['nasa_score_capped_truth']:>8.1f} "
        f"{m['cap_floor_rmse']:>6.2f} {m['interval_coverage']:>7.2f} {result.extra['n_trees']:>5} "
        f"{select_s:>8.1f} {result.fit_seconds:>6.1f} {result.rows_per_second:>9.0f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("subsets", nargs="*", help="FD001..FD004 (default: all four)")
    parser.add_argument("--no-select", action="store_true", help="skip window selection, use defaults")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.subsets) - set(CMAPSS_SUBSETS))
    if unknown:
        parser.error(f"unknown subset(s) {', '.join(unknown)}; choose from {', '.join(CMAPSS_SUBSETS)}")
    rows = []
    for subset in args.subsets or CMAPSS_SUBSETS:
        result, config, cv_rmse, select_s = run_subset(subset, select=not args.no_select)
        rows.append(row(subset, result, config, cv_rmse, select_s))
        log(rows[-1])
    print("C-MAPSS, official test sets: one prediction per test unit at its last cycle vs RUL_FD00x (uncapped);")
    print("train target capped at 125; window chosen by unit-wise CV on training units only.")
    print(HEADER)
    print("\n".join(rows))
    print("NASA = PHM08 score (lower is better). _ct = same metric with the true RUL also capped at 125 (as some")
    print("papers do); floor = RMSE of a perfect capped-target model vs the uncapped truth (what the cap alone costs).")
    print("cover80 = share of true RULs inside the 10-90 % interval; cv_rmse = CV RMSE on training units (capped).")
    print("fit_s = final fit incl. early stopping and two quantile models; rows/s = test rows scored per second.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
