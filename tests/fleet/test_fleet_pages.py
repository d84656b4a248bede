"""The centre's pages of what plants forward: who sees which plant, in words, with the right counts.

The fleet tables are keyed by the business registration number, not tenant-scoped by the hooks: these tests seed
them directly for firm A (two plants), firm B (one) and a number no registered firm has, and walk ``/fleet``,
the firm pages and the programme dashboard as each role.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from smart365.core.db import libpq_url, utcnow
from smart365.core.tenancy import SYSTEM
from smart365.fleet.models import FleetAlarm, FleetDeadLetter, FleetPlant, FleetRollup1h, FleetRollup1m, FleetTag
from smart365.fleet.partitions import maintain
from smart365.fleet.service import DAY, hours_until
from tests.conftest import PASSWORD, World

BRN_A, BRN_B, BRN_X = "1018600011", "2028700024", "3038800035"  # X: a plant of a firm nobody registered


def _seed(world: World, now: datetime) -> None:
    if world.db.url.startswith("postgresql"):  # the rollup tables take rows only into their time partitions
        with psycopg.connect(libpq_url(world.db.url), autocommit=True) as conn:
            maintain(conn, now)
    minute = now.replace(second=0, microsecond=0)
    hours = hours_until(now)
    with world.db.session(SYSTEM) as session:
        minutes = timedelta(minutes=1)
        plants = [  # (firm, plant, first heard, last heard: how long ago)
            (BRN_A, "a-main", 10 * DAY, minutes),
            (BRN_A, "a-annex", 2 * DAY, 30 * minutes),
            (BRN_B, "b-plant", 5 * DAY, 180 * minutes),
            (BRN_X, "x-plant", 90 * minutes, 2 * minutes),
        ]
        for brn, plant, first, last in plants:
            session.add(FleetPlant(brn=brn, plant=plant, first_seen=now - first, last_seen=now - last))
        tags = [  # (firm, plant, tag id, name, label, unit, machine)
            (BRN_A, "a-main", 1, "spindle_load", "주축 부하", "%", "A MCT-1"),
            (BRN_A, "a-main", 2, "coolant_temp", "절삭유 온도", "°C", "A MCT-1"),
            (BRN_A, "a-annex", 7, "press_force", "프레스 압력", "kN", "A 프레스"),
            (BRN_B, "b-plant", 1, "b_secret_tag", "B 비밀 태그", "bar", "B 설비"),
            (BRN_X, "x-plant", 1, "x_tag", "X 태그", None, "X 설비"),
        ]
        for brn, plant, tag_id, name, label, unit, machine in tags:
            session.add(
                FleetTag(brn=brn, plant=plant, tag_id=tag_id, name=name, label=label, unit=unit, equipment=machine)
            )
        for i, avg in enumerate((61.0, 62.5, 64.25)):  # three 1-minute buckets in the last 24 h, the newest last
            bucket = minute - timedelta(minutes=3 - i)
            session.add(
                FleetRollup1m(brn=BRN_A, plant="a-main", tag_id=1, bucket=bucket, n=60, avg=avg, vmin=5, vmax=7)
            )
        old = minute - timedelta(hours=25)  # older than 24 h: not counted
        session.add(FleetRollup1m(brn=BRN_A, plant="a-main", tag_id=1, bucket=old, n=60, avg=1.0, vmin=1, vmax=1))
        session.add(FleetRollup1m(brn=BRN_B, plant="b-plant", tag_id=1, bucket=minute - timedelta(hours=3), n=6,
                                  avg=9.5, vmin=9, vmax=10))  # fmt: skip
        for i, hour in enumerate(hours[-6:]):
            session.add(FleetRollup1h(brn=BRN_A, plant="a-main", tag_id=1, bucket=hour, n=3600, avg=55.0 + i,
                                      vmin=40, vmax=80))  # fmt: skip
        alarm = {"tag_id": 1, "equipment": "A MCT-1", "severity": "warning", "condition": "> 90", "as_of": now}
        session.add_all(
            [
                FleetAlarm(brn=BRN_A, plant="a-main", alarm_id=1, raised_at=now - timedelta(minutes=9), **alarm),
                FleetAlarm(brn=BRN_A, plant="a-main", alarm_id=2, raised_at=now - timedelta(hours=2),
                           cleared_at=now - timedelta(hours=1), **alarm),
                FleetAlarm(brn=BRN_B, plant="b-plant", alarm_id=1, raised_at=now - timedelta(hours=4), **alarm),
                FleetAlarm(brn=BRN_B, plant="b-plant", alarm_id=2, raised_at=now - timedelta(hours=4), **alarm),
                FleetDeadLetter(received_at=now - timedelta(hours=1), subject=f"s365.{BRN_A}.a-main.rollup.1m",
                                reason="3 of 10 rows outside the kept window", payload=b"{}"),
                FleetDeadLetter(received_at=now - timedelta(hours=2), subject=f"s365.{BRN_A}.a-main.rollup.1m",
                                reason="2 of 5 rows outside the kept window", payload=b"{}"),
                FleetDeadLetter(received_at=now - timedelta(hours=3), subject="s365.bad",
                                reason="subject 's365.bad' is not s365.<brn>.<plant>.<kind>", payload=b"x"),
                FleetDeadLetter(received_at=now - timedelta(days=2), subject=f"s365.{BRN_B}.b-plant.tags",
                                reason="not JSON: x", payload=b"x"),
            ]
        )  # fmt: skip


@pytest.fixture
def seeded(world: World) -> World:
    _seed(world, utcnow())
    return world


def _login(app: Any, email: str, lang: str = "ko") -> TestClient:
    client = TestClient(app, cookies={"lang": lang})
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    return client


def _rows(html: str) -> dict[str, dict[str, str]]:
    """The /fleet table: plant → its status word, status code, 1-minute buckets and open alarms."""
    found = {}
    for row in re.findall(r'<tr data-testid="fleet-row".*?</tr>', html, re.S):
        plant = re.search(r'data-plant="([^"]+)"', row)
        status = re.search(r'data-status="(\w+)"><i aria-hidden="true"></i>([^<]+)</span>', row)
        buckets = re.search(r'data-testid="buckets">([^<]+)<', row)
        alarms = re.search(r'data-testid="open-alarms">([^<]+)<', row)
        assert plant and status and buckets and alarms, row
        found[plant.group(1)] = {
            "status": status.group(1),
            "word": status.group(2).strip(),
            "buckets": buckets.group(1),
            "alarms": alarms.group(1),
            "row": row,
        }
    return found


def _figure(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">(.*?)</', html, re.S)
    assert match, testid
    return re.sub(r"<[^>]+>", "", match.group(1)).split()[0]


def test_the_admin_sees_every_plant_with_its_status_in_words_and_its_counts(app: Any, seeded: World) -> None:
    page = _login(app, seeded.emails["admin"]).get("/fleet")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert set(rows) == {"a-main", "a-annex", "b-plant", "x-plant"}
    assert {p: (r["status"], r["word"]) for p, r in rows.items()} == {
        "a-main": ("receiving", "정상 수신"),
        "a-annex": ("delayed", "지연"),
        "b-plant": ("silent", "끊김"),
        "x-plant": ("receiving", "정상 수신"),
    }
    assert (rows["a-main"]["buckets"], rows["a-main"]["alarms"]) == ("3", "1")  # the 25-hour-old bucket is not
    assert (rows["b-plant"]["buckets"], rows["b-plant"]["alarms"]) == ("1", "2")  # 3 h old, within the day
    assert f'href="/companies/{seeded.firm_a}#fleet"' in rows["a-main"]["row"] and "경기" in rows["a-main"]["row"]
    assert "1분 전" in rows["a-main"]["row"] and "30분 전" in rows["a-annex"]["row"]
    assert "3시간 전" in rows["b-plant"]["row"]
    assert "등록되지 않은 기업" in rows["x-plant"]["row"] and "303-88-00035" in rows["x-plant"]["row"]
    assert _figure(page.text, "fleet-plants") == "4"
    assert _figure(page.text, "fleet-firms") == "2"  # A and the unregistered firm report now, of three
    assert "/ 3" in page.text
    assert _figure(page.text, "fleet-silent") == "1"
    assert _figure(page.text, "fleet-dead") == "3"  # the two-day-old one is not
    reasons = re.search(r'data-testid="fleet-reasons">(.*?)</ul>', page.text, re.S)
    assert reasons and "보관 기간 밖의 행" in reasons.group(1) and "<b>2</b>" in reasons.group(1)

    silent = _rows(_login(app, seeded.emails["admin"]).get("/fleet?status=silent").text)
    assert set(silent) == {"b-plant"}


def test_english_pages_say_the_status_in_english(app: Any, seeded: World) -> None:
    rows = _rows(_login(app, seeded.emails["admin"], lang="en").get("/fleet").text)
    assert {r["word"] for r in rows.values()} == {"Receiving", "Delayed", "Disconnected"}
    assert "Unregistered firm" in rows["x-plant"]["row"] and "1 min ago" in rows["a-main"]["row"]


def test_a_consultant_sees_only_the_plants_of_firms_assigned_to_them(app: Any, seeded: World) -> None:
    page = _login(app, seeded.emails["consultant_a"]).get("/fleet")
    assert page.status_code == 200
    assert set(_rows(page.text)) == {"a-main", "a-annex"}
    assert "비교 금속" not in page.text and BRN_X not in page.text and "303-88" not in page.text
    assert _figure(page.text, "fleet-dead") == "2"  # only firm A's subjects
    assert set(_rows(_login(app, seeded.emails["consultant_b"]).get("/fleet").text)) == {"b-plant"}


def test_firm_members_and_partners_are_refused_the_fleet_page(app: Any, seeded: World) -> None:
    for who in ("member_a", "member_b", "partner"):
        assert _login(app, seeded.emails[who]).get("/fleet").status_code == 403, who


def test_a_member_sees_only_its_own_firms_plant_data_on_its_company_page(app: Any, seeded: World) -> None:
    member = _login(app, seeded.emails["member_a"])
    page = member.get(f"/companies/{seeded.firm_a}")
    assert page.status_code == 200
    section = re.search(r'<section class="panel fleet-firm".*?</section>', page.text, re.S)
    assert section
    text = section.group(0)
    assert "센터가 받은 공장 데이터" in text
    assert re.findall(r'data-testid="fleet-plant" data-plant="([^"]+)"', text) == ["a-annex", "a-main"]
    assert "정상 수신" in text and "지연" in text
    assert "주축 부하" in text and "절삭유 온도" in text and "프레스 압력" in text and "A MCT-1" in text
    latest = re.search(r'data-tag="1">.*?data-testid="latest"><strong>([^<]+)</strong>', text, re.S)
    assert latest and latest.group(1) == "64.2"  # the newest 1-minute mean (64.25), as the live pages round
    assert 'id="fleet-spark-a-main-1"' in text  # six hourly means to draw
    assert "55 – 60" in text  # their range
    assert "B 비밀 태그" not in page.text and "b-plant" not in page.text and "X 태그" not in page.text
    assert member.get(f"/companies/{seeded.firm_b}").status_code == 404

    admin_b = _login(app, seeded.emails["admin"]).get(f"/companies/{seeded.firm_b}").text
    assert "b-plant" in admin_b and "B 비밀 태그" in admin_b and "주축 부하" not in admin_b
    assert "x-plant" not in admin_b


def test_the_programme_dashboard_counts_plants_reporting_now(app: Any, seeded: World) -> None:
    admin = _login(app, seeded.emails["admin"]).get("/centre").text
    figure = re.search(r'data-testid="fleet-figure">(.*?)</div></div>', admin, re.S)
    assert figure and 'href="/fleet"' in figure.group(0)
    assert re.sub(r"<[^>]+>|\s+", " ", figure.group(1)).split()[:3] == ["2", "/", "2"]  # a-main, x-plant
    consultant = _login(app, seeded.emails["consultant_a"]).get("/centre").text
    figure = re.search(r'data-testid="fleet-figure">(.*?)</div></div>', consultant, re.S)
    assert figure and re.sub(r"<[^>]+>|\s+", " ", figure.group(1)).split()[:3] == ["1", "/", "1"]


def test_empty_states_say_what_to_set_on_the_plant(app: Any, world: World) -> None:
    admin = _login(app, world.emails["admin"])
    assert 'data-testid="fleet-empty"' in admin.get("/fleet").text
    page = admin.get(f"/companies/{world.firm_a}").text
    assert "이 기업의 공장이 아직 센터로 데이터를 보내지 않았습니다" in page and "SMART365_FLEET_LEAF_URL" in page
    assert "(이 기업은 1018600011)을" in page
