"""Survey service: a firm's draft, saving answers, submitting (scored) and the latest result.

Every function takes a tenancy-scoped session: another firm's rows are simply not found. Who may answer
is checked here once (:func:`require_answerer`): a firm's own members, and consultants for the firms
assigned to them (their answers are recorded as given on the firm's behalf).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.assessment.gap import RoadmapEntry, roadmap
from smart365.assessment.instrument import Instrument, default_instrument
from smart365.assessment.models import Campaign, CampaignMember, CampaignStatus, SurveyResponse, SurveyStatus
from smart365.assessment.scoring import Explanation, explain, score
from smart365.core.db import utcnow
from smart365.core.errors import Forbidden, Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.tenancy import Principal, Role, principal_of

Answers = dict[str, int | None]


def instrument_for(version: str | None = None) -> Instrument:
    """The instrument of ``version`` (the current default when ``None``)."""
    instrument = default_instrument()
    if version is not None and version != instrument.version:
        raise NotFound(N_("The survey instrument {version} is not available."), version=version)
    return instrument


def may_answer(principal: Principal, company_id: int) -> bool:
    """Whether ``principal`` may answer the survey of ``company_id`` (the centre only views)."""
    roles = (Role.COMPANY_MEMBER, Role.CONSULTANT, Role.SYSTEM)
    return principal.role in roles and principal.can_change(company_id)


def require_answerer(session: Session, company_id: int) -> Principal:
    """The session's principal if it may answer for ``company_id``, else :class:`Forbidden`."""
    principal = principal_of(session)
    if not may_answer(principal, company_id):
        raise Forbidden(N_("Only the firm's members and its consultants may answer its survey."))
    return principal


def get_draft(session: Session, company_id: int) -> SurveyResponse | None:
    """The firm's open draft, if any."""
    query = select(SurveyResponse).where(
        SurveyResponse.company_id == company_id, SurveyResponse.status == SurveyStatus.DRAFT
    )
    return session.scalars(query.order_by(SurveyResponse.id.desc())).first()


def start_draft(session: Session, company_id: int) -> SurveyResponse:
    """The firm's draft, created (empty, on the current instrument) when there is none."""
    require_answerer(session, company_id)
    draft = get_draft(session, company_id)
    if draft is None:
        draft = SurveyResponse(
            company_id=company_id, instrument_version=instrument_for().version, answers={}, priority_kpis=[]
        )
        session.add(draft)
        session.flush()
    if draft.campaign_id is None:
        join_open_invitation(session, draft)
    return draft


def join_open_invitation(session: Session, draft: SurveyResponse) -> CampaignMember | None:
    """Link a draft to the firm's earliest-closing open invitation that has no submitted response yet.

    So a firm that answers in the browser answers its campaign, and the campaign counts it as in progress.
    """
    query = (
        select(CampaignMember)
        .join(Campaign, Campaign.id == CampaignMember.campaign_id)
        .outerjoin(SurveyResponse, SurveyResponse.id == CampaignMember.response_id)
        .where(CampaignMember.company_id == draft.company_id, Campaign.status == CampaignStatus.OPEN)
        .where((CampaignMember.response_id.is_(None)) | (SurveyResponse.status != SurveyStatus.SUBMITTED))
        .order_by(Campaign.closes_on, Campaign.id)
    )
    member = session.scalars(query).first()
    if member is not None:
        draft.campaign_id, member.response_id = member.campaign_id, draft.id
        session.flush()
    return member


def check_answers(instrument: Instrument, answers: Mapping[str, int | None]) -> Answers:
    """Answers with known item ids and stages 0–5 (``None`` = N/A), else :class:`Invalid`."""
    checked: Answers = {}
    for item_id, stage in answers.items():
        if item_id not in instrument.item_ids:
            raise Invalid(N_("Unknown survey item: {item}"), item=item_id)
        if stage is not None and not 0 <= stage <= len(instrument.levels) - 1:
            raise Invalid(N_("{item}: the stage must be between 0 and 5."), item=item_id)
        checked[item_id] = stage
    return checked


def save_answers(
    session: Session, company_id: int, answers: Mapping[str, int | None], priority_kpis: Iterable[str] = ()
) -> SurveyResponse:
    """Replace the draft's answers (a partial set is fine: save now, finish later)."""
    principal = require_answerer(session, company_id)
    draft = start_draft(session, company_id)
    instrument = instrument_for(draft.instrument_version)
    draft.answers = check_answers(instrument, answers)
    draft.priority_kpis = [kpi for kpi in instrument.kpi_ids if kpi in set(priority_kpis)]
    draft.answered_by = principal.user_id
    draft.on_behalf = principal.role is Role.CONSULTANT
    session.flush()
    return draft


def missing_items(response: SurveyResponse) -> list[str]:
    """Items neither answered nor marked N/A, in instrument order."""
    return [
        item_id for item_id in instrument_for(response.instrument_version).item_ids if item_id not in response.answers
    ]


def submit(session: Session, company_id: int) -> SurveyResponse:
    """Score the draft and store its total and level; refused while any item is unanswered."""
    principal = require_answerer(session, company_id)
    draft = get_draft(session, company_id)
    if draft is None:
        raise Invalid(N_("There is no survey to submit. Please answer the questions first."))
    missing = missing_items(draft)
    if missing:
        raise Invalid(
            N_("{count} items are not answered yet: {items}. Choose a stage or N/A for each."),
            count=len(missing),
            items=", ".join(missing),
        )
    instrument = instrument_for(draft.instrument_version)
    result = score(instrument, stage_row(instrument, draft.answers))
    draft.total, draft.level = float(result.total[0]), int(result.level[0])
    draft.status, draft.submitted_at = SurveyStatus.SUBMITTED, utcnow()
    draft.answered_by, draft.on_behalf = principal.user_id, principal.role is Role.CONSULTANT
    session.flush()
    return draft


def stage_row(instrument: Instrument, answers: Mapping[str, int | None]) -> np.ndarray:
    """Answers as one row of the stage matrix (NaN for N/A or missing)."""
    return np.array([np.nan if answers.get(i) is None else float(answers[i] or 0) for i in instrument.item_ids])


def latest_result(session: Session, company_id: int) -> SurveyResponse | None:
    """The firm's most recently submitted response."""
    query = select(SurveyResponse).where(
        SurveyResponse.company_id == company_id, SurveyResponse.status == SurveyStatus.SUBMITTED
    )
    order = (SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc())
    return session.scalars(query.order_by(*order)).first()


@dataclass(frozen=True)
class Diagnosis:
    """What the diagnosis page shows: the explained score and the roadmap to the target level."""

    response: SurveyResponse
    instrument: Instrument
    explanation: Explanation
    roadmap: list[RoadmapEntry]
    target: int


def diagnose(response: SurveyResponse, target: int | None = None, top: int = 5) -> Diagnosis:
    """Explain a submitted response and build its roadmap (top items by priority) to ``target``."""
    instrument = instrument_for(response.instrument_version)
    goal = instrument.target_level if target is None else target
    stages = stage_row(instrument, response.answers)
    weights = score(instrument, stages).item_weight[0]
    entries = roadmap(instrument, stages, weights, priority_kpis=response.priority_kpis, target=goal, top=top)
    explanation = explain(instrument, {k: v for k, v in response.answers.items() if v is not None})
    return Diagnosis(response, instrument, explanation, entries, goal)
