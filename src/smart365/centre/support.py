"""Priority support from the survey results: rank firms, derive their needs, assign dedicated experts.

A firm's profile comes from its latest submitted survey:

* ``level``: the diagnosed level; readiness ``people`` = leadership & strategy stage / 5, ``systems`` =
  systems & automation area stage / 5, ``data`` = mean stage of the operations and quality domains / 5
  (where the firm's data is used), all 0–1;
* ``impact``: until a consultant estimates it, the firm's size on a log scale (10 staff → 0.33,
  100 → 0.67, 1,000 → 1.0), since the same step helps more people in a larger plant;
* ``needs`` (for the assignment): each domain's gap to the target stage, spread over the ticket categories
  that domain calls for (:data:`DOMAIN_NEEDS`), plus one per open ticket of that category.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.assessment.models import SurveyResponse, SurveyStatus
from smart365.assessment.scoring import Scores, score
from smart365.assessment.service import instrument_for, stage_row
from smart365.centre.assign import AssignmentResult, Firm, FitWeights, assign_experts
from smart365.centre.models import OPEN_STATUSES, DedicatedExpert, Expert, Ticket
from smart365.centre.priority import FirmProfile, PriorityWeights, Ranked, load_weights, rank_firms
from smart365.centre.tickets import expert_profile
from smart365.core.accounts import ConsultantAssignment
from smart365.registry.models import Company, Equipment

#: Which kinds of help a lagging domain calls for (category id → share).
DOMAIN_NEEDS: dict[str, dict[str, float]] = {
    "STR": {"funding": 0.5, "workforce": 0.5},
    "DEV": {"mes_erp": 1.0},
    "PLN": {"mes_erp": 1.0},
    "OPS": {"mes_erp": 0.5, "legacy_data": 0.5},
    "QUA": {"quality": 1.0},
    "EQP": {"maintenance": 0.7, "energy": 0.3},
    "LOG": {"mes_erp": 1.0},
    "SYS": {"connectivity": 0.5, "mes_erp": 0.5},
    "CTL": {"legacy_data": 0.5, "connectivity": 0.5},
    "KPI": {"mes_erp": 0.5, "workforce": 0.5},
}


@dataclass(frozen=True)
class Candidate:
    """A firm with a submitted survey: its profile for ranking and its needs for the assignment."""

    company: Company
    response: SurveyResponse
    profile: FirmProfile
    needs: dict[str, float]


def latest_responses(session: Session) -> list[SurveyResponse]:
    """Each visible firm's most recently submitted survey response."""
    rows = session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.status == SurveyStatus.SUBMITTED)
        .order_by(SurveyResponse.company_id, SurveyResponse.submitted_at, SurveyResponse.id)
    )
    return list({r.company_id: r for r in rows}.values())


def candidates(session: Session, weights: PriorityWeights | None = None) -> list[Candidate]:
    """Every visible firm with a submitted survey, profiled (see the module docstring)."""
    weights = weights or load_weights()
    responses = latest_responses(session)
    if not responses:
        return []
    instrument = instrument_for(responses[0].instrument_version)
    scores = score(instrument, np.vstack([stage_row(instrument, r.answers) for r in responses]))
    companies = {
        c.id: c for c in session.scalars(select(Company).where(Company.id.in_([r.company_id for r in responses])))
    }
    open_tickets = Counter(
        (t.company_id, t.category) for t in session.scalars(select(Ticket).where(Ticket.status.in_(OPEN_STATUSES)))
    )
    target = float(weights.gap.target_level)
    out = []
    for row, response in enumerate(responses):
        company = companies[response.company_id]
        stages = _domain_stages(scores, row)
        out.append(Candidate(company, response, _profile(company, response, scores, row, stages), {}))
        needs = _needs(stages, target)
        for (company_id, category), n in open_tickets.items():
            if company_id == company.id:
                needs[category] = needs.get(category, 0.0) + n
        out[-1].needs.update(needs)
    return out


def _domain_stages(scores: Scores, row: int) -> dict[str, float]:
    ids = scores.instrument.domain_ids
    return {d: float(np.nan_to_num(scores.domain_stage[row, j])) for j, d in enumerate(ids)}


