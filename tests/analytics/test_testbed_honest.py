"""Honest test-bed metrics (issue 14): leaks by presence and identifiers left out, ROC-AUC / PR-AUC with the
prior, calibrated probabilities, folds without positives left out of the ranking, a winner only when its
margin clears the fold spread, group splits, label conflicts and bursts, Korean dates, R² in words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from smart365.analytics.cli import report_dict
from smart365.analytics.quality import data_quality
from smart365.analytics.testbed import (
    CandidateResult,
    FoldInfo,
    Margin,
    TestbedReport,
    as_datetime,
    prepare,
    run_testbed,
    scorable_folds,
)
from smart365.cli.main import app
from smart365.core.i18n import use_locale
from smart365.testbed.service import verdict
from smart365.testbed.tables import column_kind

runner = CliRunner()


def parts_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Inspected parts: the failure follows temperature a little; a ``Reason`` written only for failed parts
    (a leak by its presence), a serial number that is not in order, a running counter with a gap, a plan
    date in Korean, and a lot per 20 parts."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(200, 5, n)
    fail = (0.25 * (temp - 200) + rng.normal(0, 1.5, n) > 2.0).astype(int)
    reason = np.where(fail == 1, rng.choice(["burr", "crack", "dent", "scratch"], n), None)
    reason[np.flatnonzero(fail)[::8]] = None  # a few failed parts without a reason written
    counter = np.arange(n, dtype=float) + 1000
    counter[5] = np.nan
    days = pd.date_range("2020-10-01", periods=n, freq="h")
    return pd.DataFrame({
        "생산시각": days.strftime("%Y-%m-%d %H:%M"),
        "Part No": rng.permutation(n) * 7 + 100_000,  # distinct, not monotonic: an id only by its name
        "seq": counter,  # a running number (floats, as a CSV with a gap reads it)
        "계획일": [f"{d.year}년 {d.month}월 {d.day}일" for d in days],
        "lot": [f"LOT{i // 20:03d}" for i in range(n)],
        "temp": temp.round(2), "speed": rng.normal(30, 2, n).round(2),
        "Reason": reason, "fail": fail,
    })  # fmt: skip


def test_a_missingness_leak_and_identifiers_are_named_and_left_out_and_auc_is_reported() -> None:
    frame = parts_table()
    report = run_testbed(frame, "fail", time="생산시각", folds=3)
    prep = report.prepared
    kinds = {(f.kind, f.column) for f in prep.findings}
    assert ("presence_leak", "Reason") in kinds  # "99 % missing" is not the whole story: its presence leaks
    assert ("id_named", "Part No") in kinds and ("counter", "seq") in kinds
    assert {"Reason", "Part No", "seq", "계획일"} <= set(prep.dropped)
    assert prep.dropped["Reason"].startswith("leaks the target") and prep.dropped["계획일"].startswith("date")
    assert {"temp", "speed"} <= set(prep.x.columns)
    assert not {"Reason", "Part No", "seq", "계획일"} & {c.split("=")[0] for c in prep.x.columns}
    leak = next(f for f in prep.findings if f.kind == "presence_leak")
    assert leak.params["value"] > 0.9 and "새어" in leak.korean() and "left out of the features" in leak.english()
    # the leak does not lift the score: the same result as without the column
    without = run_testbed(frame.drop(columns="Reason"), "fail", time="생산시각", folds=3)
    assert report.best_model().mean("balanced_accuracy") == without.best_model().mean("balanced_accuracy")
    result = report_dict(report)
    json.dumps(result, allow_nan=False)
    assert result["positive_class"] == "1" and 0 < result["positive_rate"] < 0.5
    majority = next(r for r in result["results"] if r["model"] == "majority class")
    assert majority["metrics"]["roc_auc"] == 0.5  # no skill
    assert majority["metrics"]["pr_auc"] == pytest.approx(np.mean(
        [f["test_positives"] / f["test_rows"] for f in result["folds"]]))  # no skill scores the prior
    best = next(r for r in result["results"] if not r["baseline"])
    assert 0.5 < best["metrics"]["roc_auc"] < 0.97 and best["metrics"]["pr_auc"] > result["positive_rate"]
    assert best["sds"]["roc_auc"] is not None and best["fit_seconds"] > 0
    assert best["reliability"] and sum(b["rows"] for b in best["reliability"]) == sum(
        f["test_rows"] for f in result["folds"])  # fmt: skip
    assert all(f["test_positives"] > 0 for f in result["folds"])
    assert any(n.kind == "calibration" for n in prep.notes)


def test_presence_and_text_leaks_are_found_in_text_columns_too() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    frame = pd.DataFrame({"x": rng.normal(size=300), "판정메모": np.where(y == 1, "재검사", "정상"),
                          "note": np.where(y == 1, "see report", None), "y": y})  # fmt: skip
    kinds = {(f.kind, f.column) for f in data_quality(frame, "y")}
    assert ("level_leak", "판정메모") in kinds and ("presence_leak", "note") in kinds
    assert not any(c == "x" for _k, c in kinds)


def no_positive_fold_table() -> pd.DataFrame:
    """500 rows, 4 folds of 100 test rows: the second test block (rows 200-299) holds no failed part."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=500)
    fail = (x + rng.normal(0, 0.7, 500) > 1.3).astype(int)
    fail[200:300] = 0
    return pd.DataFrame({"x": x, "z": rng.normal(size=500), "fail": fail})


