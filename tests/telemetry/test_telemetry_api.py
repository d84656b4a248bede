"""The telemetry HTTP API as a gateway or script uses it, with tenancy on every point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

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
        "dead_letter": 0,
        "rejected": [],
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
    assert (answer["received"], answer["stored"], answer["dead_letter"]) == (4, 1, 1)
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
