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
                                                                               description=name))  # fmt: skip
    except AppError as error:
        _fail(console, error)
    _print_findings(console, report)
    console.print(_table(report))
    result = report_dict(report, data)
    console.print(bilingual(N_("winner: {name}"), name=result["winner"]["model"]))
    if not report.beats_baselines():
        console.print(f"[yellow]{bilingual(N_('No model beats the best simple baseline.'))}[/]")
    json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=_plain), encoding="utf-8")
    console.print(bilingual(N_("written: {path}"), path=str(json_out)))


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
        colour = "red" if finding.kind == "leak" else "yellow"
        console.print(f"[{colour}]![/] {finding.korean()} / {finding.english()}")
    for column, reason in prep.dropped.items():
        korean = translate_in("ko", N_("column left out: {column} ({reason})")).format(
            column=column, reason=translate_in("ko", reason)
        )
        english = translate_in("en", N_("column left out: {column} ({reason})")).format(column=column, reason=reason)
        console.print(f"[dim]-[/] {korean} / {english}")


def _table(report: TestbedReport) -> Table:
    from smart365.analytics.testbed import PRIMARY, TASK_NAMES, fmt

    metric, higher = PRIMARY[report.task]
    arrow = "↑" if higher else "↓"
    title = bilingual(N_("Test-bed results: {folds} time-ordered folds"), folds=len(report.folds))
    table = Table(title=f"{bilingual(TASK_NAMES[report.task])} — {title}")
    table.add_column(bilingual(N_("model")))
    table.add_column(f"{metric} {arrow} (mean ± sd)", justify="right")
    table.add_column(bilingual(N_("training time (s/fold)")), justify="right")
    table.add_column(bilingual(N_("scoring (rows/s)")), justify="right")
    for res in report.ranked():
        name = res.name + (f" ({bilingual(N_('baseline'))})" if res.baseline else "")
        table.add_row(name, f"{fmt(res.mean(metric))} ± {fmt(res.spread(metric), 2)}",
                      f"{res.fit_seconds / max(len(res.folds), 1):.3f}", f"{res.rows_per_second:,.0f}")  # fmt: skip
    return table


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def report_dict(report: TestbedReport, source: Path | None = None) -> dict[str, Any]:
    """The JSON result: data summary, findings, per-candidate results and the winner."""
    prep = report.prepared
    metric = report.metric
    results = []
    for res in report.ranked():
        names = res.folds[0].keys() if res.folds else []
        results.append({
            "model": res.name, "baseline": res.baseline, "metric": metric, "mean": _num(res.mean(metric)),
            "sd": _num(res.spread(metric)), "metrics": {m: _num(res.mean(m)) for m in names},
            "folds": [{m: _num(v) for m, v in fold.items()} for fold in res.folds],
            "fit_seconds_per_fold": res.fit_seconds / max(len(res.folds), 1),
            "rows_per_second": _num(res.rows_per_second),
        })  # fmt: skip
    return {
        "data": {"file": str(source) if source else None, "rows": len(prep.y), "features": list(prep.x.columns),
                 "dropped": {c: translate_in("en", r) for c, r in prep.dropped.items()}, "encoded": prep.encoded},
        "task": report.task, "target": prep.target, "time": prep.time, "classes": prep.classes,
        "folds": [{"train_rows": a, "test_rows": b} for a, b in report.folds],
        "notes": [n.as_dict() for n in prep.notes], "findings": [f.as_dict() for f in prep.findings],
        "results": results,
        "winner": {"model": report.winner, "metric": metric, "mean": results[0]["mean"],
                   "beats_baselines": report.beats_baselines()},
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
