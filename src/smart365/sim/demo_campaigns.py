"""Demo survey campaigns over the synthetic population: a 2025 round, the completed 2026 전수조사 and an
open follow-up over 경기 소부장 firms that is still collecting answers.

Answers come from a latent maturity per firm (its systems and size), plus domain and item noise, so the
level distribution looks like the real programme's: most firms at Levels 1–2, few at 3 or above, with
the systems area lagging where nothing is connected. The 2025 answers are the same firms a step behind,
so movement between the rounds has climbers, stallers and a few that dropped.

>>> import numpy as np
>>> from smart365.assessment.instrument import default_instrument
>>> stages = synthetic_stages(default_instrument(), np.array([1.2, 2.4]), np.random.default_rng(1))
>>> stages.shape, float(np.nanmin(stages)) >= 0, float(np.nanmax(stages)) <= 5
((2, 42), True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.assessment.campaigns import Population, create_campaign
from smart365.assessment.instrument import Instrument, default_instrument
from smart365.assessment.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    ResponseSource,
    SurveyResponse,
    SurveyStatus,
)
from smart365.assessment.scoring import score
from smart365.registry.models import Company

#: Latent maturity added by each system a firm runs (MES and SCADA mean connected machines).
SYSTEM_LIFT = {"ERP": 0.35, "MES": 0.45, "SCADA": 0.35, "QMS": 0.15, "WMS": 0.1, "APS": 0.15, "PLM": 0.1}
SHOWCASE_BRN = "1348152358"
#: Latent stage of a firm with no system; spread of firms, domains and items around it.
BASE_STAGE, FIRM_SD, DOMAIN_SD, ITEM_SD, SYSTEMS_LAG = 1.15, 0.5, 0.2, 0.45, 0.15


@dataclass(frozen=True)
class Round:
    """One seeded campaign: name, period, who answers (share), and how far behind 2026 its answers are."""

    name: str
    opens_on: date
    closes_on: date
    response_rate: float
    lag: float
    population: Population = field(default_factory=Population)
    closed: bool = True


def rounds(today: date) -> tuple[Round, ...]:
    """The demo's rounds: 2025, 2026 (complete) and an open follow-up that closes in a month."""
    return (
        Round("2025 수준확인조사", date(2025, 3, 3), date(2025, 5, 30), 0.84, lag=1.0),
        Round("2026 전수조사", date(2026, 3, 2), date(2026, 5, 29), 0.93, lag=0.0),
        Round(
            "2026 하반기 경기 소부장 추적조사",
            today - timedelta(days=14),
            today + timedelta(days=30),
            0.45,
            lag=0.0,
            population=Population(region="gyeonggi", sobujang=True),
            closed=False,
        ),
    )


def latent_maturity(companies: list[Company], rng: np.random.Generator) -> np.ndarray:
    """A firm's overall stage before noise: about 0.5 with nothing, about 2.5 with ERP, MES and SCADA."""
    base = np.array(
        [
            BASE_STAGE + sum(SYSTEM_LIFT.get(s, 0.0) for s in c.systems) + 0.18 * np.log((c.employees or 30) / 45)
            for c in companies
        ]
    )
    return np.clip(base + rng.normal(0.0, FIRM_SD, len(companies)), 0.0, 4.2)


