"""The telemetry HTTP API as a gateway or script uses it, with tenancy on every point."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smart365.telemetry import api as telemetry_api
from tests.conftest import World, bearer

NOW = datetime.now(UTC).replace(microsecond=0)


def _points(tag_id: int, values: list[float], start: datetime = NOW - timedelta(minutes=10)) -> dict[str, object]:
    return {
        "points": [
            {"tag_id": tag_id, "ts": (start + timedelta(seconds=i)).isoformat(), "value": v}
            for i, v in enumerate(values)
        ]
    }


def test_member_ingests_json_and_reads_latest_and_series(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"])
    tag = world.ids_a["tag_id"]
    first = client.post("/api/v1/ingest", headers=member, json=_points(tag, [1.0, 2.0, 3.0, 4.0]))
    assert first.json() | {"rejected": []} == {
        "received": 4,
        "stored": 4,
        "already_stored": 0,
        "conflicts": 0,
        "dead_letter": 0,
        "rejected": [],
        "rejected_by_reason": [],
    }
    again = client.post("/api/v1/ingest", headers=member, json=_points(tag, [1.0, 2.0, 3.0, 4.0])).json()
    assert (again["stored"], again["already_stored"]) == (0, 4)  # at-least-once senders duplicate nothing

    latest = client.get(f"/api/v1/tags/{tag}/latest", headers=member).json()
    assert latest["value"] == 4.0
    series = client.get(f"/api/v1/tags/{tag}/series?max_points=2", headers=member).json()
    assert 1 <= len(series["points"]) <= 2
    assert min(p["min"] for p in series["points"]) == 1.0 and max(p["max"] for p in series["points"]) == 4.0
    assert sum(p["count"] for p in series["points"]) == 4


def test_points_for_another_firms_tag_are_dead_lettered_not_stored(client: TestClient, world: World) -> None:
    outsider = bearer(client, world.emails["member_b"])
    tag_a = world.ids_a["tag_id"]
    answer = client.post("/api/v1/ingest", headers=outsider | {"Accept-Language": "en"}, json=_points(tag_a, [9.0]))
    body = answer.json()
    assert answer.status_code == 200 and (body["stored"], body["dead_letter"]) == (0, 1)
    assert body["rejected"] == [
        {"row": 1, "reason": "The tag is not registered.", "reason_en": "The tag is not registered."}
    ]
    admin = bearer(client, world.emails["admin"])
    assert client.get(f"/api/v1/tags/{tag_a}/latest", headers=admin).json()["value"] is None
    assert client.get(f"/api/v1/tags/{tag_a}/latest", headers=outsider).status_code == 404


def test_line_protocol_reports_bad_lines_and_limits(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"])
    equipment = world.ids_a["equipment_id"]
    ts = int((NOW - timedelta(minutes=1)).timestamp()) * 10**9
    body = "\n".join(
        [
            f"mct,equipment_id={equipment} SENTINEL-A\\ spindle=55.5 {ts}",
            f'mct,equipment_id={equipment} SENTINEL-A\\ spindle="high" {ts + 10**9}',
            f"mct spindle=1 {ts}",
            f"mct,equipment_id={equipment} no_such_tag=1 {ts}",
        ]
    )
    answer = client.post(
        "/api/v1/ingest", headers=member | {"Content-Type": "text/plain", "Accept-Language": "ko"}, content=body
    ).json()
    assert (answer["received"], answer["stored"], answer["dead_letter"]) == (4, 1, 3)  # bad lines are kept too
    reasons = {r["row"]: r["reason_en"] for r in answer["rejected"]}
    assert reasons[2].startswith("Field 'SENTINEL-A spindle' is not a number")
    assert reasons[3] == "The tag set needs equipment_id=<number>."
    assert reasons[4] == "The tag is not registered."


def test_bad_json_is_a_clear_422_and_metrics_count(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"])
    answer = client.post("/api/v1/ingest", headers=member, content=b'{"points": [{"tag_id": "x"}]}')
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid"
    over = client.post("/api/v1/ingest", headers=member, json=_points(world.ids_a["tag_id"], [5.0, 500.0])).json()
    assert [r["reason_en"] for r in over["rejected"]] == ["The value is above the tag's maximum."]
    assert over["rejected"][0]["row"] == 2
    metrics = client.get("/metrics").text
    assert 'smart365_ingest_points_total{source="http"}' in metrics
    assert 'smart365_dead_letter_total{reason="above_max"}' in metrics


def _post_lines(client: TestClient, headers: dict[str, str], body: str) -> dict[str, Any]:
    answer = client.post("/api/v1/ingest", headers=headers | {"Content-Type": "text/plain"}, content=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_every_rejected_line_is_dead_lettered_with_its_raw_text_and_reason(
    app: FastAPI, client: TestClient, world: World
) -> None:
    member = bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    equipment = world.ids_a["equipment_id"]
    ts = int((NOW - timedelta(minutes=1)).timestamp()) * 10**9
    body = f'mct,equipment_id={equipment} SENTINEL-A\\ spindle="high" {ts}\nmct spindle=1 {ts}\n' + "x" * 5000
    answer = _post_lines(client, member, body)
    assert answer["dead_letter"] == 3
    letters = app.state.system.store.dead_letters().to_pandas().sort_values("reason")
    assert letters.reason.tolist() == ["malformed_line", "no_equipment_id", "not_a_number"]
    assert letters.raw.tolist()[1:] == [
        f"mct spindle=1 {ts}",
        f'mct,equipment_id={equipment} SENTINEL-A\\ spindle="high" {ts}',
    ]
    assert letters.raw.tolist()[0] == "x" * 1000  # a long line is kept cut short
    assert letters.message_en.tolist()[2] == "Field 'SENTINEL-A spindle' is not a number: \"high\""
    assert letters.message_ko.tolist()[1] == "태그 집합에 equipment_id=<번호>가 있어야 합니다."


def test_a_bad_batch_is_answered_with_the_first_hundred_rejections_and_counts_by_reason(
    client: TestClient, world: World
) -> None:
    member = bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    equipment = world.ids_a["equipment_id"]
    ts = int((NOW - timedelta(minutes=1)).timestamp()) * 10**9
    unknown = [f"mct,equipment_id={equipment} no_such_tag={i} {ts + i}" for i in range(300)]
    answer = _post_lines(client, member, "\n".join([*unknown, *(["junk"] * 200)]))
    assert (answer["received"], answer["stored"], answer["dead_letter"]) == (500, 0, 500)
    assert [r["row"] for r in answer["rejected"]] == list(range(1, 101))
    unknown_tag, malformed = "The tag is not registered.", "Expected 'measurement,tags fields [timestamp]'."
    assert answer["rejected_by_reason"] == [
        {"code": "unknown_tag", "count": 300, "reason": unknown_tag, "reason_en": unknown_tag},
        {"code": "malformed_line", "count": 200, "reason": malformed, "reason_en": malformed},
    ]


def test_out_of_range_and_non_ascii_numbers_in_lines_are_rejected_not_a_500(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    equipment = world.ids_a["equipment_id"]
    body = "\n".join(
        [
            f"mct,equipment_id={'9' * 30} SENTINEL-A\\ spindle=1",
            "mct,equipment_id=١٢ SENTINEL-A\\ spindle=1",
            f"mct,equipment_id={equipment} SENTINEL-A\\ spindle=1 {'9' * 30}",
            f"mct,equipment_id={equipment} SENTINEL-A\\ spindle=١٢",
            f"mct,equipment_id={equipment} SENTINEL-A\\ spindle=1 ١٢",
        ]
    )
    answer = _post_lines(client, member, body)
    assert answer["stored"] == 0
    no_id = "The tag set needs equipment_id=<number>."
    assert [(r["row"], r["reason_en"]) for r in answer["rejected"]] == [
        (1, no_id),
        (2, no_id),
        (3, f"The timestamp '{'9' * 30}' is not a whole number in range."),
        (4, "Field 'SENTINEL-A spindle' is not a number: ١٢"),
        (5, "The timestamp '١٢' is not a whole number in range."),
    ]


def test_a_line_with_too_many_fields_is_refused_whole_and_the_rest_is_read(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    equipment = world.ids_a["equipment_id"]
    ts = int((NOW - timedelta(minutes=1)).timestamp()) * 10**9
    wide = f"mct,equipment_id={equipment} " + ",".join(f"f{i}=1" for i in range(50_000)) + f" {ts}"
    answer = _post_lines(client, member, f"{wide}\nmct,equipment_id={equipment} SENTINEL-A\\ spindle=5 {ts}")
    assert (answer["received"], answer["stored"]) == (2, 1)
    assert answer["rejected"] == [
        {
            "row": 1,
            "reason": "The line has more than 10000 fields.",
            "reason_en": "The line has more than 10000 fields.",
        }
    ]


def test_a_body_of_more_lines_than_a_request_may_carry_is_refused_whole(
    app: FastAPI, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry_api, "MAX_POINTS_PER_REQUEST", 10)
    member = bearer(client, world.emails["member_a"]) | {"Content-Type": "text/plain"}
    answer = client.post("/api/v1/ingest", headers=member, content="\n".join(["junk"] * 11))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"
    assert app.state.system.store.dead_letters().num_rows == 0


def test_the_ingest_handler_parses_off_the_event_loop(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one request's parse is held, another request (``/healthz``) is answered: the loop is free."""
    member = bearer(client, world.emails["member_a"]) | {"Content-Type": "text/plain"}
    parsing, healthy, seen = threading.Event(), threading.Event(), {}
    real = telemetry_api.parse_lines

    def held_parse(*args: Any, **kwargs: Any) -> Any:
        parsing.set()
        seen["healthz_answered_during_parse"] = healthy.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(telemetry_api, "parse_lines", held_parse)
    sender = threading.Thread(
        target=lambda: seen.update(answer=client.post("/api/v1/ingest", headers=member, content="x"))
    )
    sender.start()
    assert parsing.wait(timeout=30)
    assert client.get("/healthz").status_code == 200
    healthy.set()
    sender.join(timeout=60)
    assert seen["healthz_answered_during_parse"] is True
    assert seen["answer"].status_code == 200