def test_a_fold_without_positives_is_said_and_kept_out_of_the_mean_never_scored_perfect() -> None:
    report = run_testbed(no_positive_fold_table(), "fail", folds=4)
    infos = report.fold_info
    assert [f.test_positives for f in infos][1] == 0 and not infos[1].scored and infos[0].scored
    notes = [n for n in report.prepared.notes if n.kind == "one_class_fold"]
    assert [n.params["fold"] for n in notes] == [2]
    assert "not scored as perfect" in notes[0].english() and "만점으로 치지 않습니다" in notes[0].korean()
    for res in report.results:
        assert np.isnan(res.folds[1]["balanced_accuracy"]) and np.isnan(res.folds[1]["roc_auc"])
        assert res.scored_folds("balanced_accuracy") == 3
    majority = next(r for r in report.results if r.name == "majority class")
    assert majority.mean("balanced_accuracy") == 0.5  # not (0.5 + 0.5 + 1.0 + 0.5) / 4
    assert report.margin().folds == 3
    result = report_dict(report)
    assert [f["scored"] for f in result["folds"]] == [True, False, True, True]


def test_a_table_whose_test_folds_hold_one_class_only_is_refused() -> None:
    fail = np.zeros(200, dtype=int)
    fail[:30] = 1  # failures only in the first (training-only) block
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=200), "fail": fail})
    from smart365.analytics.testbed import TestbedError

    with pytest.raises(TestbedError, match="No test fold holds more than one class"):
        scorable_folds(prepare(frame, "fail"), 3)


def _report_with_margins(model_ba: list[float], base_ba: list[float]) -> TestbedReport:
    prep = prepare(pd.DataFrame({"x": np.arange(20.0) % 3, "y": [0, 1] * 10}), "y")
    model = CandidateResult("LightGBM", False, [{"balanced_accuracy": v} for v in model_ba])
    base = CandidateResult("majority class", True, [{"balanced_accuracy": v} for v in base_ba])
    return TestbedReport(prep, [model, base], [FoldInfo(k, 10, 10) for k in range(1, len(model_ba) + 1)])


def test_a_winner_is_named_only_when_the_margin_clears_the_fold_spread() -> None:
    noisy = _report_with_margins([0.9, 0.45, 0.8, 0.42], [0.5, 0.5, 0.5, 0.5])  # mean +0.14, sd 0.24
    assert noisy.ranked()[0].name == "LightGBM" and not noisy.beats_baselines() and noisy.winner is None
    steady = _report_with_margins([0.62, 0.60, 0.65, 0.61], [0.5, 0.5, 0.5, 0.5])
    assert steady.beats_baselines() and steady.winner == "LightGBM"
    m = noisy.margin()
    assert (m.model, m.baseline, m.folds) == ("LightGBM", "majority class", 4) and m.sd > m.mean > 0
    result = report_dict(noisy)
    assert result["winner"]["model"] is None and result["winner"]["beats_baselines"] is False
    with use_locale("ko"):
        korean = verdict(result)
    with use_locale("en"):
        english = verdict(result)
    assert not korean.trusted and "낫다고 보여 준 모델이 없습니다" in korean.sentence
    assert "No model is shown to be better than the simple baselines" in english.sentence
    assert Margin("a", "b", 0.2, 0.0, 1).shown is False  # one fold: no spread to judge by


