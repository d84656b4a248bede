"""``smart365 programmes bench --json OUT``: the table and the JSON under its ``selection`` key."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smart365.cli.main import app
from smart365.programmes import bench


def test_the_bench_prints_the_tables_and_writes_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.BENCHMARKS, "selection", partial(bench.selection_bench, applications=300, seed=5))
    monkeypatch.setitem(bench.BENCHMARKS, "matching", partial(bench.matching_bench, suppliers=300, needs=10, seed=5))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["programmes", "bench", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "MILP (HiGHS)" in result.output and "greedy by score" in result.output
    row = json.loads(out.read_text(encoding="utf-8"))["selection"]
    assert row["applications"] == 300 and row["ours_within_budget"] and row["quota_met"]
    assert row["gap"] <= 1e-3 and row["ours_total"] >= max(row["greedy_total"], row["greedy_ratio_total"])
    assert {"applications", "ours_total", "greedy_total", "gap", "seconds"} <= row.keys()
    matched = json.loads(out.read_text(encoding="utf-8"))["matching"]
    assert {"needs", "suppliers", "recall_at_10", "keyword_recall_at_10"} <= matched.keys()
    assert matched["needs"] == 10 and matched["suppliers"] == 300 and "recall@10" in result.output
