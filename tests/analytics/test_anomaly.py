"""Anomaly detectors: hand-computed thresholds and scores, streaming, alarm events, explanations, SKAB."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from smart365.analytics import anomaly
from smart365.analytics.anomaly import (
    AutoencoderDetector,
    EwmaConfig,
    EwmaDetector,
    IsolationForestDetector,
    PcaDetector,
    RobustBaseline,
    StuckConfig,
    StuckSignalDetector,
    TrendConfig,
    TrendDetector,
    alarms,
    calibrate_threshold,
    evaluate_skab,
    explain_row,
    merge_flags,
    run_lengths,
)
from smart365.analytics.contract import Detector, load
from smart365.analytics.datasets import SKAB_SENSORS, SkabExperiment, load_skab
from smart365.analytics.metrics import skab_outlier_metrics
from smart365.core.errors import Invalid
from tests.analytics.conftest import require_dataset


def test_threshold_is_a_quantile_of_normal_scores_times_margin() -> None:
    # numpy's default (linear) quantile of 0..100 at 0.95 is 95; times 1.2 → 114
    assert calibrate_threshold(np.arange(101.0), quantile=0.95, margin=1.2) == pytest.approx(114.0)
    # NaN/inf are ignored: the max of [1, 2, 4] is 4
    assert calibrate_threshold([1.0, np.nan, 2.0, np.inf, 4.0], quantile=1.0) == 4.0
    with pytest.raises(Invalid):
        calibrate_threshold([np.nan])
    with pytest.raises(Invalid):
        calibrate_threshold([1.0], quantile=0.0)


def test_ewma_detector_scores_by_hand() -> None:
    # median 3, |dev| = 2, 1, 0, 1, 97 → MAD 1 → scale 1.4826; alpha 1 means no smoothing and EWMA σ = 1.
    history = pd.DataFrame({"p": [1.0, 2.0, 3.0, 4.0, 100.0]})
    det = EwmaDetector(EwmaConfig(alpha=1.0, quantile=1.0, min_threshold=3.0)).fit(history)
    assert det.score(pd.DataFrame({"p": [6.0, 3.0]})).tolist() == pytest.approx([3 / 1.4826, 0.0])
    # threshold: max(3, largest training score 97/1.4826 = 65.43)
    assert det.threshold == pytest.approx(97 / 1.4826)
    # alpha 0.5: EWMA σ = √(0.5/1.5); z = 2/1.4826 for two points → s = 0.5z, 0.75z
    det2 = EwmaDetector(EwmaConfig(alpha=0.5)).fit(history)
    z, sigma = 3 / 1.4826, np.sqrt(0.5 / 1.5)
    assert det2.score(pd.DataFrame({"p": [6.0, 6.0]})).tolist() == pytest.approx([0.5 * z / sigma, 0.75 * z / sigma])
    # a quiet history: every training score is below 3, the classic EWMA-chart limit, which is the floor
    assert EwmaDetector().fit(pd.DataFrame({"p": [1.0, 2.0, 3.0, 4.0, 5.0]})).threshold == 3.0


def test_streaming_in_chunks_equals_one_batch() -> None:
    rng = np.random.default_rng(3)
    history = pd.DataFrame(rng.normal(size=(300, 3)), columns=list("abc"))
    stream = pd.DataFrame(rng.normal(size=(1000, 3)), columns=list("abc"))
    det = EwmaDetector().fit(history)
    whole = det.score(stream)
    chunks = np.concatenate([det.update(stream.iloc[i : i + 137]) for i in range(0, 1000, 137)])
    assert np.allclose(chunks, whole)
    # score() does not depend on earlier update() calls
    assert np.allclose(det.score(stream), whole)


def test_merge_flags_by_hand() -> None:
    flags = [0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1]
    scores = [0, 2, 3, 0, 0, 9, 0, 0, 0, 1, 5, 4]
    no_gap = merge_flags(flags, scores)
    assert [(e.start, e.end, e.peak, e.points) for e in no_gap] == [(1, 2, 2, 2), (5, 5, 5, 1), (9, 11, 10, 3)]
    # gap 2: the runs at 1–2 and 5 are 2 unflagged points apart → one event peaking at 5 (score 9)
    merged = merge_flags(flags, scores, gap=2)
    summary = [(e.start, e.end, e.peak, e.peak_score, e.points) for e in merged]
    assert summary == [(1, 5, 5, 9.0, 3), (9, 11, 10, 5.0, 3)]
    assert [e.start for e in merge_flags(flags, scores, min_points=2)] == [1, 9]
    assert merge_flags([0, 0], [1, 1]) == []
    with pytest.raises(Invalid):
        merge_flags([1], [1, 2])


def test_explanation_ranks_signals_by_sigma() -> None:
    base = RobustBaseline(["t", "p", "f"], np.array([50.0, 2.0, 10.0]), np.array([1.0, 0.5, 2.0]))
    row = pd.DataFrame({"t": [53.0], "p": [1.0], "f": [10.0]})  # z = +3, −2, 0 → shares 9/13, 4/13, 0
    why = explain_row(base, row, top=2)
    assert [(c.signal, c.sigma, c.normal, c.value) for c in why] == [("t", 3.0, 50.0, 53.0), ("p", -2.0, 2.0, 1.0)]
    assert [c.share for c in why] == pytest.approx([9 / 13, 4 / 13])
    assert "+3.0σ" in why[0].describe()


def test_alarm_events_carry_time_labels_and_the_culprit() -> None:
    rng = np.random.default_rng(7)
    idx = pd.date_range("2026-01-01", periods=400, freq="s")
    frame = pd.DataFrame({"temp": rng.normal(50, 1, 400), "flow": rng.normal(10, 0.2, 400)}, index=idx)
    det = EwmaDetector().fit(frame.iloc[:300])
    test = frame.iloc[300:].copy()
    test.iloc[40:60, 1] += 3.0  # flow: +15 σ for 20 s
    events = alarms(det, test)
    assert len(events) == 1
    ev = events[0]
    assert 40 <= ev.start <= 42 and ev.end >= 59
    assert ev.start_label == idx[300 + ev.start]
    assert ev.explanation[0].signal == "flow" and ev.explanation[0].sigma > 10
    plain = ev.as_dict()
    assert plain["start_label"] == str(idx[300 + ev.start]) and "정상 대비" in plain["explanation"][0]["message_ko"]
    assert plain["explanation"][0]["message_en"].startswith("flow: +")


def test_pca_flags_a_broken_correlation_not_a_large_normal_point() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000)
    history = pd.DataFrame({"x": a + 0.05 * rng.normal(size=2000), "y": a + 0.05 * rng.normal(size=2000)})
    det = PcaDetector().fit(history)
    # about 1 % of the training points score above each limit (calibration at the 0.99 quantile)
    t2, spe = det.statistics(history)
    assert np.mean(t2 > det.limits[0]) == pytest.approx(0.01, abs=0.002)
    assert np.mean(spe > det.limits[1]) == pytest.approx(0.01, abs=0.002)
    probe = pd.DataFrame({"x": [1.5, 1.0], "y": [1.5, -1.0]})  # along the correlation; against it
    assert det.detect(probe).tolist() == [False, True]


def test_autoencoder_reconstructs_normal_data_and_not_a_broken_relation() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, 1500)
    history = pd.DataFrame({"x": a, "y": a**2, "z": -a})  # one underlying degree of freedom, non-linear
    det = AutoencoderDetector().fit(history)
    assert np.mean(det.detect(history)) == pytest.approx(0.01, abs=0.003)  # the calibration quantile
    # on the curve (twice, one near its end), y below the parabola, z breaking z = −x
    probe = pd.DataFrame({"x": [0.5, 0.9, 0.5, 0.5], "y": [0.25, 0.81, -0.5, 0.25], "z": [-0.5, -0.9, -0.5, 0.5]})
    assert det.detect(probe).tolist() == [False, False, True, True]


def test_isolation_forest_scores_like_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    history = pd.DataFrame(rng.normal(size=(600, 4)), columns=list("abcd"))
    det = IsolationForestDetector().fit(history)
    probe = pd.DataFrame(rng.normal(size=(50, 4)) * 2, columns=list("abcd"))
    std = det._standard(history.to_numpy())
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=0).fit(std)
    assert np.allclose(det.score(probe), -forest.score_samples(det._standard(probe.to_numpy())))


@pytest.mark.parametrize(
    "factory",
    [EwmaDetector, PcaDetector, IsolationForestDetector, AutoencoderDetector, StuckSignalDetector, TrendDetector],
)
def test_detectors_round_trip_through_saved_bytes(factory: type) -> None:
    rng = np.random.default_rng(2)
    history = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    det = factory().fit(history)
    assert isinstance(det, Detector)
    again = load(det.state().to_bytes())
    probe = pd.DataFrame(rng.normal(size=(400, 3)) * 3, columns=["a", "b", "c"])
    probe.iloc[100:, 1] = 0.5  # b frozen: the stuck-signal detector's score grows, the others see a normal value
    probe.iloc[200:, 2] += 0.1 * np.arange(200)  # c rising: the trend detector's
    assert type(again) is factory
    assert np.allclose(again.score(probe), det.score(probe))
    assert again.threshold == det.threshold


def test_detector_rejects_text_signals() -> None:
    with pytest.raises(Invalid):
        EwmaDetector().fit(pd.DataFrame({"a": ["x", "y"]}))


def test_skab_protocol_on_three_files() -> None:
    require_dataset("skab/valve1/0.csv")
    files = load_skab()[:3]
    result = evaluate_skab(EwmaDetector, files)
    truth = sum(int(f.frame["anomaly"].iloc[400:].sum()) for f in files)
    tested = sum(len(f.frame) - 400 for f in files)
    extra = result.extra
    assert extra["tp"] + extra["fn"] == truth and sum(extra.values()) == tested
    assert result.score_rows == tested
    assert 0.0 <= result.metrics["f1"] <= 1.0 and result.metrics["f1"] > 0.3
    assert "Conv-AE" in result.reference["best"]


def test_leave_one_out_choice_never_uses_the_files_own_labels() -> None:
    # 2 candidates × 3 files, no false alarms; each file has 10 anomalous points
    tp = np.array([[10, 10, 0], [6, 6, 10]])
    fp = np.zeros((2, 3), dtype=int)
    fn = 10 - tp
    # held-out file 0: files 1+2 give candidate 0 F1 = 10/(10 + 10/2) = 0.667, candidate 1 16/(16 + 4/2) = 0.889
    # held-out file 2: files 0+1 give candidate 0 F1 = 1.0, candidate 1 12/(12 + 8/2) = 0.75
    assert anomaly.leave_one_out_choice(tp, fp, fn).tolist() == [1, 1, 0]
    # whatever file 2's own counts say, its choice stays: only the other files decide
    tp2, fn2 = tp.copy(), fn.copy()
    tp2[:, 2], fn2[:, 2] = [0, 10], [10, 0]
    assert anomaly.leave_one_out_choice(tp2, fp, fn2)[2] == 0
    with pytest.raises(Invalid):
        anomaly.leave_one_out_choice(tp[:, :1], fp[:, :1], fn[:, :1])  # one file: nothing to choose on


def _fake_skab(n_files: int, seed: int) -> list[SkabExperiment]:
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n_files):
        frame = pd.DataFrame(rng.normal(0, 1, (700, len(SKAB_SENSORS))), columns=list(SKAB_SENSORS))
        start = int(rng.integers(450, 600))
        frame.loc[start : start + 60, "Pressure"] += 2.0 + i  # a shift the EWMA picks up sooner or later
        frame["anomaly"] = 0
        frame.loc[start : start + 60, "anomaly"] = 1
        files.append(SkabExperiment(f"fake/{i}", frame))
    return files


def test_nested_skab_scores_each_file_with_the_config_chosen_on_the_others() -> None:
    files = _fake_skab(4, seed=3)
    configs = (EwmaConfig(alpha=0.05), EwmaConfig(alpha=0.3, margin=2.0))
    result = anomaly.evaluate_skab_nested(configs, files)
    flags = [[EwmaDetector(c).fit(f.split()[0][list(SKAB_SENSORS)]).detect(f.split()[1][list(SKAB_SENSORS)])
              for f in files] for c in configs]  # fmt: skip
    truth = [f.split()[1]["anomaly"].to_numpy() == 1 for f in files]
    counts = [np.array([[[np.sum(p & t), np.sum(p & ~t), np.sum(~p & t)][k] for p, t in zip(row, truth, strict=True)]
                        for row in flags]) for k in range(3)]  # fmt: skip
    chosen = anomaly.leave_one_out_choice(*counts)
    expected = skab_outlier_metrics(truth, [flags[c][j] for j, c in enumerate(chosen)])
    assert result.metrics == {"f1": expected.f1, "far": expected.far, "mar": expected.mar}
    assert sum(result.extra["chosen"].values()) == 4 and result.extra["candidates"] == 2
    baseline = anomaly.always_alarm_skab(files)
    assert baseline.metrics["far"] == 100.0 and baseline.metrics["mar"] == 0.0
    positives = sum(int(t.sum()) for t in truth)
    negatives = sum(t.size for t in truth) - positives
    assert baseline.metrics["f1"] == pytest.approx(positives / (positives + negatives / 2))


def test_run_lengths_by_hand() -> None:
    unchanged = np.array([[False, True], [True, True], [False, True], [True, False]])
    # column 0 restarts at rows 0 and 2; column 1 continues a run of 4 from the previous batch
    assert run_lengths(unchanged, np.array([0, 4])).tolist() == [[0, 5], [1, 6], [0, 7], [1, 0]]


def test_stuck_detector_limits_come_from_the_longest_normal_run() -> None:
    # a: changes every point (longest run 0 → the floor, 5 points); b: quantised, repeats up to 3 times in a
    # row (limit 2 × 3 = 6); c: one value throughout (never stuck, limit ∞)
    history = pd.DataFrame({
        "a": np.arange(20.0),
        "b": [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0] * 2 + [4.0] * 2 + [5.0] * 4,
        "c": [7.0] * 20,
    })  # fmt: skip
    det = StuckSignalDetector(StuckConfig(factor=2.0, min_points=5)).fit(history)
    assert det.limits.tolist() == [5.0, 6.0, np.inf]
    batch = pd.DataFrame({"a": [1.0, 2.0] + [3.0] * 8, "b": [9.0] * 10, "c": [7.0] * 10})
    # a: runs 0,0,0,1,..,7 → /5 ; b: runs 0..9 → /6; c never counts
    expected = np.maximum(np.array([0, 0, 0, 1, 2, 3, 4, 5, 6, 7]) / 5, np.arange(10) / 6)
    assert det.score(batch) == pytest.approx(expected)
    assert det.detect(batch).tolist() == [False] * 7 + [True] * 3  # a: 6/5 at row 8; b: 7/6 at row 7
    why = det.explain(batch, 9)
    # b: 9/6 = 1.5 limits, a: 7/5 = 1.4; c is never stuck
    assert [c.signal for c in why] == ["b", "a"] and [c.unchanged for c in why] == [9, 7]
    assert why[1].value == 3.0 and why[1].limit == 5.0 and sum(c.share for c in why) == pytest.approx(1.0)


def test_stuck_detector_streams_across_batches_and_tolerates_noise_only_when_told() -> None:
    rng = np.random.default_rng(4)
    history = pd.DataFrame({"t": rng.normal(60, 0.5, 500)})
    stream = pd.DataFrame({"t": np.r_[rng.normal(60, 0.5, 100), np.full(300, 60.2)]})
    det = StuckSignalDetector().fit(history)
    whole = det.score(stream)
    chunks = np.concatenate([det.update(stream.iloc[i : i + 37]) for i in range(0, 400, 37)])
    assert np.allclose(chunks, whole)
    assert not det.detect(stream.iloc[:160]).any() and det.detect(stream).sum() == 300 - 61
    # a transmitter that jitters by 0.01 around the frozen value is stuck only within a tolerance (0.05 σ)
    jitter = stream.copy()
    jitter.iloc[100:, 0] += rng.uniform(-0.01, 0.01, 300)
    assert not det.detect(jitter).any()
    assert StuckSignalDetector(StuckConfig(tolerance=0.05)).fit(history).detect(jitter).sum() > 200


def test_stuck_alarm_explains_how_long_the_signal_has_not_changed() -> None:
    rng = np.random.default_rng(5)
    idx = pd.date_range("2026-01-01", periods=600, freq="s")
    frame = pd.DataFrame({"load": rng.normal(50, 1, 600), "temp": rng.normal(40, 0.3, 600)}, index=idx)
    det = StuckSignalDetector().fit(frame.iloc[:300])
    test = frame.iloc[300:].copy()
    test.iloc[100:250, 0] = 51.25  # load frozen for 150 s
    (event,) = alarms(det, test)
    assert (event.start, event.end, event.peak) == (161, 249, 249)
    (why,) = event.explanation
    assert (why.signal, why.unchanged, why.value) == ("load", 149, 51.25)
    plain = event.as_dict()["explanation"][0]
    assert plain["message_ko"] == "load: 149포인트째 51.25에서 변화 없음 (경보 기준 60포인트)"
    assert plain["message_en"] == "load: unchanged at 51.25 for 149 points (alarm limit 60)"


def _ramp_history(rng: np.random.Generator, rows: int = 2000) -> pd.DataFrame:
    index = pd.date_range("2026-03-02 06:00", periods=rows, freq="10s")
    return pd.DataFrame({"load": rng.normal(50, 1, rows), "temp": rng.normal(40, 0.5, rows)}, index=index)


def test_trend_slopes_by_hand_and_a_step_is_not_a_trend() -> None:
    rng = np.random.default_rng(8)
    det = TrendDetector(TrendConfig(window=8)).fit(_ramp_history(rng))
    # a clean ramp of 3 per row in load: both halves (4 rows each) have slope 3, in σ that is 3 / scale
    ramp = pd.DataFrame({"load": 50 + 3.0 * np.arange(12.0), "temp": np.full(12, 40.0)},
                        index=pd.date_range("2026-03-03", periods=12, freq="10s"))  # fmt: skip
    det.score(ramp)
    assert det._dev[7:, 0] + det.center[0] == pytest.approx(np.full(5, 3.0 / det.baseline.scale[0]))
    assert not det.score(ramp)[:7].any()  # a fresh start needs a whole window (8 rows) first
    (why,) = det.explain(ramp, 11)
    assert why.signal == "load" and why.trend == pytest.approx(3.0) and 0 < why.limit < 3.0
    assert why.describe().startswith("load: 포인트당 +3씩 변화")
    # a step of the same height: the half that holds it slopes, the other half is flat → no trend
    step = ramp.assign(load=np.r_[np.full(6, 50.0), np.full(6, 83.0)])
    assert det.score(step).max() == 0.0


def test_trend_window_restarts_after_a_stop_and_streams_across_batches() -> None:
    rng = np.random.default_rng(9)
    det = TrendDetector().fit(_ramp_history(rng))
    stream = _ramp_history(rng, 1200)
    stream.iloc[600:, 0] += 0.2 * np.arange(600)  # a fast ramp from row 600
    whole = det.score(stream)
    chunks = np.concatenate([det.update(stream.iloc[i : i + 97]) for i in range(0, 1200, 97)])
    assert np.allclose(chunks, whole)
    assert not det.detect(stream.iloc[:600]).any() and det.detect(stream.iloc[:800]).sum() > 50
    # the same rows after a 30-minute stop at row 700: the window starts again, 119 rows score 0
    stopped = stream.copy()
    stopped.index = stream.index.where(np.arange(1200) < 700, stream.index + pd.Timedelta(minutes=30))
    after = det.score(stopped)
    assert not after[700:819].any() and after[819:].max() > det.threshold
    assert np.allclose(after[:700], whole[:700])
