"""``smart365 programmes bench --json OUT``: the table and the JSON under its ``selection`` key."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smart365.cli.main import app
from smart365.programmes import bench


def test_the_bench_prints_the_table_and_writes_the_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.BENCHMARKS, "selection", partial(bench.selection_bench, applications=300, seed=5))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["programmes", "bench", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "MILP (HiGHS)" in result.output and "greedy by score" in result.output
    row = json.loads(out.read_text(encoding="utf-8"))["selection"]
    assert row["applications"] == 300 and row["ours_within_budget"] and row["quota_met"]
    assert row["gap"] <= 1e-3 and row["ours_total"] >= max(row["greedy_total"], row["greedy_ratio_total"])
    assert {"applications", "ours_total", "greedy_total", "gap", "seconds"} <= row.keys()
