"""AI test-bed: no look-ahead, type inference, baselines, and the CLI end to end on tables it has never seen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from smart365.analytics import benchmarks, testbed
from smart365.analytics.cli import report_dict
from smart365.analytics.datasets import datasets_root
from smart365.analytics.testbed import TestbedError, expanding_folds, fold_metrics, prepare, run_testbed
from smart365.cli.main import app
from tests.analytics.conftest import require_dataset

runner = CliRunner()


@pytest.mark.parametrize(("n", "folds", "seed"), [(10, 4, 0), (97, 3, 1), (500, 5, 2), (31, 2, 3)])
def test_no_fold_trains_on_rows_after_its_test_rows(n: int, folds: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, n // 3, size=n))  # many rows share a timestamp
    splits = expanding_folds(n, folds, times)
    assert splits
    for train, test in splits:
        assert train.max() < test.min()  # rows are in time order, so no later row trains
        assert times[train].max() < times[test].min()  # and no row of the same moment either
        assert np.array_equal(train, np.arange(train.size))  # expanding window from the start
    tests = np.concatenate([te for _, te in splits])
    assert np.unique(tests).size == tests.size  # every row is tested at most once


def test_rows_are_sorted_by_time_before_splitting() -> None:
    frame = pd.DataFrame({"t": ["2026-01-03", "2026-01-01", "bad", "2026-01-02"], "x": [3.0, 1.0, 9.0, 2.0],
                          "y": [30.5, 10.5, 90.5, 20.5]})  # fmt: skip
    prep = prepare(frame, "y", time="t", task="regression")
    assert prep.x["x"].tolist() == [1.0, 2.0, 3.0]  # oldest first, the unreadable time left out
    assert [n.kind for n in prep.notes] == ["bad_time"]
    no_time = prepare(frame.drop(columns="t"), "y")
    assert [n.kind for n in no_time.notes] == ["no_time", "task_regression"]


def test_columns_are_inferred_and_encoded() -> None:
    n = 60
    frame = pd.DataFrame({
        "serial": [f"SN{i}" for i in range(n)],  # identifier → dropped
        "plant": ["P1"] * n,  # constant → dropped
        "shift": ["day", "night", "swing"] * (n // 3),  # few levels → one-hot
        "pressure": [f"{v:.1f}" for v in np.linspace(1, 2, n)],  # numbers stored as text → converted
        "logged": pd.date_range("2026-01-01", periods=n, freq="min").astype(str),  # a date → dropped
        "note": [f"free text {i % 40}" for i in range(n)],  # too many levels → dropped
        "ok": ["yes", "no"] * (n // 2),
    })  # fmt: skip
    prep = prepare(frame, "ok")
    assert prep.task == "classification" and prep.classes == ["no", "yes"]
    assert set(prep.dropped) == {"serial", "plant", "logged", "note"}
    assert prep.encoded == ["shift"] and {"shift=day", "shift=night", "shift=swing", "pressure"} == set(prep.x)
    assert prep.x["pressure"].iloc[-1] == 2.0


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx", ".csv"])
def test_loads_parquet_excel_and_semicolon_csv(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"온도": [1.5, 2.5, 3.5], "결과": ["OK", "NG", "OK"]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        path.write_text("온도;결과\n1,5;OK\n2,5;NG\n3,5;OK\n", encoding="utf-8")  # European decimals
    loaded = testbed.load_table(path)
    assert loaded["온도"].tolist() == [1.5, 2.5, 3.5] and loaded["결과"].tolist() == ["OK", "NG", "OK"]
    other = tmp_path / "t.json"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(TestbedError, match="Unsupported"):
        testbed.load_table(other)


def test_dropped_columns_and_ties_with_a_baseline() -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"x": rng.normal(size=200), "other_label": rng.integers(0, 2, 200)})
    frame["y"] = (frame.x > 0).astype(int)
    prep = prepare(frame, "y", drop=["other_label"])
    assert list(prep.x.columns) == ["x"]
    with pytest.raises(TestbedError, match="not in the data"):
        prepare(frame, "y", drop=["nope"])
    # a constant feature: every model can only predict one class, like the majority baseline → a tie
    flat = pd.DataFrame({"k": [1.0] * 99 + [2.0], "y": [0, 1] * 50})
    report = run_testbed(flat, "y", folds=2)
    assert not report.beats_baselines()


def test_task_detection_and_one_class_target() -> None:
    x = np.random.default_rng(0).normal(size=30)
    assert prepare(pd.DataFrame({"x": x, "y": np.linspace(0, 1, 30)}), "y").task == "regression"
    assert prepare(pd.DataFrame({"x": x, "y": [0, 1, 2] * 10}), "y").task == "classification"
    with pytest.raises(TestbedError, match="only one class"):
        prepare(pd.DataFrame({"x": range(5), "y": ["OK"] * 5}), "y")
    with pytest.raises(TestbedError, match="not in the data"):
        prepare(pd.DataFrame({"x": range(5)}), "nope")
    with pytest.raises(TestbedError, match="60 classes"):
        prepare(pd.DataFrame({"x": x.tolist() * 2, "y": [f"c{i}" for i in range(60)]}), "y")


def test_fold_metrics_by_hand() -> None:
    # errors −1, +2 → RMSE √2.5, MAE 1.5; R² = 1 − 5 / ((−1)² + 1²) = −1.5
    m = fold_metrics("regression", np.array([1.0, 3.0]), np.array([0.0, 5.0]))
    assert (m["rmse"], m["mae"], m["r2"]) == pytest.approx((np.sqrt(2.5), 1.5, -1.5))
    # recall 1/2 and 1/1 → balanced accuracy 0.75
    assert fold_metrics("classification", np.array([0, 0, 1]), np.array([0, 1, 1]))["balanced_accuracy"] == 0.75


def test_last_value_baseline_wins_on_a_random_walk() -> None:
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(size=400))
    report = run_testbed(pd.DataFrame({"noise": rng.normal(size=400), "level": walk}), "level", folds=3)
    by_name = {r.name: r for r in report.results}
    assert by_name["last value"].mean("rmse") < by_name["mean (training)"].mean("rmse")
    assert report.ranked()[0].name == "last value" and not report.beats_baselines()
    assert report.winner is None  # no model is shown better: nobody is called the winner


def test_anomaly_labels_read_from_a_csv_are_understood() -> None:
    x = np.random.default_rng(0).normal(size=40)
    mostly_anomalous = pd.DataFrame({"x": x, "a": [1.0] * 30 + [0.0] * 10})  # 1.0 is the anomaly even if common
    prep = prepare(mostly_anomalous, "a", task="anomaly")
    assert prep.classes == ["0", "1"] and int(prep.y.sum()) == 30
    text = pd.DataFrame({"x": x, "a": ["normal"] * 35 + ["fault"] * 5})  # text: the rarer value
    assert prepare(text, "a", task="anomaly").classes == ["normal", "fault"]


def test_anomaly_task_uses_the_detectors() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(600, 3))
    label = np.zeros(600, dtype=int)
    label[[150, 151, 152, 350, 351, 352, 353, 520, 521]] = 1
    x[label == 1] += 8.0
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(alarm=label)
    report = run_testbed(frame, "alarm", task="anomaly", folds=3)
    assert report.metric == "f1"
    best = report.ranked()[0]
    assert not best.baseline and best.mean("f1") > 0.5


def test_a_fold_without_events_does_not_reward_never_alarming() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(800, 2))
    label = np.zeros(800, dtype=int)
    label[[420, 421, 422, 423, 700, 701, 702]] = 1  # folds of 200 rows: the first test block (200-399) has none
    x[label == 1] += 9.0
    report = run_testbed(pd.DataFrame(x, columns=["a", "b"]).assign(alarm=label), "alarm", task="anomaly", folds=3)
    by_name = {r.name: r for r in report.results}
    never = by_name["never alarm"]
    assert np.isnan(never.folds[0]["f1"]) and never.folds[0]["far"] == 0.0
    assert never.mean("f1") == 0.0  # scored only where there was something to miss
    assert [n.kind for n in report.prepared.notes if n.kind.endswith("fold")] == ["no_event_fold"]
    assert report.ranked()[0].name != "never alarm"
    json.dumps(report_dict(report), allow_nan=False)  # undefined folds are null, not NaN


def test_a_signal_that_shows_the_anomaly_is_not_called_a_leak() -> None:
    rng = np.random.default_rng(3)
    event = (np.arange(400) % 100 >= 90).astype(int)
    frame = pd.DataFrame({"vibration": rng.normal(2, 0.2, 400) + 3 * event, "alarm": event})
    as_anomaly = prepare(frame, "alarm", task="anomaly").findings
    assert [f.kind for f in as_anomaly] == ["separates"] and "sensor that shows the fault" in as_anomaly[0].english()
    # as classification: a leak, and the runs of ten "failures" in a row are named as bursts
    assert [f.kind for f in prepare(frame, "alarm", task="classification").findings] == ["leak", "burst"]


def test_an_anomaly_table_without_events_in_any_test_fold_is_refused() -> None:
    label = np.zeros(300, dtype=int)
    label[10] = 1  # only in the first training block
    frame = pd.DataFrame({"a": np.sin(np.arange(300.0)), "alarm": label})  # (a running number is no feature)
    with pytest.raises(TestbedError, match="No test fold contains a labelled anomaly"):
        run_testbed(frame, "alarm", task="anomaly", folds=3)


def line_table(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """A table the test-bed has never seen: Korean names, a text time column, shuffled rows, a leak."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(200, 5, n)
    line = rng.choice(["A라인", "B라인"], n)
    risk = (temp - 200) / 5 + (line == "B라인") + rng.normal(0, 1, n)
    frame = pd.DataFrame({
        "생산시각": pd.date_range("2026-03-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"),
        "lot": [f"L{i:05d}" for i in range(n)], "온도": temp.round(2), "속도": rng.normal(30, 2, n).round(2),
        "라인": line, "불량": np.where(risk > 1.2, "NG", "OK"),
    })  # fmt: skip
    frame["재작업"] = (frame["불량"] == "NG").astype(int)  # recorded after the defect: leaks the label
    return frame.sample(frac=1.0, random_state=0)


