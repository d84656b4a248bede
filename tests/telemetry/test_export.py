"""Stored points out as CSV and Parquet: every point once across the streamed slices, the firm's tags only."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.audit import AuditEntry
from smart365.core.tenancy import SYSTEM
from smart365.telemetry.batch import Batch
from tests.assessment.test_assessment_web import _login
from tests.conftest import World, bearer

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _store(client: TestClient, tag_id: int, hours: int, start: datetime = START) -> np.ndarray:
    """A point every 10 s (and one at 250 ms past a second) for ``hours``: more than one 6-hour slice."""
    ts = np.arange(0, hours * 3600, 10, dtype=np.int64) * 1_000_000 + int(start.timestamp() * 1e6)
    ts[1] += 250_000
    values = np.sin(np.arange(ts.size) / 50.0)
    client.app.state.system.store.append(Batch.from_columns(tag_id, ts, values))  # type: ignore[attr-defined]
    return values


def test_a_member_exports_its_tag_as_csv_and_parquet_every_point_once(client: TestClient, world: World) -> None:
    tag = world.ids_a["tag_id"]
    values = _store(client, tag, hours=14)
    member = bearer(client, world.emails["member_a"])
    url = f"/api/v1/equipment/{world.ids_a['equipment_id']}/export"
    query = {"start": START.isoformat(), "end": (START + timedelta(hours=14)).isoformat()}

    answer = client.get(url, params=query, headers=member)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''SENTINEL-A%20MCT-202612010000-202612011400.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == values.size == 14 * 360  # three slices, nothing doubled at their edges
    assert [float(r["value"]) for r in rows] == values.tolist()
    assert rows[1]["time"] == "2026-12-01T00:00:10.250000Z"
    assert rows[0]["tag"] == "SENTINEL-A spindle" and rows[0]["machine"] == "SENTINEL-A MCT" and rows[0]["unit"] == "%"

    parquet = client.get(url, params=query | {"format": "parquet", "tag_id": tag}, headers=member)
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == values.size and table.column("value").to_pylist() == values.tolist()
    assert pq.ParquetFile(io.BytesIO(parquet.content)).num_row_groups == 3  # a row group a slice

    with world.db.session(SYSTEM) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "data.export")).all()
        assert [e.details["format"] for e in entries] == ["csv", "parquet"]
        assert {e.company_id for e in entries} == {world.firm_a}
        assert entries[1].details["tags"] == [tag] and entries[1].target == f"equipment:{world.ids_a['equipment_id']}"


def test_another_firms_machine_is_not_found_and_a_bad_range_or_tag_is_refused(client: TestClient, world: World) -> None:
    url = f"/api/v1/equipment/{world.ids_a['equipment_id']}/export"
    query = {"start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat()}
    outsider = bearer(client, world.emails["member_b"])
    assert client.get(url, params=query, headers=outsider).status_code == 404
    member = bearer(client, world.emails["member_a"])
    refused = client.get(url, params=query | {"end": START.isoformat()}, headers=member)
    assert refused.status_code == 422 and "start must be before end." in refused.text
    stranger = client.get(url, params=query | {"tag_id": world.ids_a["tag_id"] + 1000}, headers=member)
    assert stranger.status_code == 422 and "not this machine" in stranger.text


def test_the_machine_page_links_an_export_a_browser_session_can_follow(app: object, world: World) -> None:
    browser = _login(app, world.emails["member_a"])[0]
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    _store(browser, world.ids_a["tag_id"], hours=1, start=recent)
    page = browser.get(f"/monitoring/equipment/{world.ids_a['equipment_id']}/analytics?hours=24").text
    link = re.search(r'href="(/api/v1/equipment/\d+/export\?[^"]+format=csv)" data-testid="export-csv"', page)
    assert link and "내보내기" in page
    answer = browser.get(html.unescape(link.group(1)))
    assert answer.status_code == 200
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "time,tag_id,tag,machine,unit,value,quality"
    assert len(lines) == 1 + 360  # the hour stored two hours ago, inside the page's last 24 hours


def test_rows_of_several_tags_come_by_time_each_named_as_its_own_tag() -> None:
    from smart365.telemetry.export import ExportTag, csv_chunks
    from smart365.telemetry.store import DuckDBStore

    store = DuckDBStore(":memory:")
    store.append(Batch.from_columns([9, 3, 9, 3], [0, 0, 2_000_000, 1_000_000], [1.0, 2.0, 3.0, 4.0]))
    tags = [ExportTag(9, "진동", "MCT-01", "mm/s"), ExportTag(3, "주축 부하", "MCT-01", "%")]
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_chunks(store, tags, 0, 10**7)).decode("utf-8-sig"))))
    assert [(r["tag_id"], r["tag"], r["unit"], r["value"]) for r in rows] == [
        ("3", "주축 부하", "%", "2"),
        ("9", "진동", "mm/s", "1"),
        ("3", "주축 부하", "%", "4"),
        ("9", "진동", "mm/s", "3"),
    ]
