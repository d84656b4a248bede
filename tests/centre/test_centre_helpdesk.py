"""The helpdesk through its API: filing, triage, routing, workflow, privacy of similar cases, attachments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from smart365.assessment.models import SurveyResponse, SurveyStatus
from smart365.centre.models import DedicatedExpert, Expert, Ticket, TicketEvent
from smart365.centre.support import apply_plan, plan_assignment
from smart365.centre.tickets import escalate_breaches
from smart365.core.accounts import ConsultantAssignment, User
from smart365.core.tenancy import SYSTEM
from tests.conftest import World, bearer

LEGACY = {
    "title": "구형 사출기 데이터 수집",
    "body": "2008년식 사출기 6대에 통신 포트가 없어 사이클타임과 금형 온도를 작업자가 수기로 기록합니다. "
    "센서나 게이트웨이로 자동 수집할 방법이 있을까요?",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def auth(client: TestClient, world: World) -> dict[str, dict[str, str]]:
    return {who: bearer(client, email) for who, email in world.emails.items()}


def _file(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/tickets", json=LEGACY | extra, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_member_files_a_korean_ticket_and_gets_it_triaged_and_routed(client: TestClient, auth: Any) -> None:
    ticket = _file(client, auth["member_a"])
    assert ticket["category"] == "legacy_data"
    assert ticket["category_label"] == "노후 설비 데이터 수집"
    assert 0.3 < ticket["category_confidence"] <= 1.0
    assert ticket["category_top3"][0][0] == "legacy_data"
    assert ticket["similar"], "similar solved cases are offered"
    assert all(s["kind"] == "knowledge_base" and s["resolution"] for s in ticket["similar"])
    assert ticket["expert"]["name"] == "김전문"  # the only expert skilled in legacy data
    assert "노후 설비 데이터 수집" in ticket["expert"]["reason"]
    assert ticket["status"] == "assigned" and not ticket["on_behalf"]
    clock = ticket["sla"]["first_response"]
    assert clock["status"] in ("ok", "warning", "breached") and clock["target_hours"] > 0 and not clock["done"]


def test_english_answers_and_english_reason(client: TestClient, auth: Any) -> None:
    headers = auth["member_a"] | {"Accept-Language": "en"}
    ticket = _file(client, headers)
    assert ticket["category_label"] == "Data collection from legacy equipment"
    assert ticket["status_label"] == "Assigned"


def test_outsiders_never_see_a_firms_ticket(client: TestClient, auth: Any, world: World) -> None:
    ticket = _file(client, auth["member_a"])
    for who in ("member_b", "consultant_b", "partner"):
        assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=auth[who]).status_code == 404
        listed = client.get("/api/v1/tickets", headers=auth[who]).json()
        assert ticket["id"] not in {t["id"] for t in listed}
    for who in ("consultant_a", "admin"):
        assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=auth[who]).status_code == 200


def test_nobody_files_for_another_firm(client: TestClient, auth: Any, world: World) -> None:
    for who in ("member_b", "consultant_b", "partner"):
        response = client.post("/api/v1/tickets", json=LEGACY | {"company_id": world.firm_a}, headers=auth[who])
        assert response.status_code in (403, 404), who
    response = client.post("/api/v1/tickets", json=LEGACY | {"company_id": world.firm_a}, headers=auth["consultant_a"])
    assert response.status_code == 201 and response.json()["on_behalf"] is True


def test_equipment_of_another_firm_is_refused_with_a_reason(client: TestClient, auth: Any, world: World) -> None:
    response = client.post(
        "/api/v1/tickets", json=LEGACY | {"equipment_id": world.ids_a["equipment_id"]}, headers=auth["member_b"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "이 설비는 해당 기업의 설비가 아닙니다."


def test_workflow_answer_resolve_close_and_reopen(client: TestClient, auth: Any, world: World) -> None:
    ticket = _file(client, auth["member_a"])
    url = f"/api/v1/tickets/{ticket['id']}"
    refused = client.post(f"{url}/status", json={"status": "resolved", "resolution": "x"}, headers=auth["member_a"])
    assert refused.status_code == 403

    note = client.post(
        f"{url}/comments", json={"body": "내부 검토 필요", "internal": True}, headers=auth["consultant_a"]
    )
    assert note.status_code == 201
    assert (
        client.post(f"{url}/comments", json={"body": "x", "internal": True}, headers=auth["member_a"]).status_code
        == 403
    )
    answer = client.post(f"{url}/comments", json={"body": "게이트웨이를 권합니다."}, headers=auth["consultant_a"])
    assert answer.json()["status"] == "in_progress" and answer.json()["first_response_at"]
    assert answer.json()["sla"]["first_response"]["done"] is True

    seen_by_member = client.get(url, headers=auth["member_a"]).json()
    assert [c["body"] for c in seen_by_member["comments"]] == ["게이트웨이를 권합니다."]  # no internal note

    empty = client.post(f"{url}/status", json={"status": "resolved"}, headers=auth["consultant_a"])
    assert empty.status_code == 422 and "해결" in empty.json()["error"]["message"]
    done = client.post(
        f"{url}/status", json={"status": "resolved", "resolution": "IoT 게이트웨이 설치"}, headers=auth["consultant_a"]
    )
    assert done.json()["status"] == "resolved" and done.json()["resolved_at"]
    assert (
        client.post(f"{url}/status", json={"status": "closed"}, headers=auth["member_a"]).json()["status"] == "closed"
    )
    reopened = client.post(f"{url}/status", json={"status": "in_progress"}, headers=auth["member_a"]).json()
    assert reopened["status"] == "in_progress" and reopened["resolved_at"] is None
    bad = client.post(f"{url}/status", json={"status": "received"}, headers=auth["consultant_a"])
    assert bad.status_code == 422

    with world.db.session(SYSTEM) as session:
        actions = list(session.scalars(select(TicketEvent.action).where(TicketEvent.ticket_id == ticket["id"])))
    assert actions[:2] == ["filed", "assigned"]
    assert actions.count("status") == 4 and "note" in actions and "comment" in actions


def test_similar_cases_never_show_another_firms_ticket(client: TestClient, auth: Any, world: World) -> None:
    """A resolved ticket becomes a case for its own firm and the centre, never for another firm."""
    ticket = _file(client, auth["member_a"])
    url = f"/api/v1/tickets/{ticket['id']}"
    resolution = {"status": "resolved", "resolution": "사출기 금형 온도에 열전대와 게이트웨이를 달아 자동 수집"}
    assert client.post(url + "/status", json=resolution, headers=auth["consultant_a"]).status_code == 200
    case_id = f"ticket:{ticket['id']}"

    own = _file(client, auth["member_a"])
    assert case_id in {s["id"] for s in own["similar"]}
    other = _file(client, auth["member_b"])
    assert case_id not in {s["id"] for s in other["similar"]}
    assert all(s["kind"] == "knowledge_base" for s in other["similar"])


def test_attachments_are_checked_and_scoped(client: TestClient, auth: Any) -> None:
    ticket = _file(client, auth["member_a"])
    url = f"/api/v1/tickets/{ticket['id']}/attachments"
    wrong_type = client.post(
        url, files={"file": ("run.exe", b"MZ\x90", "application/octet-stream")}, headers=auth["member_a"]
    )
    assert wrong_type.status_code == 422 and ".png" in wrong_type.json()["error"]["message"]
    fake_png = client.post(url, files={"file": ("photo.png", b"GIF89a", "image/png")}, headers=auth["member_a"])
    assert fake_png.status_code == 422 and "photo.png" in fake_png.json()["error"]["message"]
    stored = client.post(url, files={"file": ("../../etc/photo.png", PNG, "image/png")}, headers=auth["member_a"])
    assert stored.status_code == 201 and stored.json()["filename"] == "photo.png"
    download = f"{url}/{stored.json()['id']}"
    got = client.get(download, headers=auth["member_a"])
    assert got.content == PNG and got.headers["content-disposition"].startswith("attachment")
    assert client.get(download, headers=auth["member_b"]).status_code == 404


def test_overdue_tickets_are_escalated_once(world: World) -> None:
    with world.db.session(SYSTEM) as session:
        ticket = session.get(Ticket, world.ids_a["ticket_id"])
        assert ticket is not None
        ticket.opened_at = datetime.now(UTC) - timedelta(days=30)
    with world.db.session(SYSTEM) as session:
        assert [t.id for t in escalate_breaches(session)] == [world.ids_a["ticket_id"]]
        assert escalate_breaches(session) == []


def _surveyed(world: World, level: int, stage: int) -> None:
    from smart365.assessment.instrument import default_instrument

    answers: dict[str, int | None] = dict.fromkeys(default_instrument().item_ids, stage)
    with world.db.session(SYSTEM) as session:
        for company_id in (world.firm_a, world.firm_b):
            session.add(
                SurveyResponse(
                    company_id=company_id, instrument_version=default_instrument().version, answers=answers,
                    status=SurveyStatus.SUBMITTED, submitted_at=datetime.now(UTC), total=200.0 * stage, level=level,
                )
            )  # fmt: skip


def test_dedicated_experts_are_assigned_and_see_their_firms(world: World) -> None:
    _surveyed(world, level=1, stage=1)
    with world.db.session(SYSTEM) as session:
        consultant = session.scalars(select(User).where(User.email == world.emails["consultant_b"])).one()
        session.add(
            Expert(
                name="박품질",
                user_id=consultant.id,
                region="gyeongnam",
                skills={"quality": 5, "mes_erp": 4},
                capacity=1,
            )
        )
    with world.db.session(SYSTEM) as session:
        plan = plan_assignment(session)
        assert {c.company.id for c in plan.chosen} == {world.firm_a, world.firm_b}
        assert plan.result.served == 2  # two experts with one and ten places, two firms
        apply_plan(session, plan)
    with world.db.session(SYSTEM) as session:
        dedicated = {d.company_id: d.expert.name for d in session.scalars(select(DedicatedExpert))}
        links = {(a.consultant_id, a.company_id) for a in session.scalars(select(ConsultantAssignment))}
    assert set(dedicated) == {world.firm_a, world.firm_b}
    assert (consultant.id, next(k for k, v in dedicated.items() if v == "박품질")) in links


def test_cli_assigns_a_synthetic_instance_within_capacity(tmp_path: Path) -> None:
    from smart365.cli.main import app

    out = tmp_path / "assign.json"
    result = CliRunner().invoke(app, ["centre", "assign", "--synthetic", "20x150", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["experts"] == 20 and data["firms"] == 150
    assert data["served"] + len(data["unassigned"]) == 150
    assert all(a["explanation"]["ko"] and a["explanation"]["en"] for a in data["assignments"])
    from smart365.centre.assign import synthetic_instance

    capacity = {e.id: e.capacity for e in synthetic_instance(20, 150, seed=365)[0]}
    assert all(n <= capacity[e] for e, n in data["load"].items())


def test_cli_rejects_a_bad_size(tmp_path: Path) -> None:
    from smart365.cli.main import app

    result = CliRunner().invoke(app, ["centre", "assign", "--synthetic", "many", "--json", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "50x500" in result.output


def test_the_centre_registers_experts_and_others_cannot(client: TestClient, auth: Any) -> None:
    from smart365.centre.experts import EXAMPLE

    created = client.post("/api/v1/experts", json=EXAMPLE, headers=auth["admin"])
    assert created.status_code == 201 and created.json()["region"] == "gyeonggi"
    bad = client.post("/api/v1/experts", json=EXAMPLE | {"skills": {"security": 7}}, headers=auth["admin"])
    assert bad.status_code == 422 and "0" in bad.json()["error"]["message"]
    unknown = client.post("/api/v1/experts", json=EXAMPLE | {"skills": {"karaoke": 3}}, headers=auth["admin"])
    assert unknown.status_code == 422 and "karaoke" in unknown.json()["error"]["message"]
    assert client.post("/api/v1/experts", json=EXAMPLE, headers=auth["consultant_a"]).status_code == 403
    assert client.get("/api/v1/experts", headers=auth["member_a"]).status_code == 403
    names = {e["name"] for e in client.get("/api/v1/experts", headers=auth["consultant_a"]).json()}
    assert names == {"김전문", EXAMPLE["name"]}
    moved = client.put(
        f"/api/v1/experts/{created.json()['id']}", json=EXAMPLE | {"region": "부산"}, headers=auth["admin"]
    )
    assert moved.json()["region"] == "busan"


def test_the_centres_priority_weights_win_over_the_shipped_ones(world: World, tmp_path: Path) -> None:
    from smart365.centre.experts import current_weights, save_weights
    from smart365.core.settings import Settings

    settings = Settings(data_dir=tmp_path, secret_key="x")
    shipped = current_weights(settings)
    changed = shipped.model_copy(update={"weights": shipped.weights.model_copy(update={"sobujang": 0.0})})
    with world.db.session(SYSTEM) as session:
        save_weights(session, settings, changed)
    assert current_weights(settings).weights.sobujang == 0.0 and shipped.weights.sobujang > 0


def test_only_an_installation_the_centre_works_in_trains_the_classifier_at_start_up(db: Any, world: World) -> None:
    """A plant's own installation (no centre staff) skips the warm-up and stays small; the centre's trains."""
    from smart365.centre.triage import warm_up

    assert warm_up(db, None) is True  # the world has a centre administrator and consultants
    with db.session(SYSTEM) as session:
        for user in session.scalars(select(User).where(User.role.in_(("centre_admin", "consultant")))):
            user.active = False
    assert warm_up(db, None) is False  # nobody of the centre can sign in: nothing is trained
