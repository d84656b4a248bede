"""The demo's survey campaigns: a completed 2026 전수조사 with a realistic level distribution, an earlier
round to compare with, and an open round the showcase firm has not answered yet."""

from __future__ import annotations

from sqlalchemy import select

from smart365.assessment import analytics, campaigns
from smart365.assessment.models import Campaign, CampaignStatus
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Company
from smart365.sim.demo import seed_demo
from smart365.sim.demo_campaigns import SHOWCASE_BRN


def test_demo_campaigns_look_like_the_real_programme(db: Database) -> None:
    seed_demo(db, firms=160)
    with db.session(SYSTEM) as session:
        rounds = {c.name: c for c in session.scalars(select(Campaign))}
        assert set(rounds) == {"2025 수준확인조사", "2026 전수조사", "2026 하반기 경기 소부장 추적조사"}
        survey = rounds["2026 전수조사"]
        assert survey.status == CampaignStatus.CLOSED
        progress = campaigns.progress(session, survey.id)
        assert progress.invited == 161 and progress.rate > 0.85
        levels = campaigns.level_counts(session, survey.id)
        answered = sum(levels.values())
        assert (levels[1] + levels[2]) / answered > 0.75  # most firms at Levels 1–2
        assert sum(levels[k] for k in (3, 4, 5)) / answered < 0.12  # few at 3 or above
        assert levels[0] > 0 and levels[3] > 0
        moved = analytics.movement(
            analytics.campaign_results(session, rounds["2025 수준확인조사"]),
            analytics.campaign_results(session, survey),
        )
        counts = moved.counts()
        assert counts["climbed"] > counts["dropped"] > 0 and counts["stalled"] > counts["climbed"]
        showcase = session.scalar(select(Company.id).where(Company.brn == SHOWCASE_BRN))
        assert showcase is not None
        open_round = campaigns.open_invitations(session, showcase)
        assert [(c.name, r) for c, r in open_round] == [("2026 하반기 경기 소부장 추적조사", None)]
    assert seed_demo(db, firms=160) is False  # running again reuses the data
    with db.session(SYSTEM) as session:
        assert len(session.scalars(select(Campaign)).all()) == 3
