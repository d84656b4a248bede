"""Programme dashboard figures: tickets by category, status, region and week; SLA performance; experts' load;
firms' progress toward the target level. Everything is computed from the caller's scoped session, so a
consultant's dashboard covers the firms assigned to them."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.centre.categories import load_categories
from smart365.centre.models import OPEN_STATUSES, DedicatedExpert, Expert, Ticket, TicketStatus
from smart365.centre.support import latest_responses
from smart365.centre.tickets import expert_loads, sla_of
from smart365.core.db import to_local, utcnow
from smart365.core.i18n import _, current_locale
from smart365.registry import vocab
from smart365.registry.models import Company

TARGET_LEVEL = 3


@dataclass
class SlaRow:
    """SLA performance of one category: tickets, first responses and resolutions on time."""

    category: str
    label: str
    tickets: int = 0
    response_met: int = 0
    response_done: int = 0
    resolution_met: int = 0
    resolution_done: int = 0

    @property
    def response_rate(self) -> float | None:
        return self.response_met / self.response_done if self.response_done else None

    @property
    def resolution_rate(self) -> float | None:
        return self.resolution_met / self.resolution_done if self.resolution_done else None


@dataclass
class Dashboard:
    """What the centre's dashboard page shows."""

    total: int
    open: int
    at_risk: list[Ticket]
    breached: list[Ticket]
    by_category_status: dict[str, dict[str, int]]
    by_region: dict[str, int]
    by_week: dict[str, int]
    sla: list[SlaRow]
    experts: list[dict[str, Any]]
    levels: dict[int, int] = field(default_factory=dict)
    at_target: int = 0
    surveyed: int = 0


def build(session: Session, centre: Session, now: datetime | None = None) -> Dashboard:
    """The dashboard for the caller (``session``); ``centre`` (SYSTEM) gives the experts' ticket loads."""
    now = now or utcnow()
    tickets = list(session.scalars(select(Ticket).order_by(Ticket.opened_at)))
    regions = dict(session.execute(select(Company.id, Company.region)).all())
    locale = current_locale.get()
    by_category_status: dict[str, dict[str, int]] = defaultdict(Counter)
    by_region: Counter[str] = Counter()
    by_week: Counter[str] = Counter()
    sla_rows = {c.id: SlaRow(c.id, c.label(locale)) for c in load_categories()}
    at_risk, breached = [], []
    for ticket in tickets:
        by_category_status[ticket.category][ticket.status] += 1
        by_region[_(vocab.REGIONS.get(regions.get(ticket.company_id, ""), "–"))] += 1
        by_week[_week(ticket.opened_at)] += 1
        clocks = sla_of(ticket, now)
        _count_sla(sla_rows[ticket.category], clocks.first_response, clocks.resolution)
        if ticket.status in OPEN_STATUSES:
            worst = {clocks.first_response.status.value, clocks.resolution.status.value}
            if "breached" in worst:
                breached.append(ticket)
            elif "warning" in worst:
                at_risk.append(ticket)
    responses = latest_responses(session)
    levels = Counter(int(r.level or 0) for r in responses)
    return Dashboard(
        total=len(tickets),
        open=sum(t.status in OPEN_STATUSES for t in tickets),
        at_risk=at_risk,
        breached=breached,
        by_category_status={k: dict(v) for k, v in by_category_status.items()},
        by_region=dict(by_region.most_common()),
        by_week=_every_week(by_week),
        sla=[row for row in sla_rows.values() if row.tickets],
        experts=experts_load(centre),
        levels=dict(sorted(levels.items())),
        at_target=sum(n for level, n in levels.items() if level >= TARGET_LEVEL),
        surveyed=len(responses),
    )


def _week(moment: datetime) -> str:
    local = to_local(moment).date()
    monday = local - timedelta(days=local.weekday())
    return monday.isoformat()


def _every_week(counts: Counter[str]) -> dict[str, int]:
    """Weekly counts from the first week to the last, quiet weeks as zero."""
    if not counts:
        return {}
    first, last = (datetime.fromisoformat(w).date() for w in (min(counts), max(counts)))
    weeks = [(first + timedelta(weeks=i)).isoformat() for i in range((last - first).days // 7 + 1)]
    return {w: counts.get(w, 0) for w in weeks}


def _count_sla(row: SlaRow, response: Any, resolution: Any) -> None:
    row.tickets += 1
    if response.done:
        row.response_done += 1
        row.response_met += response.status.value == "ok"
    if resolution.done:
        row.resolution_done += 1
        row.resolution_met += resolution.status.value == "ok"


def experts_load(centre: Session) -> list[dict[str, Any]]:
    """Each expert's open tickets and dedicated firms against their limits (centre-wide counts)."""
    loads = expert_loads(centre)
    dedicated = Counter(d.expert_id for d in centre.scalars(select(DedicatedExpert)))
    return [
        {
            "id": e.id,
            "name": e.name,
            "region": e.region,
            "open": loads.get(e.id, 0),
            "max_open": e.max_open_tickets,
            "firms": dedicated.get(e.id, 0),
            "capacity": e.capacity,
            "skills": e.skills,
            "available": e.available,
        }
        for e in centre.scalars(select(Expert).order_by(Expert.name))
    ]


def charts(board: Dashboard) -> dict[str, Any]:
    """ECharts data for the dashboard page."""
    locale = current_locale.get()
    labels = {c.id: c.label(locale) for c in load_categories()}
    categories = sorted(board.by_category_status, key=lambda c: -sum(board.by_category_status[c].values()))
    statuses = list(TicketStatus)
    return {
        "categories": [labels[c] for c in categories],
        "series": [
            {"name": _(s.label), "data": [board.by_category_status[c].get(s, 0) for c in categories]} for s in statuses
        ],
        "weeks": list(board.by_week),
        "week_counts": list(board.by_week.values()),
        "regions": list(board.by_region),
        "region_counts": list(board.by_region.values()),
        "levels": [f"Level {lv}" for lv in range(6)],
        "level_counts": [board.levels.get(lv, 0) for lv in range(6)],
    }


def export_xlsx(board: Dashboard, tickets: list[Ticket]) -> bytes:
    """The dashboard's tables and the ticket list as an Excel workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("Tickets")
    sheet.append([_("No."), _("Title"), _("Category"), _("Status"), _("Priority"), _("Opened"), _("Expert")])
    labels = {c.id: c.label(current_locale.get()) for c in load_categories()}
    for t in tickets:
        expert = t.expert.name if t.expert else ""
        opened = t.opened_at.replace(tzinfo=None)
        sheet.append([t.id, t.title, labels[t.category], _(TicketStatus(t.status).label), t.priority, opened, expert])
    sla = book.create_sheet(_("SLA performance"))
    sla.append([_("Category"), _("Tickets"), _("First response on time"), _("Resolved on time")])
    for row in board.sla:
        sla.append([row.label, row.tickets, row.response_rate, row.resolution_rate])
    load = book.create_sheet(_("Experts' load"))
    load.append([_("Expert"), _("Open tickets"), _("Ticket limit"), _("Dedicated firms"), _("Capacity")])
    for e in board.experts:
        load.append([e["name"], e["open"], e["max_open"], e["firms"], e["capacity"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
