"""At the centre, a firm's diagnosis shows the evidence its plant measured on its own data and forwarded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smart365.assessment.instrument import default_instrument
from smart365.core.tenancy import SYSTEM
from smart365.fleet.models import FleetEvidence
from tests.assessment.test_assessment_web import _form, _login
from tests.conftest import FIRM_A, World

DETAIL = "{connected} of {total} registered machines sent data automatically in the last {days} days ({share}%)."


def _forward(world: World, plant: str, stage: int | None, connected: int) -> None:
    with world.db.session(SYSTEM) as session:
        params = {"connected": connected, "total": 9, "days": 7, "share": round(100 * connected / 9)}
        session.add(
            FleetEvidence(
                brn=FIRM_A.brn,
                plant=plant,
                item_id="CTL.4",
                stage=stage,
                detail=DETAIL,
                params=params,
                as_of=datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
            )
        )


def test_the_diagnosis_shows_what_the_firms_plant_measured_with_where_and_when(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["consultant_a"])
    answers = dict.fromkeys(default_instrument().item_ids, "2")
    client.post(f"/companies/{world.firm_a}/survey", data=_form(csrf, answers, submit="1"))
    before = client.get(f"/companies/{world.firm_a}/diagnosis").text
    assert "공장 plant-1에서" not in before

    _forward(world, "plant-1", 3, connected=9)
    _forward(world, "plant-2", 1, connected=2)  # a second plant shows less: the firm's best is what it can do
    page = client.get(f"/companies/{world.firm_a}/diagnosis").text
    assert (
        "등록 설비 9대 중 9대가 최근 7일 동안 데이터를 자동으로 보냈습니다(100%). "
        "(공장 plant-1에서 2026-12-07 15:00 측정)" in page
    )
    assert "plant-2" not in page
    client.get("/lang/en")
    english = client.get(f"/companies/{world.firm_a}/diagnosis").text
    assert (
        "9 of 9 registered machines sent data automatically in the last 7 days (100%). "
        "(measured at plant plant-1, 2026-12-07 15:00)"
    ) in english


def test_a_firm_that_may_not_see_another_gets_none_of_its_plants_evidence(app: Any, world: World) -> None:
    from smart365.fleet.forwarded import forwarded_evidence

    _forward(world, "plant-1", 3, connected=9)
    member_b = _login(app, world.emails["member_b"])[0]
    assert member_b.get(f"/companies/{world.firm_a}/diagnosis").status_code in (403, 404)
    with world.db.session(SYSTEM) as session:
        assert forwarded_evidence(session, world.firm_a)["CTL.4"].stage == 3
        assert forwarded_evidence(session, world.firm_b) == {}