def _profile(
    company: Company, response: SurveyResponse, scores: Scores, row: int, stages: dict[str, float]
) -> FirmProfile:
    area = dict(zip(scores.instrument.area_ids, np.nan_to_num(scores.area_stage[row]), strict=True))
    systems = float(area.get("systems", stages.get("SYS", 0.0)))
    level = float(response.level if response.level is not None else scores.level[row])
    return FirmProfile(
        id=str(company.id),
        name=company.name,
        sobujang=company.sobujang,
        level=level,
        people=stages.get("STR", 0.0) / 5,
        systems=min(systems / 5, 1.0),
        data=(stages.get("OPS", 0.0) + stages.get("QUA", 0.0)) / 10,
        impact=size_impact(company.employees),
    )


def size_impact(employees: int | None) -> float:
    """Expected impact from the firm's size: log10(staff) / 3, clipped to 0–1.

    >>> size_impact(100), size_impact(None)
    (0.6666666666666666, 0.3333333333333333)
    """
    return min(max(math.log10(max(employees or 10, 1)) / 3, 0.0), 1.0)


def _needs(stages: dict[str, float], target: float) -> dict[str, float]:
    needs: dict[str, float] = {}
    for domain, stage in stages.items():
        gap = max(target - stage, 0.0)
        for category, share in DOMAIN_NEEDS.get(domain, {}).items():
            needs[category] = needs.get(category, 0.0) + gap * share
    return {c: round(w, 3) for c, w in needs.items() if w > 0}


def ranked_candidates(session: Session, weights: PriorityWeights | None = None) -> list[tuple[Ranked, Candidate]]:
    """Visible firms ranked for priority support, best first, each with its explanation."""
    weights = weights or load_weights()
    found = {c.profile.id: c for c in candidates(session, weights)}
    return [(r, found[r.firm_id]) for r in rank_firms([c.profile for c in found.values()], weights)]


@dataclass(frozen=True)
class Plan:
    """The firms chosen for support, the experts and the optimal assignment between them."""

    chosen: list[Candidate]
    experts: list[Expert]
    result: AssignmentResult


def plan_assignment(
    session: Session, top: int = 500, weights: FitWeights | None = None, priority: PriorityWeights | None = None
) -> Plan:
    """Assign dedicated experts to the ``top`` ranked firms below the target level (a SYSTEM session)."""
    priority = priority or load_weights()
    ranked = ranked_candidates(session, priority)
    chosen = [c for r, c in ranked if c.profile.level < priority.gap.target_level and c.needs][:top]
    experts = list(session.scalars(select(Expert).order_by(Expert.id)))
    current = {d.company_id: str(d.expert_id) for d in session.scalars(select(DedicatedExpert))}
    kinds = _equipment_kinds(session, [c.company.id for c in chosen])
    firms = [
        Firm(
            id=str(c.company.id),
            name=c.company.name,
            needs=c.needs,
            region=c.company.region,
            equipment=kinds.get(c.company.id, frozenset()),
            current_expert=current.get(c.company.id),
        )
        for c in chosen
    ]
    result = assign_experts([expert_profile(e) for e in experts], firms, weights)
    return Plan(chosen, experts, result)


def _equipment_kinds(session: Session, company_ids: Sequence[int]) -> dict[int, frozenset[str]]:
    kinds: dict[int, set[str]] = {}
    rows = session.execute(select(Equipment.company_id, Equipment.kind).where(Equipment.company_id.in_(company_ids)))
    for company_id, kind in rows:
        if kind != "other":
            kinds.setdefault(company_id, set()).add(kind)
    return {k: frozenset(v) for k, v in kinds.items()}


def apply_plan(session: Session, plan: Plan) -> int:
    """Record each match as the firm's dedicated expert; an expert with a login then sees the firm."""
    users = {str(e.id): e.user_id for e in plan.experts}
    existing = {d.company_id: d for d in session.scalars(select(DedicatedExpert))}
    links = {(a.consultant_id, a.company_id) for a in session.scalars(select(ConsultantAssignment))}
    for match in plan.result.assignments:
        company_id, expert_id = int(match.firm_id), int(match.expert_id)
        row = existing.get(company_id) or DedicatedExpert(company_id=company_id, expert_id=expert_id, fit=0.0)
        row.expert_id, row.fit, row.explanation = expert_id, match.fit, dict(match.explanation)
        session.add(row)
        user_id = users.get(match.expert_id)
        if user_id is not None and (user_id, company_id) not in links:
            session.add(ConsultantAssignment(consultant_id=user_id, company_id=company_id))
            links.add((user_id, company_id))
    return len(plan.result.assignments)