def test_cli_runs_end_to_end_on_an_unseen_csv(tmp_path: Path) -> None:
    data, out = tmp_path / "line.csv", tmp_path / "result.json"
    line_table().to_csv(data, index=False, encoding="cp949")  # as Excel in Korea saves it
    result = runner.invoke(app, ["testbed", "run", "--data", str(data), "--target", "불량", "--time", "생산시각",
                                 "--folds", "3", "--json", str(out)], env={"COLUMNS": "250"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "모델 / model" in result.output and "LightGBM" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["task"] == "classification" and report["time"] == "생산시각"
    assert {r["model"] for r in report["results"]} >= {"LightGBM", "linear (logistic)", "majority class"}
    assert report["winner"]["model"] == report["results"][0]["model"]
    assert report["data"]["dropped"]["lot"].startswith("identifier")
    leaks = [f for f in report["findings"] if f["kind"] == "leak"]
    assert [f["column"] for f in leaks] == ["재작업"] and "새어" in leaks[0]["message_ko"]
    majority = next(r for r in report["results"] if r["model"] == "majority class")
    assert majority["mean"] == 0.5 and majority["rows_per_second"] > 0
    assert [f["train_rows"] for f in report["folds"]] == [100, 200, 300]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv", "--target", "y"], "파일을 찾을 수 없습니다"),
        (["--data", "{csv}", "--target", "nope"], "데이터에 없습니다"),
        (["--data", "{csv}", "--target", "const"], "클래스가 하나"),
        (["--data", "{csv}", "--target", "[y]"], "[y]"),  # user text is not read as Rich markup
    ],
)
def test_cli_bad_input_exits_2_in_korean_and_english(tmp_path: Path, args: list[str], message: str) -> None:
    data, out = tmp_path / "t.csv", tmp_path / "out.json"
    pd.DataFrame({"x": range(20), "y": [0, 1] * 10, "const": ["OK"] * 20}).to_csv(data, index=False)
    argv = ["testbed", "run", *[a.replace("{csv}", str(data)) for a in args], "--json", str(out)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.output and "/" in result.output  # Korean, then English
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert not out.exists()


def test_melting_tank_sample_has_one_class_and_is_refused() -> None:
    require_dataset("kamp-melting-tank-sample/melting_tank_first10000.csv")
    path = datasets_root() / "kamp-melting-tank-sample" / "melting_tank_first10000.csv"
    result = runner.invoke(app, ["testbed", "run", "--data", str(path), "--target", "TAG", "--time", "STD_DT",
                                 "--json", "unused.json"])  # fmt: skip
    assert result.exit_code == 2 and "only one class (OK)" in result.output.replace("\n", " ")


def test_press_file_runs_in_row_order(tmp_path: Path) -> None:
    require_dataset("kamp-press/press.csv")
    out = tmp_path / "press.json"
    result = runner.invoke(app, ["testbed", "run", "--data", str(datasets_root() / "kamp-press" / "press.csv"),
                                 "--target", "press_time", "--folds", "2", "--json", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["task"] == "regression" and report["time"] is None
    assert report["notes"][0]["kind"] == "no_time_but" and report["notes"][0]["params"] == {"columns": "working_time"}
    assert {"machine_name", "item_no", "working_time"} <= set(report["data"]["dropped"])
    assert report["data"]["rows"] == 64_359


def test_skab_file_as_an_anomaly_task(tmp_path: Path) -> None:
    require_dataset("skab/valve1/0.csv")
    out = tmp_path / "skab.json"
    path = datasets_root() / "skab" / "valve1" / "0.csv"  # ';'-separated, labels stored as 0.0 / 1.0
    result = runner.invoke(app, ["testbed", "run", "--data", str(path), "--target", "anomaly", "--time", "datetime",
                                 "--task", "anomaly", "--drop", "changepoint", "--folds", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["classes"] == ["0", "1"] and "changepoint" not in report["data"]["features"]
    assert {r["model"] for r in report["results"]} >= {"EWMA robust z", "never alarm", "always alarm"}


def test_bench_command_prints_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    row = benchmarks.BenchRow("SKAB (34 files)", "anomaly.ewma", "p", "f1", 0.77, "best 0.78 (Conv-AE)", 0.1, 5e5)
    monkeypatch.setattr(benchmarks, "run_benchmarks", lambda which: [row] if which == "skab" else [])
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["testbed", "bench", "--dataset", "skab", "--json", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Conv-AE" in result.output and "데이터셋 / dataset" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))[0]["ours"] == 0.77
