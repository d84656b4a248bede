"""``smart365 testbed``: the AI test-bed from the command line (AI 테스트베드).

Mount it in the main command line with ``app.add_typer(analytics_cli.app, name="testbed")``, then::

    smart365 testbed run --data line3.csv --target defect --time produced_at --json result.json
    smart365 testbed bench --dataset all --json bench.json

Exit codes: 0 done; 2 the input cannot be used (missing file, unknown column, a target with one class, ...):
the reason is printed in Korean and English, and nothing is written.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from smart365.core.errors import AppError
from smart365.core.i18n import N_, bilingual, translate_in

if TYPE_CHECKING:  # the models load only when a command runs, so `smart365 --help` stays quick
    from smart365.analytics.benchmarks import BenchRow
    from smart365.analytics.testbed import TestbedReport

app = typer.Typer(name="testbed", help="AI 테스트베드 / AI test-bed", no_args_is_help=True, add_completion=False)


class TaskChoice(StrEnum):
    classification = "classification"
    regression = "regression"
    anomaly = "anomaly"


class BenchChoice(StrEnum):
    skab = "skab"
    secom = "secom"
    cmapss = "cmapss"
    all = "all"



@app.callback()
def main() -> None:
    """AI 테스트베드 / AI test-bed."""


@app.command("run")
def run_command(
    data: Annotated[Path, typer.Option("--data", help="표 파일 (CSV·Parquet·Excel) / table file", dir_okay=False)],
    target: Annotated[str, typer.Option("--target", help="예측할 열 / column to predict")],
    json_out: Annotated[Path, typer.Option("--json", help="결과 JSON 파일 / result JSON file", dir_okay=False)],
    time: Annotated[str | None, typer.Option("--time", help="시간 열 (없으면 행 순서) / time column")] = None,
    task: Annotated[TaskChoice | None, typer.Option("--task", help="과제 (기본: 자동) / task")] = None,
    folds: Annotated[int, typer.Option("--folds", min=1, max=20, help="시간순 폴드 수 / time-ordered folds")] = 4,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="제외할 열 (반복) / column to leave out")] = None,
    group: Annotated[str | None, typer.Option(
        "--group", help="묶음 열 (배치·로트·실험): 한 묶음은 분할의 한쪽에만 / batch, lot or experiment column: "
                        "a group stays on one side of every split")] = None,
) -> None:
    """처음 보는 표에서 후보 모델과 기준선 비교 / compare candidate models with baselines on any table."""
    from smart365.analytics.testbed import load_table, run_testbed

    console = Console(highlight=False)
    try:
        _check_writable(json_out)
        frame = load_table(data)
        with _progress(console) as bar:
            step = bar.add_task(bilingual(N_("fitting and scoring")), total=None)
            report = run_testbed(frame, target, time, task.value if task else None, folds, drop=drop or (),
                                 progress=lambda done, total, name: bar.update(step, completed=done, total=total,
                                                                               description=name),
                                 group=group)  # fmt: skip
    except AppError as error:
        _fail(console, error)
    _print_findings(console, report)
    console.print(_table(report))
    result = report_dict(report, data)
    for line in fold_lines(result):
        console.print(f"[dim]{escape(line)}[/]")
    console.print(escape(verdict_line(result)))
    json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=_plain), encoding="utf-8")
    console.print(bilingual(N_("written: {path}"), path=str(json_out)))


WINNER = N_("winner: {name} (better than {baseline} by {margin} on average, fold sd {sd}, {folds} folds)")
NO_WINNER = N_(
    "No model is shown to be better than the simple baseline {baseline}: the best model, {name}, differs by {margin} "
    "on average with a fold sd of {sd} ({folds} folds scored)."
)


FOLD_LINE = N_("fold {fold}: {train} rows train, {test} rows test, {positives} positives ({label}) in the test part")
FOLD_LINE_UNSCORED = N_(
    "fold {fold}: {train} rows train, {test} rows test, {positives} positives ({label}) in the test part — not "
    "scored, left out of the means"
)


def verdict_line(result: dict[str, Any]) -> str:
    """The verdict in Korean and English: the winner and its margin, or that no model is shown better."""
    from smart365.analytics.testbed import fmt

    w = result["winner"]
    m = w["margin"]
    values = {"name": w["best_model"], "baseline": w["best_baseline"], "margin": fmt(m["mean"], 3),
              "sd": fmt(m["sd"], 3), "folds": m["folds"]}  # fmt: skip
    return bilingual(WINNER if w["beats_baselines"] else NO_WINNER, **values)


def fold_lines(result: dict[str, Any]) -> list[str]:
    """One line per fold: rows trained and tested, and the positives in the test part (two classes)."""
    lines = []
    for f in result["folds"]:
        if f.get("test_positives") is None:
            lines.append(bilingual(N_("fold {fold}: {train} rows train, {test} rows test"), fold=f["fold"],
                                   train=f["train_rows"], test=f["test_rows"]))  # fmt: skip
        else:
            text = FOLD_LINE if f["scored"] else FOLD_LINE_UNSCORED
            lines.append(bilingual(text, fold=f["fold"], train=f["train_rows"], test=f["test_rows"],
                                   positives=f["test_positives"], label=result["positive_class"]))  # fmt: skip
    return lines


def _fail(console: Console, error: AppError) -> NoReturn:
    """Print the reason in Korean and English (user text escaped from Rich markup) and exit with code 2."""
    console.print(f"[red]{bilingual(N_('error'))}:[/] {escape(bilingual(error.message, **error.params))}")
    raise typer.Exit(2)


def _check_writable(path: Path) -> None:
    if not path.parent.is_dir():
        raise AppError(N_("Cannot write {path}: the folder does not exist."), path=str(path))


def _plain(value: Any) -> Any:
    """JSON fallback for NumPy scalars."""
    return value.item() if hasattr(value, "item") else str(value)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)  # fmt: skip


def _print_findings(console: Console, report: TestbedReport) -> None:
    prep = report.prepared
    for note in prep.notes:
        console.print(f"[cyan]•[/] {note.korean()} / {note.english()}")
    for finding in prep.findings:
        colour = "red" if finding.kind in {"leak", "presence_leak", "level_leak"} else "yellow"
        console.print(f"[{colour}]![/] {finding.korean()} / {finding.english()}")
    for column, reason in prep.dropped.items():
        korean = translate_in("ko", N_("column left out: {column} ({reason})")).format(
            column=column, reason=translate_in("ko", reason)
        )
        english = translate_in("en", N_("column left out: {column} ({reason})")).format(column=column, reason=reason)
        console.print(f"[dim]-[/] {korean} / {english}")


def _table(report: TestbedReport) -> Table:
    import numpy as np

    from smart365.analytics.testbed import PRIMARY, TASK_NAMES, fmt, r2_reading

    metric, higher = PRIMARY[report.task]
    arrow = "↑" if higher else "↓"
    title = bilingual(N_("Test-bed results: {folds} time-ordered folds"), folds=len(report.folds))
    prep = report.prepared
    table = Table(title=f"{bilingual(TASK_NAMES[report.task])} — {title}")
    table.add_column(bilingual(N_("model")))
    table.add_column(f"{metric} {arrow} (mean ± sd)", justify="right")
    if prep.binary:
        prior = float(np.mean(prep.y == prep.positive))
        table.add_column("ROC-AUC ↑ (mean ± sd)", justify="right")
        table.add_column(f"PR-AUC ↑ (prior {prior:.3f})", justify="right")
    if report.task == "regression":
        table.add_column("R²", justify="left")
    table.add_column(bilingual(N_("training time (s/fold)")), justify="right")
    table.add_column(bilingual(N_("fit (s)")), justify="right")
    table.add_column(bilingual(N_("scoring (rows/s)")), justify="right")
    for res in report.ranked():
        name = res.name + (f" ({bilingual(N_('baseline'))})" if res.baseline else "")
        cells = [name, f"{fmt(res.mean(metric))} ± {fmt(res.spread(metric), 2)}"]
        if prep.binary:
            cells += [f"{fmt(res.mean('roc_auc'), 3)} ± {fmt(res.spread('roc_auc'), 2)}",
                      f"{fmt(res.mean('pr_auc'), 3)} ± {fmt(res.spread('pr_auc'), 2)}"]  # fmt: skip
        if report.task == "regression":
            reading = r2_reading(res.mean("r2"))
            cells.append(bilingual(reading[0], **reading[1]) if reading else "—")
        cells += [f"{res.fit_seconds / max(len(res.folds), 1):.3f}", f"{res.fit_seconds:.2f}",
                  f"{res.rows_per_second:,.0f}"]  # fmt: skip
        table.add_row(*cells)
    return table


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def report_dict(report: TestbedReport, source: Path | None = None) -> dict[str, Any]:
    """The JSON result: data summary, findings, folds (with their positives), per-candidate results (every
    metric's mean and fold sd; for two classes the reliability curve) and the winner with its margin."""
    import numpy as np

    prep = report.prepared
    metric = report.metric
    results = []
    for res in report.ranked():
        names = list(res.folds[0].keys()) if res.folds else []
        results.append({
            "model": res.name, "baseline": res.baseline, "metric": metric, "mean": _num(res.mean(metric)),
            "sd": _num(res.spread(metric)), "scored_folds": res.scored_folds(metric),
            "metrics": {m: _num(res.mean(m)) for m in names}, "sds": {m: _num(res.spread(m)) for m in names},
            "folds": [{m: _num(v) for m, v in fold.items()} for fold in res.folds],
            "fit_seconds_per_fold": res.fit_seconds / max(len(res.folds), 1), "fit_seconds": res.fit_seconds,
            "rows_per_second": _num(res.rows_per_second), "reliability": res.reliability(),
        })  # fmt: skip
    margin = report.margin()
    best = next(r for r in results if not r["baseline"])
    positive = prep.classes[prep.positive] if prep.positive is not None else None
    return {
        "data": {"file": str(source) if source else None, "rows": len(prep.y), "features": list(prep.x.columns),
                 "dropped": {c: translate_in("en", r) for c, r in prep.dropped.items()}, "encoded": prep.encoded,
                 "group": prep.group},
        "task": report.task, "target": prep.target, "time": prep.time, "classes": prep.classes,
        "positive_class": positive,
        "positive_rate": _num(float(np.mean(prep.y == prep.positive))) if prep.positive is not None else None,
        "folds": [{"fold": f.number, "train_rows": f.train_rows, "test_rows": f.test_rows,
                   "test_positives": f.test_positives, "train_positives": f.train_positives, "scored": f.scored}
                  for f in report.fold_info],
        "notes": [n.as_dict() for n in prep.notes], "findings": [f.as_dict() for f in prep.findings],
        "results": results,
        "winner": {"model": report.winner, "best_model": margin.model, "best_baseline": margin.baseline,
                   "metric": metric, "mean": best["mean"], "beats_baselines": margin.shown,
                   "margin": {"mean": _num(margin.mean), "sd": _num(margin.sd), "folds": margin.folds,
                              "rule": "mean > sd of the per-fold margin, at least 2 folds"}},
    }  # fmt: skip


@app.command("bench")
def bench_command(
    json_out: Annotated[Path, typer.Option("--json", help="결과 JSON 파일 / result JSON file", dir_okay=False)],
    dataset: Annotated[BenchChoice, typer.Option("--dataset", help="데이터셋 / dataset")] = BenchChoice.all,
) -> None:
    """공개 벤치마크를 표준 절차로 실행, 발표 수치와 비교 / run the public benchmarks by their standard protocol."""
    from smart365.analytics.benchmarks import run_benchmarks

    console = Console(highlight=False)
    try:
        _check_writable(json_out)
        with console.status(bilingual(N_("running benchmarks"))):
            rows = run_benchmarks(dataset.value)
    except AppError as error:
        _fail(console, error)
    console.print(bench_table(rows))
    payload = json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2, default=_plain)
    json_out.write_text(payload, encoding="utf-8")
    console.print(bilingual(N_("written: {path}"), path=str(json_out)))


def bench_table(rows: list[BenchRow]) -> Table:
    """One Rich table: dataset, model, metric, ours, reference, fit time, throughput."""
    from smart365.analytics.testbed import fmt

    table = Table(title=bilingual(N_("Benchmarks (standard protocols)")))
    for header in (N_("dataset"), N_("model"), N_("metric"), N_("ours"), N_("reference"),
                   N_("fit (s)"), N_("scoring (rows/s)")):  # fmt: skip
        table.add_column(bilingual(header), justify="right" if header in {"ours", "fit (s)"} else "left")
    for r in rows:
        table.add_row(r.dataset, r.model, r.metric, fmt(r.ours), r.reference, f"{r.fit_seconds:.2f}",
                      f"{r.rows_per_second:,.0f}" if math.isfinite(r.rows_per_second) else "—")  # fmt: skip
    return table
