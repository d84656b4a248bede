"""Survey campaigns (설문 캠페인): the centre surveys a filtered population and watches it answer.

A campaign stores its population filter as data, invites every firm matching it, and each firm answers
in the browser (its draft joins the open invitation, see :func:`smart365.assessment.service.start_draft`)
or on paper / in Excel, imported in bulk here. Who sees a campaign follows who sees its firms: the
invitations are firm-owned rows, so a consultant sees the campaigns of its assigned firms and only their
rows, a member only its own firm's invitation, and a data partner nothing.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from smart365.assessment.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    ResponseSource,
    SurveyResponse,
    SurveyStatus,
)
from smart365.assessment.responses import CellError, ResponseSet, read_responses
from smart365.assessment.scoring import score
from smart365.assessment.service import instrument_for
from smart365.core import audit
from smart365.core.db import utcnow
from smart365.core.errors import Conflict, Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.tenancy import Role, principal_of
from smart365.core.uploads import REGISTRY, ReadLimits
from smart365.registry.models import Company
from smart365.registry.service import CompanyFilter

#: Firm size bands by employees: code → (lowest, highest inclusive or None, English msgid).
SIZE_BANDS: dict[str, tuple[int, int | None, str]] = {
    "lt10": (0, 9, N_("1–9 employees")),
    "10-49": (10, 49, N_("10–49 employees")),
    "50-99": (50, 99, N_("50–99 employees")),
    "100-299": (100, 299, N_("100–299 employees")),
    "ge300": (300, None, N_("300 or more employees")),
}


def size_band(employees: int | None) -> str | None:
    """The size band code of a head count.

    >>> size_band(8), size_band(50), size_band(1200), size_band(None)
    ('lt10', '50-99', 'ge300', None)
    """
    if employees is None:
        return None
    for code, (low, high, _label) in SIZE_BANDS.items():
        if employees >= low and (high is None or employees <= high):
            return code
    return None


@dataclass(frozen=True)
class Population:
    """Whom a campaign covers. Every field optional; stored on the campaign as :meth:`as_data`.

    >>> Population(region="gyeonggi", sobujang=True).as_data()
    {'region': 'gyeonggi', 'sobujang': True}
    >>> Population.from_data({"ksic": "29", "size": "10-49"})
    Population(region=None, sobujang=None, ksic='29', size='10-49')
    """

    region: str | None = None
    sobujang: bool | None = None
    ksic: str | None = None
    size: str | None = None

    def __post_init__(self) -> None:
        if self.size is not None and self.size not in SIZE_BANDS:
            raise Invalid(N_("Unknown firm size: {size}"), size=self.size)
        if self.ksic is not None and not self.ksic.strip().upper().removeprefix("C").isdigit():
            raise Invalid(N_("The KSIC prefix must be digits, e.g. 29 or C29."))

    def as_data(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Population:
        return cls(**{k: data.get(k) for k in ("region", "sobujang", "ksic", "size")})

    def conditions(self) -> list[ColumnElement[bool]]:
        conds = CompanyFilter(region=self.region, sobujang=self.sobujang, ksic=self.ksic).conditions()
        if self.size is not None:
            low, high, _label = SIZE_BANDS[self.size]
            conds.append(Company.employees >= low)
            if high is not None:
                conds.append(Company.employees <= high)
        return conds


# --------------------------------------------------------------------------- creating and finding


def create_campaign(session: Session, name: str, population: Population, opens_on: date, closes_on: date) -> Campaign:
    """Create a campaign on the current instrument and invite every firm of ``population`` (centre only).

    Refused when the name is taken, the period is backwards or no firm matches.
    """
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN)
    name = name.strip()
    if not name:
        raise Invalid(N_("Give the campaign a name."))
    if closes_on < opens_on:
        raise Invalid(N_("The campaign cannot close before it opens."))
    if session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
        raise Conflict(N_("A campaign named {name} already exists."), name=name)
    firms = list(session.scalars(select(Company.id).where(*population.conditions()).order_by(Company.id)))
    if not firms:
        raise Invalid(N_("No firm matches this population."))
    campaign = Campaign(
        name=name,
        instrument_version=instrument_for().version,
        population=population.as_data(),
        opens_on=opens_on,
        closes_on=closes_on,
        status=CampaignStatus.OPEN,
        created_by=principal.user_id,
    )
    session.add(campaign)
    session.flush()
    session.add_all(CampaignMember(campaign_id=campaign.id, company_id=firm) for firm in firms)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign if the principal sees at least one of its firms (the centre sees all), else 404."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound()
    if not principal.sees_everything:
        member = select(CampaignMember.id).where(CampaignMember.campaign_id == campaign_id).limit(1)
        if session.scalar(member) is None:  # invitations are scoped: none visible means not yours
            raise NotFound()
    return campaign


def list_campaigns(session: Session) -> list[Campaign]:
    """Campaigns whose firms the principal sees, newest first."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    query = select(Campaign).order_by(Campaign.opens_on.desc(), Campaign.id.desc())
    if not principal.sees_everything:
        query = query.where(Campaign.id.in_(select(CampaignMember.campaign_id)))
    return list(session.scalars(query))


