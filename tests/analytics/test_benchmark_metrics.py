"""Benchmark metrics on tiny inputs worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smart365.analytics import metrics
from smart365.core.errors import Invalid


def test_rmse_and_nasa_score_by_hand() -> None:
    truth, pred = [100, 50, 20, 10], [87, 60, 20, 11]
    # d = −13, +10, 0, +1 → squares 169, 100, 0, 1 → RMSE = √(270/4) = 8.215838
    assert metrics.rmse(truth, pred) == pytest.approx(math.sqrt(270 / 4))
    # S = (e^1 − 1) + (e^1 − 1) + 0 + (e^0.1 − 1) = 3.436564 + 0.105171 = 3.541735
    assert metrics.nasa_score(truth, pred) == pytest.approx(2 * (math.e - 1) + math.expm1(0.1))


def test_nasa_score_punishes_late_more_than_early() -> None:
    assert metrics.nasa_score([50], [60]) > metrics.nasa_score([50], [40])
    assert metrics.nasa_score([50], [50]) == 0.0
    with pytest.raises(Invalid):
        metrics.rmse([1, 2], [1])


def test_skab_outlier_metrics_pool_files() -> None:
    true = [[0, 0, 0, 1, 1, 1], [0, 1, 1, 0]]
    pred = [[0, 1, 0, 1, 1, 0], [0, 1, 0, 0]]
    # file 1: TP 2, FP 1, FN 1, TN 2; file 2: TP 1, FN 1, TN 2 → TP 3, TN 4, FP 1, FN 2
    # F1 = 3/(3 + 3/2) = 0.666667; FAR = 1/5 = 20 %; MAR = 2/5 = 40 %
    m = metrics.skab_outlier_metrics(true, pred)
    assert (m.tp, m.tn, m.fp, m.fn) == (3, 4, 1, 2)
    assert (m.f1, m.far, m.mar) == pytest.approx((2 / 3, 20.0, 40.0))


def test_skab_outlier_metrics_perfect_and_null_detectors() -> None:
    true = [[0, 1, 1, 0]]
    assert metrics.skab_outlier_metrics(true, true).f1 == 1.0
    null = metrics.skab_outlier_metrics(true, [[0, 0, 0, 0]])
    assert (null.f1, null.far, null.mar) == (0.0, 0.0, 100.0)


def _one_changepoint(at: int, size: int = 200) -> list[int]:
    return [1 if i == at else 0 for i in range(size)]


def test_nab_perfect_null_and_false_alarm() -> None:
    truth = [_one_changepoint(50)]
    assert metrics.skab_nab_score(truth, truth)["standard"] == pytest.approx(100.0)
    assert metrics.skab_nab_score(truth, [[0] * 200]) == {"standard": 0.0, "low_fp": 0.0, "low_fn": 0.0}
    # One false alarm before the window and a miss: standard (−0.11 − 1 + 1)/2·100 = −5.5;
    # LowFP (−0.22 − 1 + 1)/2 = −11; LowFN (−0.11 − 2 + 2)/(1 + 2) = −3.666667
    early = metrics.skab_nab_score(truth, [_one_changepoint(10)])
    assert (early["standard"], early["low_fp"], early["low_fn"]) == pytest.approx((-5.5, -11.0, -11 / 3))


def test_nab_detection_in_the_middle_of_the_window() -> None:
    # Window [50, 110] (60 s to the right); alarm at 80 → position 0.5 → curve index 500 of 1000:
    # x = π(500/999 − ½) = 0.0015724, y = −0.555·tanh(x)/tanh(π/2) + 0.555 − 0.11 = 0.444048
    # score = 100·(0.444048 + 1)/(1 + 1) = 72.2024
    truth = [_one_changepoint(50)]
    score = metrics.skab_nab_score(truth, [_one_changepoint(80)], window=60)["standard"]
    assert score == pytest.approx(72.2024, abs=1e-3)
    # Later in the window scores less; only the first alarm in a window counts.
    later = metrics.skab_nab_score(truth, [_one_changepoint(100)], window=60)["standard"]
    both = [[1 if i in (80, 100) else 0 for i in range(200)]]
    assert later < score == pytest.approx(metrics.skab_nab_score(truth, both, window=60)["standard"])


def test_nab_window_is_to_the_right_and_uses_timestamps() -> None:
    truth = [_one_changepoint(50)]
    before = metrics.skab_nab_score(truth, [_one_changepoint(45)], window=60)["standard"]
    assert before < 0  # an alarm before the changepoint is a false alarm, not a detection
    times = np.datetime64("2020-03-09T10:00:00") + 2 * np.arange(200).astype("timedelta64[s]")
    # At 0.5 Hz, 60 s is 30 rows: an alarm 40 rows after the changepoint is outside the window.
    assert metrics.skab_nab_score(truth, [_one_changepoint(90)], times=[times])["standard"] < 0
    assert metrics.skab_nab_score(truth, [_one_changepoint(70)], times=[times])["standard"] > 0


def test_nab_overlapping_windows_are_cut() -> None:
    windows = metrics.nab_windows(np.array([0.0, 30.0, 40.0]), 60.0)
    assert windows.tolist() == [[0.0, 60.0], [60.0, 90.0], [90.0, 100.0]]
    counts = metrics.nab_counts(windows, np.array([60.0]))
    assert (counts.missed, counts.false_alarms) == (1, 0)  # the shared boundary hits two windows
    assert counts.detection_positions.tolist() == [1.0, 0.0]


def test_balanced_error_rate_by_hand() -> None:
    # SECOM coding: 1 = fail, −1 = pass. FN = 1 of 2 fails, FP = 1 of 4 passes → ½(0.5 + 0.25)
    assert metrics.balanced_error_rate([1, 1, -1, -1, -1, -1], [1, -1, -1, 1, -1, -1]) == 0.375
    assert metrics.balanced_error_rate([1, -1], [1, -1]) == 0.0
    with pytest.raises(Invalid):
        metrics.balanced_error_rate([-1, -1], [1, -1])


def test_skab_loader_counts_and_perfect_detector() -> None:
    from smart365.analytics.datasets import load_skab
    from tests.analytics.conftest import require_dataset

    require_dataset("skab/valve1/0.csv")
    experiments = load_skab()
    assert len(experiments) == 34
    assert sum(len(e.frame) for e in experiments) == 37401
    assert sum(int(e.frame["anomaly"].sum()) for e in experiments) == 13067
    assert sum(int(e.split()[0]["anomaly"].sum()) for e in experiments) == 296  # inside the 400 training rows
    tests = [e.split()[1] for e in experiments]
    labels = [t["anomaly"].to_numpy() for t in tests]
    assert metrics.skab_outlier_metrics(labels, labels).f1 == 1.0
    cps = [t["changepoint"].to_numpy() for t in tests]
    times = [t.index.to_numpy() for t in tests]
    # Alarming exactly at each changepoint is not 100 under SKAB's window rules: a changepoint less than
    # 60 s after the previous one falls inside the previous (cut) window and its own window is missed.
    perfect = metrics.skab_nab_score(cps, cps, times=times)
    assert 90 < perfect["standard"] < 100
