"""Population analytics on a small hand-made population: exact level counts per group, the domain heat-map,
movement between two campaigns, and the Excel export read back (and imported back)."""

from __future__ import annotations

import io
import math
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from smart365.assessment import analytics, campaigns
from smart365.assessment.analytics import FirmResult
from smart365.assessment.campaigns import Population
from smart365.assessment.instrument import default_instrument
from smart365.assessment.models import SurveyResponse
from smart365.core.i18n import use_locale
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Company
from tests.conftest import World

INSTRUMENT = default_instrument()
ITEMS = INSTRUMENT.item_ids

#: name, KSIC, region, employees, 소부장, stage everywhere (→ that level), in the earlier round
FIRMS = [
    ("가", "29229", "gyeonggi", 12, True, 1, 1),
    ("나", "29280", "gyeonggi", 45, True, 2, 1),
    ("다", "25911", "busan", 150, True, 2, 2),
    ("라", "10711", "gyeonggi", 8, False, 0, 1),
    ("마", "10801", "busan", 350, False, 3, 2),
    ("바", "22251", "busan", 60, True, 1, None),
]


def _pairs(round_: int) -> list[tuple[Company, SurveyResponse]]:
    pairs = []
    for i, (name, ksic, region, people, sob, now, before) in enumerate(FIRMS, start=1):
        stage = now if round_ == 1 else before
        if stage is None:
            continue
        company = Company(
            id=i, name=name, brn=f"{i:010d}", ksic_code=ksic, region=region, employees=people, sobujang=sob
        )
        pairs.append((company, SurveyResponse(company_id=i, answers=dict.fromkeys(ITEMS, stage))))
    return pairs


@pytest.fixture(scope="module")
def results() -> list[FirmResult]:
    return analytics.results_from(INSTRUMENT, _pairs(1))


def test_level_distribution_overall_and_by_each_grouping(results: list[FirmResult]) -> None:
    assert [r.level for r in results] == [1, 2, 2, 0, 3, 1]
    assert analytics.level_distribution(results) == {"all": [1, 2, 2, 1, 0, 0]}
    assert analytics.level_distribution(results, "sobujang") == {
        "sobujang": [0, 2, 2, 0, 0, 0],
        "other": [1, 0, 0, 1, 0, 0],
    }
    assert analytics.level_distribution(results, "region") == {
        "busan": [0, 1, 1, 1, 0, 0],
        "gyeonggi": [1, 1, 1, 0, 0, 0],
    }
    assert analytics.level_distribution(results, "size") == {
        "lt10": [1, 0, 0, 0, 0, 0],
        "10-49": [0, 1, 1, 0, 0, 0],
        "50-99": [0, 1, 0, 0, 0, 0],
        "100-299": [0, 0, 1, 0, 0, 0],
        "ge300": [0, 0, 0, 1, 0, 0],
    }
    by_industry = analytics.level_distribution(results, "industry")
    assert list(by_industry) == ["10", "22", "25", "29"]
    assert by_industry["10"] == [1, 0, 0, 1, 0, 0] and by_industry["29"] == [0, 1, 1, 0, 0, 0]
    with use_locale("ko"):
        assert analytics.group_label("industry", "29") == "C29 기타 기계·장비"
        assert analytics.group_label("size", "ge300") == "종업원 300명 이상"
        assert analytics.group_label("sobujang", "other") == "기타 기업"


def test_domain_heatmap_is_the_mean_stage_per_group(results: list[FirmResult]) -> None:
    heat = analytics.domain_heatmap(INSTRUMENT, results, "sobujang")
    assert heat.groups == ["sobujang", "other"] and heat.firms == [4, 2]
    assert heat.domains == list(INSTRUMENT.domain_ids)
    assert heat.values[0] == [1.5] * len(INSTRUMENT.domains)  # (1 + 2 + 2 + 1) / 4
    assert heat.values[1] == [1.5] * len(INSTRUMENT.domains)  # (0 + 3) / 2


def test_movement_counts_climbers_stallers_and_droppers(results: list[FirmResult]) -> None:
    earlier = analytics.results_from(INSTRUMENT, _pairs(0))
    moved = analytics.movement(earlier, results)
    assert moved.counts() == {"climbed": 2, "stalled": 2, "dropped": 1}
    assert [(m.name, m.before, m.after) for m in moved.climbed] == [("나", 1, 2), ("마", 2, 3)]
    assert [(m.name, m.before, m.after) for m in moved.dropped] == [("라", 1, 0)]
    assert (moved.only_before, moved.only_after) == (0, 1)


def test_level_shares_of_an_empty_group_are_zero() -> None:
    assert analytics.level_shares([0] * 6) == [0.0] * 6
    assert math.isclose(sum(analytics.level_shares([1, 1, 1, 0, 0, 0])), 100.0, abs_tol=0.2)


def test_excel_export_reads_back_and_imports_into_another_campaign(world: World) -> None:
    """Firm A answers stage 2 everywhere; the export's responses sheet imports back to the same level."""
    campaign_id = world.ids_a["campaign_id"]
    header = ",".join(["company_id", *ITEMS])
    content = f"{header}\n{world.firm_a}," + ",".join(["2"] * 42) + "\n"
    with world.db.session(SYSTEM) as session:
        campaign = campaigns.get_campaign(session, campaign_id)
        campaigns.import_responses(session, campaign, content.encode(), "a.csv", commit=True)
        results = analytics.campaign_results(session, campaign)
        data = analytics.export_workbook(INSTRUMENT, campaign, results)
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["firms", "responses", "levels"]
    firms = list(book["firms"].iter_rows(values_only=True))
    assert firms[0][:9] == (
        "company_id",
        "name",
        "brn",
        "ksic_code",
        "region",
        "employees",
        "sobujang",
        "level",
        "total",
    )
    assert firms[1][:2] == (world.firm_a, "SENTINEL-A 정밀") and firms[1][7:9] == (2, 400.0)
    levels = {(row[0], row[1]): row[2:] for row in book["levels"].iter_rows(min_row=2, values_only=True)}
    assert levels[("all", "all")] == (0, 0, 1, 0, 0, 0, 1)
    assert levels[("sobujang", "sobujang")] == (0, 0, 1, 0, 0, 0, 1)

    buffer = io.BytesIO()  # the responses sheet, saved alone, is a valid response file
    copy = Workbook()
    sheet = copy.active
    assert sheet is not None
    for row in book["responses"].iter_rows(values_only=True):
        sheet.append(list(row))
    copy.save(buffer)
    with world.db.session(SYSTEM) as session:
        again = campaigns.create_campaign(
            session, "다시 가져오기", Population(ksic="29229"), date(2026, 6, 1), date(2026, 6, 30)
        )
        report = campaigns.import_responses(session, again, buffer.getvalue(), "back.xlsx", commit=True)
        assert (report.created, report.errors) == (1, [])
        assert [r.level for r in analytics.campaign_results(session, again)] == [2]