def test_group_splits_keep_each_lot_on_one_side_and_the_cli_takes_group(tmp_path: Path) -> None:
    frame = parts_table(400)
    prep = prepare(frame.drop(columns="Reason"), "fail", time="생산시각", group="lot")
    assert prep.groups is not None and "lot" not in prep.x.columns
    for train, test in scorable_folds(prep, 3):
        assert not set(prep.groups[train]) & set(prep.groups[test])
    data, out = tmp_path / "parts.csv", tmp_path / "out.json"
    frame.sample(frac=1.0, random_state=0).to_csv(data, index=False)
    result = runner.invoke(app, ["testbed", "run", "--data", str(data), "--target", "fail", "--time", "생산시각",
                                 "--group", "lot", "--folds", "3", "--json", str(out)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "ROC-AUC" in result.output and "PR-AUC" in result.output and "fit (s)" in result.output
    assert "폴드 1:" in result.output and "positives" in result.output  # positives per test fold
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["data"]["group"] == "lot" and any(n["kind"] == "groups" for n in report["notes"])
    bad = runner.invoke(app, ["testbed", "run", "--data", str(data), "--target", "fail", "--group", "nope",
                              "--json", str(out)])  # fmt: skip
    assert bad.exit_code == 2 and "nope" in bad.output


def test_identical_rows_with_different_labels_and_bursts_of_failures_are_named() -> None:
    rng = np.random.default_rng(2)
    fail = (rng.random(300) < 0.1).astype(int)
    fail[100:107] = 1  # seven failures in a row
    frame = pd.DataFrame({"a": rng.normal(size=300).round(3), "b": rng.normal(size=300), "fail": fail})
    frame.loc[[10, 11], ["a", "b"]] = [1.5, 2.5]
    frame.loc[10, "fail"], frame.loc[11, "fail"] = 0, 1
    findings = {f.kind: f for f in prepare(frame, "fail").findings}
    clash = findings["conflicting_labels"]
    assert clash.params["rows"] == 2 and clash.params["examples"] == "11, 12"  # file rows, 1 = first data row
    burst = findings["burst"]
    assert burst.params["longest"] >= 7 and burst.params["start"] == "#101"
    assert "bursts" in burst.english() and "연속" in burst.korean() and burst.params["expected"] == "3"


@pytest.mark.parametrize(("text", "expected"), [
    ("2020-10-16 오전 12:00:00", "2020-10-16 00:00:00"), ("2020-10-16 오후 1:30:00", "2020-10-16 13:30:00"),
    ("2020.10.16", "2020-10-16 00:00:00"), ("2020. 10. 16.", "2020-10-16 00:00:00"),
    ("2020년 10월 16일", "2020-10-16 00:00:00"), ("2020년 10월 16일 14시 5분", "2020-10-16 14:05:00"),
])  # fmt: skip
def test_korean_factory_date_formats_read_as_dates(text: str, expected: str) -> None:
    assert as_datetime(pd.Series([text])).iloc[0] == pd.Timestamp(expected)
    column = pd.Series([text] * 5)
    assert column_kind(column) == "time"


def test_rows_are_ordered_by_a_korean_am_pm_time_column() -> None:
    frame = pd.DataFrame({"일시": ["2020-10-16 오후 1:00:00", "2020-10-16 오전 12:00:00", "2020-10-16 오전 9:00:00"],
                          "x": [3.0, 1.0, 2.0], "y": [3.5, 1.5, 2.5]})  # fmt: skip
    prep = prepare(frame, "y", time="일시", task="regression")
    assert prep.x["x"].tolist() == [1.0, 2.0, 3.0] and not [n for n in prep.notes if n.kind == "bad_time"]


def test_regression_results_are_read_in_words_not_a_bare_negative_r2() -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200), "y": rng.normal(size=200)})
    result = report_dict(run_testbed(frame, "y", folds=3))
    best = next(r for r in result["results"] if not r["baseline"])
    assert best["metrics"]["r2"] < 0
    with use_locale("ko"):
        korean = verdict(result).reading
    with use_locale("en"):
        english = verdict(result).reading
    assert korean is not None and "평균값으로만 예측하는 것보다 못합니다" in korean
    assert english is not None and "predicts worse than simply using the average" in english
