"""``smart365 centre``: dedicated-expert assignment and SLA escalation from the command line.

``assign`` ranks the firms with a submitted survey, takes the top ones below Level 3 and assigns the
registered experts to them optimally; ``--synthetic 50x500`` runs on a generated instance instead (no
database), to see the solver's speed. ``escalate`` flags every open ticket past its SLA (run it from cron).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from smart365.centre.assign import AssignmentResult, assign_experts, synthetic_instance
from smart365.core.db import Database
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM

app = typer.Typer(name="centre", help="스마트365센터 / the Smart365 centre", no_args_is_help=True, add_completion=False)
console = Console(highlight=False)


def _database() -> Database:
    from smart365.core import migrate

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.records_url)
    return Database(settings.records_url)


def _size(text: str) -> tuple[int, int]:
    try:
        experts, firms = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise typer.BadParameter("EXPERTSxFIRMS 형식이어야 합니다 / expected EXPERTSxFIRMS, e.g. 50x500") from exc
    return experts, firms


@app.command("assign")
def assign(
    json_out: Annotated[Path, typer.Option("--json", help="결과 JSON / result JSON to write")],
    top: Annotated[int, typer.Option(help="우선순위 상위 기업 수 / top-ranked firms to support")] = 500,
    apply: Annotated[bool, typer.Option(help="전담 전문가로 저장 / record as dedicated experts")] = False,
    synthetic: Annotated[str | None, typer.Option(help="합성 문제 / synthetic instance, e.g. 50x500")] = None,
) -> None:
    """전담 전문가 배정 (최적화) / Assign dedicated experts to firms by optimisation."""
    started = time.perf_counter()
    names: dict[str, str] = {}
    if synthetic:
        experts, firms = synthetic_instance(*_size(synthetic), seed=365)
        result = assign_experts(experts, firms)
        n_experts, n_firms = len(experts), len(firms)
    else:
        from smart365.centre.experts import current_weights
        from smart365.centre.support import apply_plan, plan_assignment

        db = _database()
        with db.session(SYSTEM) as session:
            plan = plan_assignment(session, top=top, priority=current_weights(Settings()))
            if apply:
                apply_plan(session, plan)
        result, n_experts, n_firms = plan.result, len(plan.experts), len(plan.chosen)
        names = {str(c.company.id): c.company.name for c in plan.chosen} | {f"e{e.id}": e.name for e in plan.experts}
        db.dispose()
    seconds = time.perf_counter() - started
    json_out.write_text(json.dumps(_as_json(result, names, n_experts, n_firms, seconds), ensure_ascii=False, indent=2))
    _print(result, names, n_experts, n_firms, seconds)
    if not synthetic and apply:
        console.print(f"저장됨 / recorded: {len(result.assignments)}")
    console.print(f"→ {json_out}")


def _as_json(
    result: AssignmentResult, names: dict[str, str], n_experts: int, n_firms: int, seconds: float
) -> dict[str, Any]:
    return {
        "experts": n_experts,
        "firms": n_firms,
        "served": result.served,
        "objective": round(result.objective, 4),
        "seconds": round(seconds, 3),
        "assignments": [
            {
                "firm_id": a.firm_id,
                "firm": names.get(a.firm_id, ""),
                "expert_id": a.expert_id,
                "expert": names.get(f"e{a.expert_id}", ""),
                "fit": round(a.fit, 4),
                "explanation": dict(a.explanation),
            }
            for a in result.assignments
        ],
        "unassigned": [
            {"firm_id": u.firm_id, "reason": u.reason, "explanation": dict(u.explanation)} for u in result.unassigned
        ],
        "load": result.load,
    }


def _print(result: AssignmentResult, names: dict[str, str], n_experts: int, n_firms: int, seconds: float) -> None:
    table = Table(title=f"전담 전문가 배정 / dedicated experts — {n_experts} × {n_firms}")
    for column in ("기업 / firm", "전문가 / expert", "적합도 / fit", "근거 / why"):
        table.add_column(column)
    for a in result.assignments[:15]:
        firm = names.get(a.firm_id, a.firm_id)
        table.add_row(firm, names.get(f"e{a.expert_id}", a.expert_id), f"{a.fit:.2f}", a.explanation.get("ko", ""))
    console.print(table)
    if not n_firms:
        console.print("Level 3 미만이면서 설문을 제출한 기업이 없습니다 / no firm below Level 3 has a submitted survey")
    left = len(result.unassigned)
    console.print(f"배정 {result.served} / 미배정 {left} · 목적함수 {result.objective:.1f} · {seconds:.2f}초")
    console.print(f"served {result.served}, unassigned {left}, objective {result.objective:.1f}, {seconds:.2f} s")


@app.command("escalate")
def escalate() -> None:
    """SLA 초과 애로사항 에스컬레이션 / Escalate every open ticket past its SLA."""
    from smart365.centre.tickets import escalate_breaches

    db = _database()
    with db.session(SYSTEM) as session:
        raised = escalate_breaches(session)
        for ticket in raised:
            console.print(f"#{ticket.id} {ticket.title}")
    console.print(f"에스컬레이션 {len(raised)}건 / escalated: {len(raised)}")
    db.dispose()
