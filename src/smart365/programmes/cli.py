"""``smart365 programmes``: the support programmes' benchmark.

``bench --json OUT`` runs every benchmark of :mod:`smart365.programmes.bench` (the selection within the budget on
a generated call of 2,000 applications: our MILP against greedy-by-score; the 판로 matching of 200 generated needs
against 5,000 supplier profiles: recall@10 of our matcher beside plain keyword search), prints the tables and
writes ``{"selection": {...}, "matching": {...}}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from smart365.core.i18n import N_, bilingual

app = typer.Typer(name="programmes", help="지원사업 / support programmes", no_args_is_help=True, add_completion=False)


def selection_table(row: dict[str, Any]) -> Table:
    """The selection benchmark as one table: ours (MILP) and greedy-by-score at the same budget."""
    table = Table(title=bilingual(N_("Selection within the budget: {n} applications"), n=f"{row['applications']:,}"))
    for header in (N_("method"), N_("total score"), N_("selected"), N_("awarded (million won)"), N_("quotas met"),
                   N_("gap"), N_("seconds")):  # fmt: skip
        left = header in ("method", "quotas met")
        table.add_column(bilingual(header), justify="left" if left else "right", no_wrap=header == "method")

    def mark(ok: bool) -> str:
        return "✓" if ok else "✗"

    def millions(won: int) -> str:
        return f"{won / 1e6:,.0f}"

    table.add_row("MILP (HiGHS)", f"{row['ours_total']:,.2f}", f"{row['ours_selected']:,}", millions(row["ours_cost"]),
                  mark(row["quota_met"]), f"{100 * row['gap']:.4f} %", f"{row['seconds']:.2f}")  # fmt: skip
    for label, key in ((N_("greedy by score"), "greedy"), (N_("greedy by score per won"), "greedy_ratio")):
        table.add_row(bilingual(label), f"{row[key + '_total']:,.2f}", f"{row[key + '_selected']:,}",
                      millions(row[key + "_cost"]), mark(row[key + "_quota_met"]), "–", "–")  # fmt: skip
    return table


def matching_table(row: dict[str, Any]) -> Table:
    """The matching benchmark as one table: recall@10 of our matcher and of plain keyword search."""
    title = bilingual(N_("판로 matching: {needs} needs against {suppliers} supplier profiles"),
                      needs=f"{row['needs']:,}", suppliers=f"{row['suppliers']:,}")  # fmt: skip
    table = Table(title=title)
    for header in (N_("method"), N_("recall@10"), N_("seconds")):
        table.add_column(bilingual(header), justify="left" if header == "method" else "right", no_wrap=True)
    table.add_row(bilingual(N_("ours: morphemes, ontology, BM25 and criteria")), f"{row['recall_at_10']:.4f}",
                  f"{row['index_seconds'] + row['rank_seconds']:.2f}")  # fmt: skip
    table.add_row(bilingual(N_("plain keyword search (BM25 over words)")), f"{row['keyword_recall_at_10']:.4f}",
                  f"{row['keyword_seconds']:.2f}")  # fmt: skip
    return table


@app.command("bench")
def bench(
    json_out: Annotated[Path, typer.Option("--json", help="결과 JSON 파일 / result JSON file", dir_okay=False)],
) -> None:
    """선정·판로 매칭 벤치마크 / the selection (MILP against greedy) and 판로 matching (recall@10) benchmarks."""
    from smart365.programmes.bench import run_benchmarks

    console = Console(highlight=False, width=160)
    with console.status(bilingual(N_("running benchmarks"))):
        results = run_benchmarks()
    row = results["selection"]
    console.print(selection_table(row))
    minimums = ", ".join(f"{k} {v}" for k, v in row["region_minimums"].items())
    rules = N_("budget {budget} won, cap {cap} won, 소부장 at least {quota} %, region minimums {minimums}")
    quota = f"{100 * row['sobujang_quota']:g}"
    console.print(bilingual(rules, budget=f"{row['budget']:,}", cap=f"{row['cap']:,}", quota=quota, minimums=minimums))
    if match := results.get("matching"):
        console.print(matching_table(match))
        note = N_("seed {seed} (weights set on seed {dev_seed}); {good} good suppliers a need on average, written in "
                  "other words than the need")  # fmt: skip
        console.print(bilingual(note, seed=match["seed"], dev_seed=match["dev_seed"], good=match["good_per_need"]))
    json_out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(bilingual(N_("written: {path}"), path=str(json_out)))
