"""Survey campaigns on both databases: population filter, invitations, response rate, bulk import with
row + column errors, answering in the browser and on a firm's behalf, and who sees which campaign."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from smart365.assessment import campaigns, service
from smart365.assessment.campaigns import Population
from smart365.assessment.instrument import default_instrument
from smart365.assessment.models import CampaignMember, ResponseSource, SurveyResponse, SurveyStatus
from smart365.core.accounts import User, principal_for
from smart365.core.errors import Conflict, Forbidden, Invalid, NotFound
from smart365.core.tenancy import SYSTEM, Principal
from smart365.registry.schemas import CompanyIn
from smart365.registry.service import create_company
from tests.conftest import World

ITEMS = default_instrument().item_ids
SPRING = (date(2026, 3, 2), date(2026, 5, 29))


def principal(world: World, who: str) -> Principal:
    with world.db.session(SYSTEM) as session:
        user = session.scalar(select(User).where(User.email == world.emails[who]))
        assert user is not None
        return principal_for(session, user)


@pytest.fixture
def population(world: World) -> dict[str, int]:
    """Four more firms: 소부장 in 경기 (two sizes), 소부장 in 부산, and a food maker in 경기."""
    firms = {
        "sob_gg_small": CompanyIn(
            name="경기 소부장 소", brn="1018600030", ksic_code="29280", region="경기", employees=12
        ),
        "sob_gg_big": CompanyIn(
            name="경기 소부장 대", brn="1018600044", ksic_code="25911", region="경기", employees=310
        ),
        "sob_bs": CompanyIn(name="부산 소부장", brn="1018600059", ksic_code="29229", region="부산", employees=60),
        "food_gg": CompanyIn(name="경기 식품", brn="1018600063", ksic_code="10711", region="경기", employees=40),
    }
    with world.db.session(SYSTEM) as session:
        return {key: create_company(session, data).id for key, data in firms.items()}


def invited(world: World, campaign_id: int) -> set[int]:
    with world.db.session(SYSTEM) as session:
        query = select(CampaignMember.company_id).where(CampaignMember.campaign_id == campaign_id)
        return set(session.scalars(query))


def new_campaign(world: World, name: str, population: Population) -> int:
    with world.db.session(principal(world, "admin")) as session:
        return campaigns.create_campaign(session, name, population, *SPRING).id


def test_a_campaign_invites_exactly_the_filtered_population(world: World, population: dict[str, int]) -> None:
    gg_sobujang = new_campaign(world, "경기 소부장", Population(region="gyeonggi", sobujang=True))
    # firm A (29229, 경기, 50 people) is 소부장 in 경기 too; firm B is in 경남
    assert invited(world, gg_sobujang) == {world.firm_a, population["sob_gg_small"], population["sob_gg_big"]}
    machinery = new_campaign(world, "기계 29", Population(ksic="C29"))
    assert invited(world, machinery) == {world.firm_a, population["sob_gg_small"], population["sob_bs"]}
    small = new_campaign(world, "10-49명", Population(size="10-49"))
    assert invited(world, small) == {population["sob_gg_small"], population["food_gg"]}
    with world.db.session(SYSTEM) as session:
        stored = campaigns.get_campaign(session, gg_sobujang)
        assert stored.population == {"region": "gyeonggi", "sobujang": True}
        assert stored.instrument_version == default_instrument().version


def test_bad_campaigns_are_refused_with_a_reason(world: World) -> None:
    admin = principal(world, "admin")
    cases = [
        ("", Population(), SPRING, Invalid),
        ("거꾸로", Population(), (date(2026, 5, 1), date(2026, 4, 1)), Invalid),
        ("아무도", Population(region="jeju"), SPRING, Invalid),
        (f"{'SENTINEL-A'} 캠페인", Population(), SPRING, Conflict),  # the world's campaign holds the name
    ]
    for name, flt, (opens, closes), error in cases:
        with pytest.raises(error), world.db.session(admin) as session:
            campaigns.create_campaign(session, name, flt, opens, closes)
    with pytest.raises(Invalid):
        Population(size="huge")
    with pytest.raises(Invalid):
        Population(ksic="machines")
    with pytest.raises(Forbidden), world.db.session(principal(world, "consultant_a")) as session:
        campaigns.create_campaign(session, "컨설턴트", Population(), *SPRING)


def test_browser_answers_join_the_invitation_and_the_rate_follows(world: World) -> None:
    campaign_id = world.ids_a["campaign_id"]
    with world.db.session(SYSTEM) as session:
        assert campaigns.progress(session, campaign_id) == campaigns.Progress(invited=1, in_progress=0, submitted=0)
    with world.db.session(principal(world, "member_a")) as session:
        invitation = campaigns.open_invitations(session, world.firm_a)
        assert [(c.id, r) for c, r in invitation] == [(campaign_id, None)]
        service.save_answers(session, world.firm_a, {"STR.1": 2})
    with world.db.session(SYSTEM) as session:
        assert campaigns.progress(session, campaign_id).in_progress == 1
        assert campaigns.members(session, campaign_id)[0].state == "in_progress"
    with world.db.session(principal(world, "member_a")) as session:
        service.save_answers(session, world.firm_a, dict.fromkeys(ITEMS, 2))
        response = service.submit(session, world.firm_a)
        assert response.campaign_id == campaign_id and not response.on_behalf
    with world.db.session(SYSTEM) as session:
        done = campaigns.progress(session, campaign_id)
        assert (done.submitted, done.rate, done.not_started) == (1, 1.0, 0)
        assert campaigns.level_counts(session, campaign_id) == {2: 1}


def test_a_consultant_answers_on_the_firms_behalf(world: World) -> None:
    with world.db.session(principal(world, "consultant_a")) as session:
        service.save_answers(session, world.firm_a, dict.fromkeys(ITEMS, 1))
        response = service.submit(session, world.firm_a)
    with world.db.session(SYSTEM) as session:
        row = campaigns.members(session, world.ids_a["campaign_id"])[0]
        assert row.state == "submitted" and row.response is not None
        assert row.response.on_behalf and row.response.id == response.id
        assert row.response.answered_by == principal(world, "consultant_a").user_id


def test_each_role_sees_only_the_campaigns_of_its_firms(world: World) -> None:
    campaign_id = world.ids_a["campaign_id"]
    for who in ("admin", "consultant_a", "member_a"):
        with world.db.session(principal(world, who)) as session:
            assert campaigns.get_campaign(session, campaign_id).id == campaign_id
            assert [c.id for c in campaigns.list_campaigns(session)] == [campaign_id]
    for who in ("consultant_b", "member_b"):
        with world.db.session(principal(world, who)) as session:
            with pytest.raises(NotFound):
                campaigns.get_campaign(session, campaign_id)
            assert campaigns.list_campaigns(session) == []
    with pytest.raises(Forbidden), world.db.session(principal(world, "partner")) as session:
        campaigns.get_campaign(session, campaign_id)


def _csv(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    lines = [",".join(header or ["company_id", "brn", *ITEMS])] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_bulk_import_reports_every_bad_cell_by_row_and_column(world: World, population: dict[str, int]) -> None:
    campaign_id = new_campaign(world, "경기 전체", Population(region="gyeonggi"))
    good = ["", "1018600030", *["2"] * 42]
    bad_stage = ["", "1018600044", "7", *["1"] * 40, "x"]
    not_invited = [str(world.firm_b), "", *["1"] * 42]  # 경남: not in this campaign
    by_id = [str(population["food_gg"]), "", *["3"] * 42]
    content = _csv([good, bad_stage, not_invited, by_id])
    with world.db.session(principal(world, "admin")) as session:
        campaign = campaigns.get_campaign(session, campaign_id)
        report = campaigns.import_responses(session, campaign, content, "paper.csv")
    errors = [(e.row, e.column, e.english()) for e in report.errors]
    assert errors == [
        (3, "STR.1", "7 is not a stage 0–5"),
        (3, "KPI.6", "x is not a stage 0–5"),
        (4, "company_id", f"{world.firm_b} is not a firm invited to this campaign"),
    ]
    assert (report.rows, report.valid, report.committed, report.created) == (4, 2, False, 0)
    with world.db.session(SYSTEM) as session:
        assert campaigns.progress(session, campaign_id).submitted == 0  # checking changes nothing


def test_bulk_import_commits_good_rows_scored_and_marked_as_imported(world: World, population: dict[str, int]) -> None:
    campaign_id = new_campaign(world, "경기 전체", Population(region="gyeonggi"))
    with world.db.session(principal(world, "admin")) as session:  # firm A's other campaign is over
        campaigns.close_campaign(session, campaigns.get_campaign(session, world.ids_a["campaign_id"]))
    with world.db.session(principal(world, "member_a")) as session:  # firm A has a draft in this campaign
        draft = service.start_draft(session, world.firm_a)
    content = _csv([["", "101-86-00011", *["2"] * 42], ["", "1018600030", *["1"] * 41, ""]])
    with world.db.session(principal(world, "admin")) as session:
        campaign = campaigns.get_campaign(session, campaign_id)
        report = campaigns.import_responses(session, campaign, content, "paper.csv", commit=True)
    assert (report.created, report.updated, report.errors, report.levels[1], report.levels[2]) == (1, 1, [], 1, 1)
    with world.db.session(SYSTEM) as session:
        rows = {r.company.id: r for r in campaigns.members(session, campaign_id, "submitted")}
        assert set(rows) == {world.firm_a, population["sob_gg_small"]}
        replaced = rows[world.firm_a].response
        assert replaced is not None and replaced.id == draft.id  # the firm's draft became the imported answer
        assert (replaced.status, replaced.source, replaced.on_behalf, replaced.level) == (
            SurveyStatus.SUBMITTED,
            ResponseSource.IMPORT,
            True,
            2,
        )
        assert rows[population["sob_gg_small"]].response.answers["KPI.6"] is None  # type: ignore[union-attr]
        assert campaigns.progress(session, campaign_id).submitted == 2


def test_import_refuses_files_it_cannot_read_and_closed_campaigns(world: World) -> None:
    campaign_id = world.ids_a["campaign_id"]
    with world.db.session(principal(world, "admin")) as session:
        campaign = campaigns.get_campaign(session, campaign_id)
        with pytest.raises(Invalid):
            campaigns.import_responses(session, campaign, b"a,b\n1,2\n", "paper.csv")  # no id column
        with pytest.raises(Invalid):
            campaigns.import_responses(session, campaign, b"...", "paper.pdf")
        campaigns.close_campaign(session, campaign)
        with pytest.raises(Invalid):
            campaigns.import_responses(session, campaign, _csv([]), "paper.csv")
    with world.db.session(principal(world, "consultant_a")) as session, pytest.raises(Forbidden):
        campaigns.import_responses(session, campaigns.get_campaign(session, campaign_id), _csv([]), "a.csv")


def test_a_closed_campaign_takes_no_browser_answers(world: World) -> None:
    with world.db.session(principal(world, "admin")) as session:
        campaigns.close_campaign(session, campaigns.get_campaign(session, world.ids_a["campaign_id"]))
    with world.db.session(principal(world, "member_a")) as session:
        assert campaigns.open_invitations(session, world.firm_a) == []
        draft = service.start_draft(session, world.firm_a)
        assert draft.campaign_id is None
    with world.db.session(SYSTEM) as session:
        assert session.scalars(select(SurveyResponse.campaign_id)).all() == [None]