def close_campaign(session: Session, campaign: Campaign) -> Campaign:
    """Stop taking answers (centre only); submitted responses stay."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    campaign.status = CampaignStatus.CLOSED
    session.flush()
    return campaign


# --------------------------------------------------------------------------- progress


MEMBER_STATES = ("not_started", "in_progress", "submitted")


@dataclass(frozen=True)
class Progress:
    """How far a campaign has come, over the firms the principal sees.

    >>> done = Progress(invited=8, in_progress=2, submitted=3)
    >>> done.rate, done.not_started
    (0.375, 3)
    """

    invited: int
    in_progress: int
    submitted: int

    @property
    def not_started(self) -> int:
        return self.invited - self.in_progress - self.submitted

    @property
    def rate(self) -> float:
        """Response rate: submitted / invited (0 for an empty campaign)."""
        return self.submitted / self.invited if self.invited else 0.0


def progress(session: Session, campaign_id: int) -> Progress:
    """Counts of invited, answering and submitted firms of the campaign."""
    query = (
        select(SurveyResponse.status, func.count())
        .select_from(CampaignMember)
        .outerjoin(SurveyResponse, SurveyResponse.id == CampaignMember.response_id)
        .where(CampaignMember.campaign_id == campaign_id)
        .group_by(SurveyResponse.status)
    )
    counts: dict[str | None, int] = dict(session.execute(query).all())
    return Progress(
        invited=sum(counts.values()),
        in_progress=counts.get(SurveyStatus.DRAFT, 0),
        submitted=counts.get(SurveyStatus.SUBMITTED, 0),
    )


@dataclass(frozen=True)
class MemberRow:
    """One invited firm on the campaign page."""

    company: Company
    response: SurveyResponse | None

    @property
    def state(self) -> str:
        if self.response is None:
            return "not_started"
        return "submitted" if self.response.status == SurveyStatus.SUBMITTED else "in_progress"


def members(session: Session, campaign_id: int, state: str | None = None) -> list[MemberRow]:
    """The invited firms the principal sees, by name, optionally only those in ``state``."""
    if state is not None and state not in MEMBER_STATES:
        raise Invalid(N_("Unknown response state: {state}"), state=state)
    query = (
        select(Company, SurveyResponse)
        .join(CampaignMember, CampaignMember.company_id == Company.id)
        .outerjoin(SurveyResponse, SurveyResponse.id == CampaignMember.response_id)
        .where(CampaignMember.campaign_id == campaign_id)
        .order_by(Company.name, Company.id)
    )
    rows = [MemberRow(company, response) for company, response in session.execute(query)]
    return [r for r in rows if state is None or r.state == state]


def open_invitations(session: Session, company_id: int) -> list[tuple[Campaign, SurveyResponse | None]]:
    """The firm's invitations to open campaigns, with its response so far (``None`` before it starts)."""
    query = (
        select(Campaign, SurveyResponse)
        .join(CampaignMember, CampaignMember.campaign_id == Campaign.id)
        .outerjoin(SurveyResponse, SurveyResponse.id == CampaignMember.response_id)
        .where(CampaignMember.company_id == company_id, Campaign.status == CampaignStatus.OPEN)
        .order_by(Campaign.closes_on, Campaign.id)
    )
    return list(session.execute(query))


# --------------------------------------------------------------------------- bulk import


@dataclass
class ImportReport:
    """What a response import found and, when committed, what it did. ``errors`` hold every bad cell."""

    rows: int
    valid: int
    errors: list[CellError]
    committed: bool
    created: int = 0
    updated: int = 0
    levels: dict[int, int] = field(default_factory=dict)


def import_responses(
    session: Session,
    campaign: Campaign,
    content: bytes,
    filename: str,
    *,
    commit: bool = False,
    limits: ReadLimits = REGISTRY,
) -> ImportReport:
    """Check a paper/Excel response file (at most ``limits.rows`` rows) against ``campaign``; with ``commit``
    store its good rows.

    Rows are keyed by ``company_id`` or ``brn`` and must name an invited firm. Imported responses are
    submitted and scored at once, recorded as answered by the importing staff on the firm's behalf; a
    firm's earlier response in this campaign (draft or submitted) is replaced.
    """
    principal_of(session).require(Role.CENTRE_ADMIN)
    if campaign.status != CampaignStatus.OPEN:
        raise Invalid(N_("The campaign is closed: it takes no more responses."))
    responses = _read_upload(content, filename, campaign.instrument_version, limits)
    firms, errors = _match_firms(session, campaign, responses)
    report = ImportReport(
        rows=len(responses) + responses.rejected,
        valid=len(firms),
        errors=sorted([*responses.errors, *errors], key=lambda e: e.row),
        committed=commit,
    )
    if commit and firms:
        _store(session, campaign, responses, firms, report)
        details = {"file": filename, "rows": report.rows, "created": report.created, "updated": report.updated}
        audit.record(session, audit.Action.IMPORT, f"campaign:{campaign.id}", details=details)
    return report


