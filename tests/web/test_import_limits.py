"""Every file import reads within its limits, answers bad bytes with a 4xx and a reason, and parses off the
event loop (a worker thread, where no loop runs), so one upload cannot stall or sink the others."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smart365.core.settings import Settings
from smart365.core.uploads import ReadLimits
from smart365.testbed import tables
from tests.conftest import PASSWORD, World, bearer
from tests.core.test_uploads import workbook


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", secret_key="test-secret",
        max_import_rows=50, max_registry_rows=20, max_import_unpacked_bytes=512 * 1024,
    )  # fmt: skip


def _login(client: TestClient, email: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/companies").text)
    assert csrf
    return csrf.group(1)


def _history_csv(rows: int, tag: int) -> bytes:
    return (
        "timestamp,tag,value\n" + "".join(f"2026-01-05 09:00:{i % 60:02d},{tag},{i}\n" for i in range(rows))
    ).encode()


def test_a_history_workbook_bomb_is_refused_before_it_is_read_and_nothing_is_stored(
    app: FastAPI, client: TestClient, world: World
) -> None:
    member = bearer(client, world.emails["member_a"]) | {"Accept-Language": "en"}
    url = f"/api/v1/companies/{world.firm_a}/telemetry/import"
    answer = client.post(url, headers=member, files={"file": ("history.xlsx", workbook(20_000))})
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "file_too_large"
    assert re.fullmatch(
        r"The workbook unpacks to [\d.]+ MB, more than the 0.5 MB allowed; split it\.",
        answer.json()["error"]["message_en"],
    )
    assert app.state.system.store.count() == 0 and app.state.system.store.dead_letters().num_rows == 0


def test_a_history_file_over_the_row_limit_is_refused(app: FastAPI, client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"])
    url = f"/api/v1/companies/{world.firm_a}/telemetry/import"
    over = client.post(url, headers=member, files={"file": ("h.csv", _history_csv(51, world.ids_a["tag_id"]))})
    assert over.status_code == 413 and over.json()["error"]["code"] == "file_too_large"
    assert app.state.system.store.count() == 0
    within = client.post(url, headers=member, files={"file": ("h.csv", _history_csv(50, world.ids_a["tag_id"]))})
    assert within.status_code == 200 and within.json()["points"] == 50


@pytest.mark.parametrize(
    ("name", "content", "status"),
    [
        ("firms.xlsx", workbook(21), 413),
        ("firms.xlsx", workbook(5)[:1500], 422),
        ("firms.xlsx", b"this is not a zip", 422),
        ("firms.csv", bytes(range(256)) * 40, 422),
        ("firms.csv", b"name," + b"x" * 200_000 + b"\n", 422),  # a cell longer than the csv module reads
    ],
    ids=["over-the-row-limit", "truncated-xlsx", "non-zip-xlsx", "random-bytes-csv", "huge-cell-csv"],
)
def test_a_bad_company_file_is_a_4xx_with_a_reason(
    client: TestClient, world: World, name: str, content: bytes, status: int
) -> None:
    admin = bearer(client, world.emails["admin"]) | {"Accept-Language": "en"}
    answer = client.post("/api/v1/companies/import", headers=admin, files={"file": (name, content)})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["message_en"]


def test_a_testbed_workbook_bomb_is_refused_with_the_reason_on_the_page(
    settings: Settings, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "UPLOAD_LIMITS", ReadLimits(rows=tables.MAX_ROWS, unpacked_bytes=512 * 1024))
    csrf = _login(client, world.emails["member_a"])
    answer = client.post(
        f"/testbed/companies/{world.firm_a}/upload", data={"csrf_token": csrf},
        files={"file": ("big.xlsx", workbook(20_000))}, follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 413
    assert "통합 문서는 압축을 풀면" in answer.text
    assert not list((settings.data_dir / "testbed" / str(world.firm_a)).glob("*.xlsx"))  # nothing is kept


def _on_worker_thread(record: list[bool], real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            record.append(False)  # running on the event loop's own thread
        except RuntimeError:
            record.append(True)
        return real(*args, **kwargs)

    return wrapped


def test_every_file_import_parses_in_a_worker_thread_not_on_the_event_loop(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smart365.assessment import campaigns
    from smart365.monitoring import pages as monitoring_pages
    from smart365.registry import importer

    record: list[bool] = []
    monkeypatch.setattr(monitoring_pages, "parse_upload", _on_worker_thread(record, monitoring_pages.parse_upload))
    monkeypatch.setattr(importer, "read_rows", _on_worker_thread(record, importer.read_rows))
    monkeypatch.setattr(campaigns, "_read_upload", _on_worker_thread(record, campaigns._read_upload))
    history = {"file": ("h.csv", _history_csv(3, world.ids_a["tag_id"]))}
    firms = {"file": ("firms.csv", b"name,brn,ksic_code,region\n")}
    admin = bearer(client, world.emails["admin"])
    calls = [
        lambda: client.post(f"/api/v1/companies/{world.firm_a}/telemetry/import", headers=admin, files=history),
        lambda: client.post("/api/v1/companies/import", headers=admin, files=firms),
    ]
    for call in calls:
        assert call().status_code == 200
    csrf = _login(client, world.emails["admin"])
    pages = [
        (f"/monitoring/companies/{world.firm_a}/import", history),
        ("/companies/import", firms),
        (f"/campaigns/{world.ids_a['campaign_id']}/import", {"file": ("r.csv", b"brn\n")}),
    ]
    for url, files in pages:
        assert client.post(url, data={"csrf_token": csrf}, files=files).status_code < 500
    assert record == [True] * 5
