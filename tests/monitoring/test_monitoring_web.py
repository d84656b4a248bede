"""Alarm events from stored points, acknowledge and shelve with who/when, the event stream, and the CSV
import API with bad rows, as insiders and outsiders of firm A."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.db import utcnow
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent, AlarmRule
from smart365.monitoring.runtime import AlarmMonitor
from smart365.telemetry.batch import Batch
from tests.conftest import World, bearer
from tests.web.test_tenancy_matrix import _csrf, _page_client


def _rule(world: World, **kwargs: Any) -> int:
    with world.db.session(SYSTEM) as session:
        rule = AlarmRule(company_id=world.firm_a, tag_id=world.ids_a["tag_id"], kind="high", limit_value=100, **kwargs)
        session.add(rule)
        session.flush()
        return rule.id


def _points(world: World, start_s: int, values: list[float]) -> Batch:
    now = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    return Batch.from_columns(
        world.ids_a["tag_id"], [now + timedelta(seconds=start_s + i) for i in range(len(values))], values
    )


def _events(world: World) -> list[AlarmEvent]:
    with world.db.session(SYSTEM) as session:
        return list(session.scalars(select(AlarmEvent).order_by(AlarmEvent.id)))


def test_stored_points_raise_and_clear_events_once_even_after_a_restart(world: World) -> None:
    _rule(world, deadband=5.0, severity="critical")
    monitor = AlarmMonitor(world.db)
    monitor.process(_points(world, 0, [90, 120, 110, 96, 94]))
    monitor.process(_points(world, 5, [130]))
    events = _events(world)
    assert [(e.raised_value, e.cleared_value) for e in events] == [(120.0, 94.0), (130.0, None)]
    assert events[0].condition == "SENTINEL-A spindle > 100 %" and events[0].severity == "critical"
    assert events[0].equipment_id == world.ids_a["equipment_id"] and events[0].company_id == world.firm_a

    AlarmMonitor(world.db).process(_points(world, 6, [140]))  # a restarted worker knows the alarm is open
    assert len(_events(world)) == 2


def test_acknowledge_and_shelve_record_who_and_when_and_outsiders_cannot(app: Any, world: World) -> None:
    _rule(world)
    AlarmMonitor(world.db).process(_points(world, 0, [120]))
    alarm_id = _events(world)[0].id
    outsider = _page_client(app, world.emails["member_b"])
    response = outsider.post(
        "/monitoring/alarms/ack", data={"alarm_id": alarm_id, "csrf_token": _csrf(outsider)}, follow_redirects=False
    )
    assert response.status_code == 404 and _events(world)[0].acked_at is None

    member = _page_client(app, world.emails["member_a"])
    token = _csrf(member)
    response = member.post(
        "/monitoring/alarms/ack", data={"alarm_id": alarm_id, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/monitoring/companies/{world.firm_a}/alarms"
    event = _events(world)[0]
    assert event.acked_by_name == "member_a" and event.acked_at is not None

    data = {"alarm_id": alarm_id, "minutes": 60, "csrf_token": token, "next": "https://evil.example/"}
    response = member.post("/monitoring/alarms/shelve", data=data, follow_redirects=False)
    assert response.headers["location"].startswith("/monitoring/")  # never an outside address
    assert _events(world)[0].shelved_by_name == "member_a"
    bad = member.post("/monitoring/alarms/shelve", data=data | {"minutes": 10_000}, follow_redirects=False)
    assert bad.status_code == 422
    page = member.get(f"/monitoring/companies/{world.firm_a}/alarms")
    assert page.status_code == 200 and "보류됨" in page.text


def test_the_event_stream_sends_snapshots_with_the_latest_values(app: Any, world: World) -> None:
    app.state.system.store.append(_points(world, 0, [42.5]))
    member = _page_client(app, world.emails["member_a"])
    url = f"/monitoring/equipment/{world.ids_a['equipment_id']}/stream"
    with member.stream("GET", url, params={"max_events": 2}, headers={"Accept": "text/event-stream"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    assert body.startswith("retry: ") and body.count("event: snapshot\ndata: ") == 2
    assert '"v": 42.5' in body
    one = member.get(f"/monitoring/companies/{world.firm_a}/stream")  # no event-stream Accept: one snapshot
    assert one.text.count("event: snapshot") == 1
    snapshot = json.loads(one.text.split("data: ", 1)[1].split("\n", 1)[0])
    assert snapshot["ages"][str(world.ids_a["equipment_id"])] >= 590  # the point is 10 minutes old: stale
    assert _page_client(app, world.emails["member_b"]).get(url).status_code == 404


def test_csv_import_stores_good_rows_and_dead_letters_the_rest_with_reasons(
    client: TestClient, app: Any, world: World
) -> None:
    tag = world.ids_a["tag_id"]
    csv = (
        "timestamp,tag,value\n"
        f"2026-01-05 09:00:00,{tag},55.5\n"
        f"2026-01-05 09:00:01,{tag},abc\n"
        f"2026-01-05 09:00:02,{tag},151\n"  # above the tag's maximum of 150
        f"2026-01-05 09:00:03,MCT-99/spindle,1\n"
        "2026-01-05 09:00:04\n"
        f"1999-01-01 00:00:00,{tag},1\n"
    )
    url = f"/api/v1/companies/{world.firm_a}/telemetry/import"
    files = {"file": ("history.csv", csv.encode(), "text/csv")}
    for outsider in ("member_b", "partner"):
        assert client.post(url, files=files, headers=bearer(client, world.emails[outsider])).status_code == 404
    response = client.post(
        url, files=files, headers=bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["points"], report["stored"], report["already_stored"]) == (5, 1, 0)
    assert [(r["line"], r["reason_en"]) for r in report["rejected"]] == [
        (3, "The value is missing or not a finite number."),
        (4, "The value is above the tag's maximum."),
        (5, "The tag is not registered."),
        (6, "The row does not have the same number of columns as the header."),
        (7, "The timestamp is before the earliest accepted time (2000-01-01)."),
    ]
    store = app.state.system.store
    assert store.read(tag, "2026-01-05", "2026-01-06").value.tolist() == [55.5]
    assert sorted(store.dead_letters().column("reason").to_pylist()) == sorted(
        ["not_numeric", "above_max", "unknown_tag", "malformed_row", "ts_too_old"]
    )
    bad = client.post(
        url, files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}, headers=bearer(client, world.emails["admin"])
    )
    assert bad.status_code == 422 and "timestamp" in bad.json()["error"]["message_en"]
    alarms = client.get(
        f"/api/v1/companies/{world.firm_a}/alarms", headers=bearer(client, world.emails["consultant_a"])
    )
    assert alarms.status_code == 200 and alarms.json() == []


def test_rules_are_added_and_switched_by_the_firm_only(client: TestClient, app: Any, world: World) -> None:
    url = f"/api/v1/companies/{world.firm_a}/alarm-rules"
    rule = {"tag_id": world.ids_a["tag_id"], "kind": "low", "limit": 5, "deadband": 1, "delay_s": 30}
    assert client.post(url, json=rule, headers=bearer(client, world.emails["member_b"])).status_code == 404
    member = bearer(client, world.emails["member_a"])
    created = client.post(url, json=rule, headers=member)
    assert created.status_code == 201 and created.json()["severity"] == "warning"
    bad = client.post(url, json=rule | {"kind": "sideways", "deadband": -1}, headers=member)
    assert bad.status_code == 422 and {f["field"] for f in bad.json()["error"]["fields"]} == {"kind", "deadband"}
    assert client.post(url, json=rule | {"tag_id": 10**6}, headers=member).status_code == 404

    page = _page_client(app, world.emails["member_a"])
    toggle = f"/monitoring/companies/{world.firm_a}/rules/toggle"
    data = {"rule_id": created.json()["id"], "csrf_token": _csrf(page)}
    assert page.post(toggle, data=data, follow_redirects=False).status_code == 303
    assert client.get(url, headers=member).json()[0]["enabled"] is False
    form = {"tag_id": world.ids_a["tag_id"], "kind": "high", "limit": "abc", "csrf_token": data["csrf_token"]}
    refused = page.post(f"/monitoring/companies/{world.firm_a}/rules", data=form, follow_redirects=False)
    assert refused.status_code == 422 and "limit" in refused.text
    alarms_page = page.get(f"/monitoring/companies/{world.firm_a}/alarms").text
    assert "SENTINEL-A spindle &lt; 5 %" in alarms_page


def test_http_ingest_raises_alarms_in_the_serve_shape(app: Any, world: World) -> None:
    _rule(world, deadband=2.0)
    with TestClient(app) as client:
        assert app.state.system.collection.worker is not None  # the registry's connected machines: none here
        now = utcnow() - timedelta(minutes=1)
        points = [
            {"tag_id": world.ids_a["tag_id"], "ts": (now + timedelta(seconds=i)).isoformat(), "value": v}
            for i, v in enumerate([90.0, 104.0, 99.0])
        ]
        response = client.post(
            "/api/v1/ingest", json={"points": points}, headers=bearer(client, world.emails["member_a"])
        )
        assert response.status_code == 200 and response.json()["stored"] == 3
    assert [(e.raised_value, e.cleared_at) for e in _events(world)] == [(104.0, None)]  # 99 is inside the band


def test_a_bad_history_file_is_answered_with_the_first_rejections_and_counts_and_each_row_is_dead_lettered(
    client: TestClient, app: Any, world: World
) -> None:
    tag = world.ids_a["tag_id"]
    unknown = "".join(f"2026-01-05 09:{i // 60:02d}:{i % 60:02d},MCT-99/spindle,{i}\n" for i in range(250))
    short = "".join(f"2026-01-05 10:00:{i:02d},{tag}\n" for i in range(10))  # one cell short: unreadable
    files = {"file": ("history.csv", ("timestamp,tag,value\n" + unknown + short).encode(), "text/csv")}
    url = f"/api/v1/companies/{world.firm_a}/telemetry/import"
    answer = client.post(url, files=files, headers=bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"})
    report = answer.json()
    assert answer.status_code == 200 and report["rejected_count"] == 260
    assert [r["line"] for r in report["rejected"]] == list(range(2, 202))  # the first 200, by line
    assert [(c["code"], c["count"]) for c in report["rejected_by_reason"]] == [
        ("unknown_tag", 250),
        ("malformed_row", 10),
    ]
    letters = app.state.system.store.dead_letters(limit=1000).to_pandas()
    assert len(letters) == 260
    assert sorted(letters[letters.reason == "malformed_row"].raw)[0] == f"2026-01-05 10:00:00,{tag}"


def test_excel_and_parquet_histories_import_with_sheet_row_numbers_and_a_preview_stores_nothing(
    client: TestClient, app: Any, world: World
) -> None:
    tag = world.ids_a["tag_id"]
    wide = pd.DataFrame(
        {"timestamp": pd.to_datetime(["2026-01-06 09:00:00", "2026-01-06 09:00:01"]), str(tag): [41.0, 999.0]}
    )
    long = pd.DataFrame({"timestamp": ["2026-01-07 09:00:00", "bad time"], "tag": [str(tag)] * 2, "value": [7.0, 8.0]})
    excel, parquet = io.BytesIO(), io.BytesIO()
    long.to_excel(excel, index=False)
    wide.to_parquet(parquet)
    url = f"/api/v1/companies/{world.firm_a}/telemetry/import"
    headers = bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    store = app.state.system.store

    member = _page_client(app, world.emails["member_a"])
    csrf = _csrf(member)
    page = f"/monitoring/companies/{world.firm_a}/import"
    files = {"file": ("history.parquet", parquet.getvalue(), "application/octet-stream")}
    preview = member.post(page, data={"csrf_token": csrf, "action": "preview"}, files=files)
    assert preview.status_code == 200 and 'data-testid="import-sample"' in preview.text
    assert "41.0" in preview.text and "2026-01-06 09:00:00" in preview.text  # the sheet's time is Korean time
    assert store.read(tag, "2026-01-05", "2026-01-08").value.tolist() == []  # a preview stores nothing

    report = client.post(url, files=files, headers=headers).json()
    assert (report["points"], report["stored"]) == (2, 1)
    assert [(r["line"], r["reason_en"]) for r in report["rejected"]] == [(3, "The value is above the tag's maximum.")]
    files = {"file": ("history.xlsx", excel.getvalue(), "application/octet-stream")}
    report = client.post(url, files=files, headers=headers).json()
    assert (report["points"], report["stored"]) == (2, 1)
    assert [r["line"] for r in report["rejected"]] == [3]  # Excel row 3: the header is row 1
    assert store.read(tag, "2026-01-05", "2026-01-08").value.tolist() == [41.0, 7.0]

    broken = {"file": ("history.xlsx", b"not a workbook", "application/octet-stream")}
    answer = client.post(url, files=broken, headers=headers)
    assert answer.status_code == 422 and "not an Excel workbook" in answer.json()["error"]["message_en"]