def _read_upload(content: bytes, filename: str, version: str, limits: ReadLimits) -> ResponseSet:
    """The response reader works on files: hand it the upload under its own suffix."""
    suffix = Path(filename).suffix.lower()
    if suffix not in {".csv", ".xlsx", ".xlsm"}:
        raise Invalid(N_("The response file must be .csv, .xlsx or .xlsm."))
    with tempfile.TemporaryDirectory(prefix="smart365-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        return read_responses(path, instrument_for(version), limits)


def _match_firms(
    session: Session, campaign: Campaign, responses: ResponseSet
) -> tuple[dict[int, int], list[CellError]]:
    """Row index → invited company id for the rows naming an invited firm; an error for every other."""
    query = (
        select(Company.id, Company.brn)
        .join(CampaignMember, CampaignMember.company_id == Company.id)
        .where(CampaignMember.campaign_id == campaign.id)
    )
    invited = dict(session.execute(query).all())
    by_brn = {brn: company_id for company_id, brn in invited.items()}
    matched: dict[int, int] = {}
    errors: list[CellError] = []
    for index, key in enumerate(responses.ids):
        column = _key_column(key, responses.id_columns)
        if column == "brn":
            company_id = by_brn.get(key)
        else:
            company_id = int(key) if key.isdigit() and int(key) in invited else None
            company_id = company_id or (by_brn.get(key) if "brn" in responses.id_columns else None)
        if company_id is None:
            reason = N_("{value} is not a firm invited to this campaign")
            errors.append(CellError(responses.rows[index], column, reason, {"value": key}))
        else:
            matched[index] = company_id
    return matched, errors


def _key_column(key: str, columns: Sequence[str]) -> str:
    """Which id column a row's key came from: the reader prefers ``company_id``, BRNs are ten digits."""
    if "company_id" not in columns or (len(key) == 10 and key.isdigit() and "brn" in columns):
        return "brn"
    return "company_id"


def _store(
    session: Session, campaign: Campaign, responses: ResponseSet, firms: dict[int, int], report: ImportReport
) -> None:
    """Score the good rows at once and write one submitted response per firm."""
    principal = principal_of(session)
    rows = sorted(firms)
    result = score(responses.instrument, responses.stages[rows])
    query = select(CampaignMember.company_id, CampaignMember).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.company_id.in_(firms.values())
    )
    linked = dict(session.execute(query).all())
    for position, index in enumerate(rows):
        member = linked[firms[index]]
        response = session.get(SurveyResponse, member.response_id) if member.response_id else None
        if response is None:
            response = SurveyResponse(company_id=member.company_id, campaign_id=campaign.id, priority_kpis=[])
            session.add(response)
            report.created += 1
        else:
            report.updated += 1
        response.instrument_version = campaign.instrument_version
        response.answers = _answers(responses, index)
        response.priority_kpis = list(responses.priority_kpis[index])
        response.status, response.source = SurveyStatus.SUBMITTED, ResponseSource.IMPORT
        response.answered_by, response.on_behalf = principal.user_id, True
        response.submitted_at = _moment(responses.answered_at[index])
        response.total, response.level = float(result.total[position]), int(result.level[position])
        session.flush()
        member.response_id = response.id
    report.levels = result.level_counts()
    session.flush()


def _answers(responses: ResponseSet, index: int) -> dict[str, int | None]:
    row = responses.stages[index]
    return {
        item_id: None if np.isnan(stage) else int(stage)
        for item_id, stage in zip(responses.instrument.item_ids, row.tolist(), strict=True)
    }


def _moment(answered_at: str | None) -> datetime:
    """The file's ``answered_at`` (a date means midnight UTC), else now."""
    if answered_at is None:
        return utcnow()
    moment = datetime.fromisoformat(answered_at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def level_counts(session: Session, campaign_id: int) -> Counter[int]:
    """Submitted responses of the campaign per level (over the firms the principal sees)."""
    query = (
        select(SurveyResponse.level, func.count())
        .join(CampaignMember, CampaignMember.response_id == SurveyResponse.id)
        .where(CampaignMember.campaign_id == campaign_id, SurveyResponse.status == SurveyStatus.SUBMITTED)
        .group_by(SurveyResponse.level)
    )
    return Counter({int(level): int(n) for level, n in session.execute(query) if level is not None})
