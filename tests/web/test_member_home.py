"""The firm member's home: its level and next step, open alarms, open requests and last test-bed run — its own
firm's only, and each empty panel says why it is empty and what to do."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from smart365.centre.models import Ticket
from smart365.core.db import utcnow
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.testbed.models import TestbedRun
from tests.conftest import PASSWORD, World


def _login(client: TestClient, email: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})


def _panel(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : page.index("</div>", start)]


def test_an_empty_home_says_what_to_do_in_each_panel(client: TestClient, world: World) -> None:
    _login(client, world.emails["member_b"])
    page = client.get("/").text
    assert "아직 진단하지 않았습니다" in _panel(page, "home-level") and f"/companies/{world.firm_b}/survey" in page
    assert "발생 중인 알람이 없습니다" in _panel(page, "home-alarms")
    assert "처리 중인 애로사항이 없습니다" in _panel(page, "home-tickets")
    assert "아직 테스트베드 실행이 없습니다" in _panel(page, "home-testbed")


def test_the_home_shows_the_firms_own_alarms_requests_and_last_run(app: Any, client: TestClient, world: World) -> None:
    now = utcnow()
    with world.db.session(SYSTEM) as session:
        session.add(AlarmEvent(company_id=world.firm_a, tag_id=world.ids_a["tag_id"], severity="critical",
                               equipment_id=world.ids_a["equipment_id"], condition="spindle_load > 90",
                               raised_at=now, raised_value=95.0))  # fmt: skip
        session.add(Ticket(company_id=world.firm_a, title="SENTINEL 진동 문의", body="진동이 큽니다",
                           category="maintenance"))  # fmt: skip
        session.add(TestbedRun(company_id=world.firm_a, created_by="x", source_kind="file", source="품질.csv",
                               source_spec={}, target="판정", status="queued"))  # fmt: skip
    _login(client, world.emails["member_a"])
    page = client.get("/").text
    alarms = _panel(page, "home-alarms")
    assert re.search(r'data-testid="home-alarm-count">1<', alarms) and "spindle_load" in alarms
    assert "SENTINEL 진동 문의" in _panel(page, "home-tickets")
    assert "품질.csv" in _panel(page, "home-testbed") and "판정" in _panel(page, "home-testbed")

    other = TestClient(app)
    _login(other, world.emails["member_b"])
    theirs = other.get("/").text  # firm B's member sees none of it
    assert "SENTINEL" not in theirs and re.search(r'data-testid="home-alarm-count">0<', theirs)


def test_a_consultants_home_lists_their_firms_with_what_needs_attention(app: Any, client: TestClient,
                                                                         world: World) -> None:  # fmt: skip
    long_ago = utcnow() - timedelta(days=30)
    with world.db.session(SYSTEM) as session:
        session.add(AlarmEvent(company_id=world.firm_a, tag_id=world.ids_a["tag_id"], severity="critical",
                               equipment_id=world.ids_a["equipment_id"], condition="spindle_load > 90",
                               raised_at=long_ago, raised_value=95.0))  # fmt: skip
        session.add(Ticket(company_id=world.firm_a, title="SENTINEL 진동 문의", body="진동이 큽니다",
                           category="maintenance", opened_at=long_ago))  # fmt: skip
    _login(client, world.emails["consultant_a"])
    page = client.get("/").text
    assert 'data-testid="consultant-home"' in page and 'data-testid="member-home"' not in page
    rows = re.findall(r'data-testid="worklist-row" data-company="(\d+)"', page)
    assert rows == [str(world.firm_a)]  # the assigned firm only
    row = page[page.index('data-testid="worklist-row"') : page.index("</tr>", page.index('data-testid="worklist-row"'))]
    assert "아직 진단 전" in row and "1건 발생 중" in row
    assert "처리 중 2건 · 기한 초과 1건" in row  # the world's own fresh request, and the month-old one
    assert row.count('class="attention"') == 3 and f"/tickets?company_id={world.firm_a}" in row

    other = TestClient(app)
    _login(other, world.emails["consultant_b"])
    theirs = other.get("/").text
    assert re.findall(r'data-testid="worklist-row" data-company="(\d+)"', theirs) == [str(world.firm_b)]
    assert "SENTINEL" not in theirs and "기한 초과" not in theirs
