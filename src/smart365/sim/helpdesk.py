"""Synthetic centre data for the demo: experts, the showcase firm's dedicated expert, and a quarter of
past pain-point tickets drawn from the (synthetic) seed tickets, with answers, resolutions and SLA times.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.centre.categories import PRIORITIES, get_category, load_categories, load_seed_tickets
from smart365.centre.models import DedicatedExpert, Expert, Ticket, TicketComment, TicketEvent, TicketStatus
from smart365.centre.similar import snippet
from smart365.centre.sla import BusinessCalendar
from smart365.core.accounts import User
from smart365.core.db import utcnow
from smart365.registry.models import Company
from smart365.sim.population import REGION_WEIGHTS

SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = [
    "민준",
    "서연",
    "도윤",
    "지우",
    "현우",
    "수빈",
    "정훈",
    "영호",
    "미경",
    "성민",
    "재원",
    "하은",
    "동혁",
    "은정",
    "태호",
]
ORGANISATIONS = [
    "스마트제조혁신추진단",
    "한국생산기술연구원",
    "테크노파크",
    "제조혁신 컨설팅",
    "산업단지공단",
    "자동화 엔지니어링",
]
KINDS = ["cnc", "injection", "press", "robot", "lathe"]
PRIORITY_P = [0.05, 0.2, 0.6, 0.15]


def seed_helpdesk(session: Session, consultant: User, showcase_id: int, experts: int = 48, tickets: int = 160) -> None:
    """Experts (the demo consultant first), the showcase's dedicated expert and past tickets."""
    rng = np.random.default_rng(365)
    own = Expert(
        user_id=consultant.id, name=consultant.name, organisation="스마트365센터", region="gyeonggi",
        skills={"legacy_data": 5, "connectivity": 4, "quality": 3, "maintenance": 4, "mes_erp": 3},
        equipment=["cnc", "injection", "press"], capacity=25, max_open_tickets=15,
    )  # fmt: skip
    session.add(own)
    session.add_all(_expert(rng, i) for i in range(experts - 1))
    session.flush()
    session.add(DedicatedExpert(company_id=showcase_id, expert_id=own.id, fit=14.0, explanation=_why_own()))
    _past_tickets(session, rng, tickets)


def _expert(rng: np.random.Generator, i: int) -> Expert:
    regions = list(REGION_WEIGHTS)
    weights = np.array(list(REGION_WEIGHTS.values()), dtype=float)
    categories = [c.id for c in load_categories() if c.id != "other"]
    skills = rng.choice(categories, size=int(rng.integers(2, 5)), replace=False)
    return Expert(
        name=f"{SURNAMES[i % len(SURNAMES)]}{GIVEN[(i * 7) % len(GIVEN)]} 전문위원",
        organisation=str(rng.choice(ORGANISATIONS)),
        region=str(rng.choice(regions, p=weights / weights.sum())),
        skills={str(c): int(rng.integers(2, 6)) for c in skills},
        equipment=[str(k) for k in rng.choice(KINDS, size=int(rng.integers(1, 4)), replace=False)],
        languages=["ko", "en"] if rng.random() < 0.2 else ["ko"],
        capacity=int(rng.integers(6, 14)),
        max_open_tickets=int(rng.integers(6, 12)),
    )


def _why_own() -> dict[str, str]:
    return {
        "ko": "노후 설비 데이터 수집 전문성 5/5, 같은 지역(경기), 가공·사출·프레스 설비 경험",
        "en": "Data collection from legacy equipment 5/5, same region (Gyeonggi), knows CNC, moulding and presses",
    }


def _past_tickets(session: Session, rng: np.random.Generator, n: int) -> None:
    """Tickets of the last twelve weeks: most answered within their SLA, some late, the newest still open."""
    seed = [t for t in load_seed_tickets().tickets if t.lang == "ko"]
    firms = list(session.scalars(select(Company.id).order_by(Company.id)))
    experts = {e.id: e for e in session.scalars(select(Expert))}
    calendar = BusinessCalendar()
    now = utcnow()
    for k, i in enumerate(rng.choice(len(seed), size=min(n, len(seed)), replace=False)):
        example = seed[int(i)]
        priority = str(rng.choice(PRIORITIES, p=PRIORITY_P))
        opened = now - timedelta(days=float(84 * (1 - k / n) ** 1.3), hours=float(rng.uniform(0, 8)))
        skilled = [e for e in experts.values() if e.skills.get(example.category, 0) >= 2] or list(experts.values())
        expert = skilled[int(rng.integers(len(skilled)))]
        ticket = Ticket(
            company_id=int(rng.choice(firms)), title=snippet(example.text, 60), body=example.text, priority=priority,
            category=example.category, category_confidence=None, expert_id=expert.id, opened_at=opened,
            assignment_reason={"ko": "센터 배정", "en": "Assigned by the centre"}, status=TicketStatus.ASSIGNED,
        )  # fmt: skip
        session.add(ticket)
        session.flush()
        _answer(session, rng, calendar, ticket, expert, example.resolution, now)


def _answer(
    session: Session,
    rng: np.random.Generator,
    calendar: BusinessCalendar,
    ticket: Ticket,
    expert: Expert,
    resolution: str,
    now: datetime,
) -> None:
    """Answer and resolve the ticket after plausible business hours; late in about one case in eight."""
    target = get_category(ticket.category).sla[ticket.priority]  # type: ignore[index]
    late = rng.random() < 0.12
    # SLA moments come back in Seoul time; store UTC (SQLite keeps no offset)
    responded = calendar.due(
        ticket.opened_at, target.first_response * float(rng.uniform(1.1, 2.0) if late else rng.uniform(0.1, 0.9))
    )
    resolved = calendar.due(
        ticket.opened_at, target.resolution * float(rng.uniform(1.05, 1.6) if late else rng.uniform(0.3, 0.95))
    )
    events = [
        TicketEvent(company_id=ticket.company_id, ticket_id=ticket.id, action="filed", detail={}, at=ticket.opened_at)
    ]
    if responded < now:
        ticket.first_response_at, ticket.status = responded, TicketStatus.IN_PROGRESS
        session.add(TicketComment(
            company_id=ticket.company_id, ticket_id=ticket.id, author_name=expert.name,
            body="접수했습니다. 현장 상황을 확인하고 방안을 정리해 드리겠습니다.", created_at=responded,
        ))  # fmt: skip
    if resolved < now:
        ticket.resolved_at, ticket.resolution = resolved, resolution
        ticket.status = TicketStatus.CLOSED if rng.random() < 0.7 else TicketStatus.RESOLVED
        events.append(
            TicketEvent(
                company_id=ticket.company_id,
                ticket_id=ticket.id,
                action="status",
                detail={"to": "resolved"},
                at=resolved,
            )
        )
    session.add_all(events)