def synthetic_stages(instrument: Instrument, maturity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stages ``(firms, items)``: maturity + per-domain and per-item noise, the systems area a bit behind."""
    n, n_items = len(maturity), len(instrument.items)
    domain_noise = rng.normal(0.0, DOMAIN_SD, (n, len(instrument.domains)))[:, instrument.item_domain]
    systems = instrument.domain_area[instrument.item_domain] == instrument.systems_area_index
    raw = maturity[:, None] + domain_noise + rng.normal(0.0, ITEM_SD, (n, n_items)) - SYSTEMS_LAG * systems
    stages = np.clip(np.rint(raw), 0, 5)
    not_applicable = rng.random((n, n_items)) < 0.03
    return np.where(not_applicable, np.nan, stages)


def seed_campaigns(session: Session, seed: int = 2026) -> dict[str, dict[int, int]]:
    """Seed the demo rounds unless they exist; return each new round's level counts (for the log and tests)."""
    if session.scalar(select(Campaign.id).limit(1)) is not None:
        return {}
    rng = np.random.default_rng(seed)
    instrument = default_instrument()
    companies = list(session.scalars(select(Company).order_by(Company.id)))
    maturity = latent_maturity(companies, rng)
    growth = _growth(rng, len(companies))
    noise_seed = int(rng.integers(1 << 31))
    counts: dict[str, dict[int, int]] = {}
    for round_ in rounds(date.today()):
        campaign = create_campaign(session, round_.name, round_.population, round_.opens_on, round_.closes_on)
        # the same item noise in every round: a firm's answers move only as much as it really moved
        stages = synthetic_stages(instrument, maturity - round_.lag * growth, np.random.default_rng(noise_seed))
        counts[round_.name] = _answer(session, instrument, campaign, round_, companies, stages, rng)
        if round_.closed:
            campaign.status = CampaignStatus.CLOSED
    session.flush()
    return counts


def _growth(rng: np.random.Generator, n: int) -> np.ndarray:
    """How far each firm moved in a year: most little, some a lot (a funded project), a few fell back."""
    kind = rng.random(n)
    return np.where(kind < 0.5, rng.normal(0.05, 0.05, n), np.where(kind < 0.92, rng.normal(0.5, 0.15, n), -0.35))


def _answer(
    session: Session,
    instrument: Instrument,
    campaign: Campaign,
    round_: Round,
    companies: list[Company],
    stages: np.ndarray,
    rng: np.random.Generator,
) -> dict[int, int]:
    """Submitted responses for a share of the invited firms (drafts for some more while it is open)."""
    members = {
        m.company_id: m
        for m in session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign.id))
    }
    rows = [i for i, c in enumerate(companies) if c.id in members and not _waits(c, round_)]
    answering = [i for i in rows if rng.random() < round_.response_rate]
    drafting = [i for i in rows if i not in set(answering) and not round_.closed and rng.random() < 0.3]
    result = score(instrument, stages[answering]) if answering else None
    responses = []
    for position, i in enumerate(answering):
        source = rng.choice(["web", "import", "consultant"], p=[0.6, 0.25, 0.15])
        responses.append(
            SurveyResponse(
                company_id=companies[i].id,
                campaign_id=campaign.id,
                instrument_version=campaign.instrument_version,
                answers=_answers(instrument, stages[i]),
                priority_kpis=[],
                status=SurveyStatus.SUBMITTED,
                source=ResponseSource.IMPORT if source == "import" else ResponseSource.WEB,
                on_behalf=source != "web",
                submitted_at=_moment(round_, rng),
                total=float(result.total[position]) if result else None,
                level=int(result.level[position]) if result else None,
            )
        )
    for i in drafting:
        partial = dict(list(_answers(instrument, stages[i]).items())[: int(rng.integers(5, 30))])
        responses.append(
            SurveyResponse(
                company_id=companies[i].id,
                campaign_id=campaign.id,
                instrument_version=campaign.instrument_version,
                answers=partial,
                priority_kpis=[],
                status=SurveyStatus.DRAFT,
            )
        )
    session.add_all(responses)
    session.flush()
    for response in responses:
        members[response.company_id].response_id = response.id
    return result.level_counts() if result else {}


def _waits(company: Company, round_: Round) -> bool:
    """The showcase firm has not answered the open round: its member finds the invitation waiting."""
    return not round_.closed and company.brn == SHOWCASE_BRN


def _answers(instrument: Instrument, row: np.ndarray) -> dict[str, int | None]:
    return {item: None if np.isnan(v) else int(v) for item, v in zip(instrument.item_ids, row.tolist(), strict=True)}


def _moment(round_: Round, rng: np.random.Generator) -> datetime:
    """A submission time inside the round's period (and not in the future)."""
    last = min(round_.closes_on, date.today())
    days = max(0, (last - round_.opens_on).days)
    day = round_.opens_on + timedelta(days=int(rng.integers(0, days + 1)))
    return datetime.combine(day, time(9, 0), tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 540)))
