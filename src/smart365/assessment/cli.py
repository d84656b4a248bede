"""``smart365 assess``: score a survey response file from the command line (수준진단 채점).

Mount it in the main command line with ``app.add_typer(assessment_cli.app, name="assess")``.

Exit codes: 0 every row scored; 1 some cells or header cells were bad: the good rows are still scored and
written, each bad cell is printed with its row, column and reason (a survey of thousands of firms should not
wait for one typo, and a script still sees that something needs fixing); 2 nothing could be scored (the
instrument or the file cannot be used), and no output is written.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from smart365.assessment.gap import roadmaps_for
from smart365.assessment.instrument import Instrument, InstrumentError, load_instrument
from smart365.assessment.responses import ResponseSet, read_responses
from smart365.assessment.scoring import RULES, Scores, score
from smart365.core.errors import AppError
from smart365.core.i18n import N_, bilingual

app = typer.Typer(
    name="assess", help="수준진단 채점 / maturity assessment scoring", no_args_is_help=True,
    add_completion=False,
)

#: How each level rule is named to users.
RULE_NAMES = {
    "threshold": N_("total score threshold"),
    "systems_area": N_("systems & automation area stage"),
    "domain_lag": N_("lagging domain"),
}
MAX_ERRORS_SHOWN = 50



@app.callback()
def main() -> None:
    """수준진단 / maturity assessment."""


@app.command("score")
def score_command(
    file: Annotated[Path, typer.Argument(help="응답 파일 (CSV·Excel) / response file (CSV or Excel)",
                                         exists=True, dir_okay=False, readable=True)],
    json_out: Annotated[Path, typer.Option(
        "--json", help="결과 JSON 파일 / result JSON file", dir_okay=False)],
    instrument_path: Annotated[Path | None, typer.Option(
        "--instrument", help="진단도구 파일 (기본: 2026.1) / instrument file (default: 2026.1)",
        exists=True, dir_okay=False)] = None,
    target: Annotated[int | None, typer.Option(
        "--target", min=1, max=5,
        help="목표 수준 (기본: 진단도구의 값) / target level (default: the instrument's)")] = None,
    top: Annotated[int, typer.Option(
        "--top", min=0, help="기업별 로드맵 항목 수 (0: 생략) / roadmap items per firm (0: none)")] = 3,
    errors_csv: Annotated[Path | None, typer.Option(
        "--errors", help="모든 오류를 CSV로 저장 / write every error to a CSV file", dir_okay=False)] = None,
) -> None:
    """응답 파일을 채점해 JSON으로 저장 / score a response file and write the results as JSON."""
    console = Console(highlight=False)
    instrument = _load(instrument_path, console)
    try:
        responses = read_responses(file, instrument)
    except AppError as error:  # a response file that cannot be read, or one over the row limits
        console.print(f"[red]{bilingual(error.message, **error.params)}[/]")
        raise typer.Exit(2) from error
    scores = score(instrument, responses.stages)
    results = _results(instrument, responses, scores, target, top)
    _write_json(json_out, results)
    _print_levels(console, scores)
    _print_errors(console, responses)
    if errors_csv is not None:
        _write_errors(errors_csv, responses)
    console.print(bilingual(N_("firms scored: {scored}, rows left out: {rejected}, errors: {errors} → {path}"),
                            scored=len(responses), rejected=responses.rejected, errors=len(responses.errors),
                            path=json_out))
    if responses.errors:
        raise typer.Exit(1)


def _load(path: Path | None, console: Console) -> Instrument:
    try:
        return load_instrument(path)
    except InstrumentError as error:
        title = bilingual(N_("The instrument is not valid ({count} problems)"), count=len(error.problems))
        console.print(f"[red]{title}[/]")
        for problem in error.problems:
            console.print(f"  - {problem}")
        raise typer.Exit(2) from error


def _results(
    instrument: Instrument, responses: ResponseSet, scores: Scores, target: int | None, top: int
) -> dict[str, dict[str, Any]]:
    goal = instrument.target_level if target is None else target
    plans = [[] for _ in range(len(responses))] if not top else roadmaps_for(
        scores, responses.stages, priority_kpis=responses.priority_kpis, target=goal, top=top)
    results = {}
    for row, (key, result) in enumerate(zip(responses.ids, scores.summaries(), strict=True)):
        result |= {
            "row": responses.rows[row], "answered_by": responses.answered_by[row],
            "answered_at": responses.answered_at[row], "priority_kpis": list(responses.priority_kpis[row]),
            "target_level": goal, "roadmap": [entry.as_dict() for entry in plans[row]],
        }
        results[key] = result
    return results


def _write_json(path: Path, results: dict[str, dict[str, Any]]) -> None:
    """One firm per line: readable and diffable, and written by the fast (C) encoder, which ``indent`` would
    switch off (100,000 firms: seconds instead of minutes)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("{")
        for index, (key, value) in enumerate(results.items()):
            handle.write(f"{',' if index else ''}\n{json.dumps(key, ensure_ascii=False)}: ")
            handle.write(json.dumps(value, ensure_ascii=False))
        handle.write("\n}\n")


def _print_levels(console: Console, scores: Scores) -> None:
    counts = scores.level_counts()
    table = Table(title=bilingual(N_("Level distribution")))
    for header in (N_("level"), N_("name"), N_("firms"), N_("share")):
        table.add_column(bilingual(header), justify="left" if header == "name" else "right")
    total = max(len(scores), 1)
    for level, count in counts.items():
        name = scores.instrument.level_name(level)
        table.add_row(str(level), f"{name.ko} / {name.en}", f"{count:,}", f"{100 * count / total:.1f} %")
    console.print(table)
    blocked = Table(title=bilingual(N_("What blocks the next level")))
    blocked.add_column(bilingual(N_("rule")))
    blocked.add_column(bilingual(N_("firms")), justify="right")
    for index, rule in enumerate(RULES):
        blocked.add_row(bilingual(RULE_NAMES[rule]), f"{int((scores.blocking == index).sum()):,}")
    console.print(blocked)


def _print_errors(console: Console, responses: ResponseSet) -> None:
    if not responses.errors:
        return
    table = Table(title=bilingual(N_("errors")), title_style="bold red")
    for header in (N_("row"), N_("column"), N_("reason")):
        table.add_column(bilingual(header), overflow="fold")
    for error in responses.errors[:MAX_ERRORS_SHOWN]:
        table.add_row(str(error.row), error.column, f"{error.korean()} / {error.english()}")
    console.print(table)
    hidden = len(responses.errors) - MAX_ERRORS_SHOWN
    if hidden > 0:
        message = N_("… and {count} more errors (write them all with --errors FILE)")
        console.print(bilingual(message, count=hidden))


def _write_errors(path: Path, responses: ResponseSet) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:  # BOM: Excel in Korea opens it right
        writer = csv.writer(handle)
        writer.writerow(["row", "column", "reason_ko", "reason_en"])
        for error in responses.errors:
            writer.writerow([error.row, error.column, error.korean(), error.english()])
