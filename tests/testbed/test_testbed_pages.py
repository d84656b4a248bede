"""The AI test-bed in the browser: upload → preview → start → live progress → the result in plain words;
bad files and choices refused (4xx, Korean and English) with nothing stored; tags pivoted from the store;
the restart rule; deployment."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from smart365.analytics import registry as model_registry
from smart365.core.audit import AuditEntry
from smart365.core.db import utcnow
from smart365.core.i18n import use_locale
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from smart365.testbed import tables
from smart365.testbed.models import TestbedRun
from smart365.testbed.service import TestbedWorker, model_label, recover
from smart365.testbed.tables import Staging
from tests.conftest import World
from tests.web.test_tenancy_matrix import _csrf, _page_client


def model_label_ko(name: str) -> str:
    with use_locale("ko"):
        return model_label(name)


def _csv(rows: int = 160, seed: int = 0) -> bytes:
    """A small quality table: the defect follows temperature and pressure; a serial number to leave out."""
    rng = np.random.default_rng(seed)
    temp, pressure = rng.normal(200, 5, rows), rng.normal(50, 2, rows)
    defect = np.where(0.6 * (temp - 200) + (pressure - 50) + rng.normal(0, 1, rows) > 2, "NG", "OK")
    frame = pd.DataFrame({
        "생산일시": pd.date_range("2026-03-02 08:00", periods=rows, freq="10min").astype(str),
        "시리얼": [f"SN{i:05d}" for i in range(rows)], "온도": temp.round(2), "압력": pressure.round(2),
        "판정": defect,
    })  # fmt: skip
    return frame.to_csv(index=False).encode("utf-8")


def _member(app: Any, world: World) -> tuple[TestClient, str]:
    client = _page_client(app, world.emails["member_a"])
    return client, _csrf(client)


def _upload(client: TestClient, csrf: str, company_id: int, name: str, data: bytes) -> Any:
    return client.post(f"/testbed/companies/{company_id}/upload", files={"file": (name, data, "text/csv")},
                       data={"csrf_token": csrf}, follow_redirects=False)  # fmt: skip


def _wait(client: TestClient, run_id: int, limit_s: float = 120) -> list[str]:
    """Poll the progress fragment as the page does until the run ends; returns the fragments seen."""
    seen, deadline = [], time.monotonic() + limit_s  # a guard against hanging, not a timing assertion
    while time.monotonic() < deadline:
        response = client.get(f"/testbed/runs/{run_id}/progress")
        assert response.status_code == 200
        seen.append(response.text)
        if response.headers.get("HX-Refresh") == "true":
            return seen
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def _runs(world: World) -> list[TestbedRun]:
    """Runs made by the test (the world's finished run left out)."""
    with world.db.session(SYSTEM) as session:
        query = select(TestbedRun).where(TestbedRun.id != world.ids_a["run_id"]).order_by(TestbedRun.id)
        return list(session.scalars(query))


def _staged_files(settings: Any) -> list[Path]:
    root = settings.data_dir / "testbed"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_preview_start_watch_and_read_the_result(app: Any, client: TestClient, world: World) -> None:
    member, csrf = _member(app, world)
    firm = world.firm_a
    response = _upload(member, csrf, firm, "품질_3월.csv", _csv())
    assert response.status_code == 303, response.text
    preview_url = response.headers["location"]
    token = re.search(r"table=([0-9a-f]{32})", preview_url).group(1)  # type: ignore[union-attr]

    page = member.get(preview_url).text
    assert "품질_3월.csv" in page and "160" in page
    assert 'value="생산일시" selected' in page  # the time column is guessed
    assert "시리얼" in page and "날짜/시간" in page  # columns and their kinds

    response = member.post(f"/testbed/companies/{firm}/runs", data={"csrf_token": csrf, "table": token,
                           "target": "판정", "time": "생산일시", "task": "auto"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    fragments = _wait(member, run_id)
    assert "data-status" in fragments[0]

    page = member.get(f"/testbed/runs/{run_id}").text
    verdict = re.search(r'<p class="sentence">(.*?)</p>', page, re.S).group(1)  # type: ignore[union-attr]
    run = _runs(world)[-1]
    assert run.status == "done" and run.progress == 1.0 and run.created_by == "member_a"
    winner = run.report["winner"]["model"]  # type: ignore[index]
    assert run.report["winner"]["beats_baselines"]  # type: ignore[index]
    assert model_label_ko(winner) in verdict and "항상 가장 흔한 값" in verdict and "이깁니다" in verdict  # Korean
    assert "균형 정확도" in page and "단순 기준선" in page and "±" in page
    assert "시리얼" in page  # the identifier column is reported as left out
    assert "ROC-AUC" in page and "PR-AUC" in page and "무작위 수준" in page  # with the prior beside it
    assert 'data-testid="run-folds"' in page and 'data-testid="run-reliability"' in page
    assert "시험 구간의 양성(NG)" in page  # positives per test fold

    member.get("/lang/en")  # the page's language switch
    english = member.get(f"/testbed/runs/{run_id}").text
    assert f"{winner} wins" in english and "best simple baseline (majority class)" in english
    listing = member.get(f"/testbed/companies/{firm}").text
    assert f"/testbed/runs/{run_id}" in listing and winner in listing


def test_a_model_that_cannot_beat_the_baseline_is_called_untrustworthy(app: Any, client: TestClient,
                                                                        world: World) -> None:  # fmt: skip
    member, csrf = _member(app, world)
    rng = np.random.default_rng(3)
    noise = pd.DataFrame({"x": rng.normal(size=150), "z": rng.normal(size=150), "y": np.cumsum(rng.normal(size=150))})
    token = _upload(member, csrf, world.firm_a, "walk.csv", noise.to_csv(index=False).encode()).headers["location"]
    token = token.rsplit("=", 1)[1]
    response = member.post(f"/testbed/companies/{world.firm_a}/runs", data={"csrf_token": csrf, "table": token,
                           "target": "y", "task": "regression"}, follow_redirects=False)  # fmt: skip
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    _wait(member, run_id)
    member.get("/lang/en")
    page = member.get(f"/testbed/runs/{run_id}").text
    assert "No model beats the simple baselines" in page and "Do not trust a model" in page
    assert "last value" in page


def _bad(response: Any, korean: str, english: str) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    assert korean in response.text and english in response.text, response.text[-2000:]


def test_bad_files_and_choices_are_refused_in_both_languages_and_nothing_is_kept(
    app: Any, client: TestClient, world: World, settings: Any, monkeypatch: Any
) -> None:
    member, csrf = _member(app, world)
    firm = world.firm_a
    _bad(
        _upload(member, csrf, firm, "notes.csv", b"just one line of prose\n"),
        "두 개보다 적습니다",
        "fewer than two columns",
    )
    _bad(_upload(member, csrf, firm, "tool.exe", b"MZ\x90\x00"), "지원하지 않는 파일 형식", "Unsupported file type")
    _bad(_upload(member, csrf, firm, "fake.parquet", b"a,b\n1,2\n"), "과 맞지 않습니다", "do not match its type")
    monkeypatch.setattr(tables, "MAX_UPLOAD_BYTES", 1000)
    too_big = _upload(member, csrf, firm, "big.csv", _csv(200))
    _bad(too_big, "MB보다 큽니다", "larger than")
    assert too_big.status_code == 413
    huge = _upload(member, csrf, firm, "huge.csv", b"a,b\n" + b"1,2\n" * 300_000)  # refused by its declared length
    assert huge.status_code == 413 and "larger than" in huge.text
    assert _staged_files(settings) == []

    monkeypatch.undo()
    token = _upload(member, csrf, firm, "ok.csv", _csv()).headers["location"].rsplit("=", 1)[1]
    staged = _staged_files(settings)
    for target, korean, english in (("불량여부", "데이터에 없습니다", "is not in the data"),
                                    ("", "예측할 열", "Choose the column to predict")):  # fmt: skip
        response = member.post(f"/testbed/companies/{firm}/runs", data={"csrf_token": csrf, "table": token,
                               "target": target, "time": "생산일시"}, follow_redirects=False)  # fmt: skip
        _bad(response, korean, english)
    response = member.post(f"/testbed/companies/{firm}/runs", data={"csrf_token": csrf, "table": "0" * 32,
                           "target": "판정"}, follow_redirects=False)  # fmt: skip
    _bad(response, "다시 선택", "choose the data again")
    assert _runs(world) == [] and _staged_files(settings) == staged


def _temperature_tag(world: World) -> int:
    """A second tag ("temp") on firm A's machine, beside the world's spindle load."""
    with world.db.session(SYSTEM) as session:
        extra = Tag(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="temp", unit="°C")
        session.add(extra)
        session.flush()
        return extra.id


def test_tags_from_the_store_become_a_wide_table_on_a_time_grid(app: Any, client: TestClient, world: World) -> None:
    extra_id = _temperature_tag(world)
    start = utcnow().replace(second=0, microsecond=0) - timedelta(hours=2)
    moments = [start + timedelta(seconds=30 * i) for i in range(200)]
    load = np.linspace(10, 90, 200)
    app.state.system.store.append(Batch.from_columns(world.ids_a["tag_id"], moments, load))
    app.state.system.store.append(Batch.from_columns(extra_id, moments[::2], 20 + 0.3 * load[::2]))
    member, csrf = _member(app, world)
    local = (start + timedelta(hours=9)).replace(tzinfo=None)
    response = member.post(f"/testbed/companies/{world.firm_a}/tags", data={
        "csrf_token": csrf, "tag_id": [world.ids_a["tag_id"], extra_id],
        "start": local.isoformat(timespec="minutes"), "end": (local + timedelta(hours=2)).isoformat(timespec="minutes"),
    }, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    token = response.headers["location"].rsplit("=", 1)[1]
    frame = app.state.system.testbed.staging.load(world.firm_a, token)
    assert list(frame.columns) == ["time", "SENTINEL-A MCT/SENTINEL-A spindle", "SENTINEL-A MCT/temp"]
    steps = frame["time"].diff().dropna().unique()
    assert len(steps) == 1  # one regular step
    assert frame["SENTINEL-A MCT/temp"].notna().all()  # the slower tag is carried over short gaps
    assert frame["time"].iloc[0] == pd.Timestamp(local)  # Korean time
    page = member.get(response.headers["location"]).text
    assert "SENTINEL-A MCT/temp" in page

    outsider = _page_client(app, world.emails["member_b"])
    response = outsider.post(f"/testbed/companies/{world.firm_b}/tags", data={
        "csrf_token": _csrf(outsider), "tag_id": [world.ids_a["tag_id"], extra_id],
        "start": local.isoformat(timespec="minutes"), "end": (local + timedelta(hours=2)).isoformat(timespec="minutes"),
    }, follow_redirects=False)  # fmt: skip
    assert response.status_code == 422  # firm A's tags are not firm B's to choose


def test_tables_previewed_and_left_are_deleted_after_a_day_a_runs_table_stays(
    app: Any, client: TestClient, world: World
) -> None:
    member, csrf = _member(app, world)
    firm = world.firm_a

    def stage(seed: int) -> str:
        response = _upload(member, csrf, firm, f"표_{seed}.csv", _csv(seed=seed))
        return re.search(r"table=([0-9a-f]{32})", response.headers["location"]).group(1)  # type: ignore[union-attr]

    used, left = stage(1), stage(2)
    response = member.post(f"/testbed/companies/{firm}/runs", data={"csrf_token": csrf, "table": used,
                           "target": "판정", "time": "생산일시", "task": "auto"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    folder = Staging(app.state.system.settings.data_dir / "testbed").folder(firm)
    for token in (used, left):  # both staged two days ago
        meta = json.loads((folder / f"{token}.json").read_text(encoding="utf-8"))
        meta["staged_at"] = (utcnow() - timedelta(days=2)).isoformat()
        (folder / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    fresh = stage(3)  # staging a new table prunes the old unused one
    names = {p.name for p in folder.iterdir()}
    assert {f"{used}.csv", f"{used}.json", f"{fresh}.csv", f"{fresh}.json"} <= names
    assert not any(name.startswith(left) for name in names)
    gone = member.get(f"/testbed/companies/{firm}/new", params={"table": left}).text
    assert "준비한 표를 찾을 수 없습니다. 데이터를 다시 선택하세요." in gone  # said plainly, not a crash


def test_restart_marks_running_runs_failed_and_requeues_queued_ones(world: World, tmp_path: Path) -> None:
    with world.db.session(SYSTEM) as session:
        for status in ("running", "queued", "done"):
            session.add(TestbedRun(company_id=world.firm_a, created_by="x", source_kind="file", source="a.csv",
                                   source_spec={"token": "0" * 32}, target="y", status=status))  # fmt: skip
    queued = recover(world.db)
    runs = _runs(world)
    assert [r.status for r in runs] == ["failed", "queued", "done"]
    assert queued == [runs[1].id]
    assert runs[0].error and "restarted" in runs[0].error and "재시작" in (runs[0].error_ko or "")

    worker = TestbedWorker(world.db, Staging(tmp_path))
    worker.start()  # the requeued run's table is gone: it fails with the reason, and the worker lives on
    deadline = time.monotonic() + 30
    while _runs(world)[1].status == "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    failed = _runs(world)[1]
    assert failed.status == "failed" and "choose the data again" in (failed.error or "")
    with world.db.session(SYSTEM) as session:
        assert session.scalar(select(func.count()).select_from(TestbedRun)) == 4  # three here, one of the world


def test_outsiders_cannot_upload_start_or_read_runs(app: Any, client: TestClient, world: World) -> None:
    member, csrf = _member(app, world)
    token = _upload(member, csrf, world.firm_a, "ok.csv", _csv()).headers["location"].rsplit("=", 1)[1]
    outsider = _page_client(app, world.emails["member_b"])
    other = _csrf(outsider)
    assert _upload(outsider, other, world.firm_a, "x.csv", _csv()).status_code == 404
    response = outsider.post(f"/testbed/companies/{world.firm_b}/runs", data={"csrf_token": other, "table": token,
                             "target": "판정"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 422  # firm A's staged table is not in firm B's folder
    assert _runs(world) == []
    assert outsider.get(f"/testbed/companies/{world.firm_a}/new?table={token}").status_code == 404


def test_a_tag_run_is_deployed_through_the_model_registry(app: Any, client: TestClient, world: World) -> None:
    extra_id = _temperature_tag(world)
    start = utcnow().replace(second=0, microsecond=0) - timedelta(hours=3)
    moments = [start + timedelta(minutes=i) for i in range(180)]
    load = np.random.default_rng(5).uniform(10, 90, 180)
    app.state.system.store.append(Batch.from_columns(world.ids_a["tag_id"], moments, load))
    app.state.system.store.append(Batch.from_columns(extra_id, moments, 20 + 0.3 * load))
    member, csrf = _member(app, world)
    local = (start + timedelta(hours=9)).replace(tzinfo=None)
    response = member.post(f"/testbed/companies/{world.firm_a}/tags", data={
        "csrf_token": csrf, "tag_id": [world.ids_a["tag_id"], extra_id],
        "start": local.isoformat(timespec="minutes"), "end": (local + timedelta(hours=3)).isoformat(timespec="minutes"),
    }, follow_redirects=False)  # fmt: skip
    token = response.headers["location"].rsplit("=", 1)[1]
    response = member.post(f"/testbed/companies/{world.firm_a}/runs", data={"csrf_token": csrf, "table": token,
                           "target": "SENTINEL-A MCT/temp", "time": "time"}, follow_redirects=False)  # fmt: skip
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    _wait(member, run_id)
    assert "선형 회귀 (ridge)" in member.get(f"/testbed/runs/{run_id}").text
    outsider = _page_client(app, world.emails["member_b"])
    assert outsider.post(f"/testbed/runs/{run_id}/deploy", data={"csrf_token": _csrf(outsider)}).status_code == 404
    assert 'data-testid="deploy"' in member.get(f"/testbed/runs/{run_id}").text
    response = member.post(f"/testbed/runs/{run_id}/deploy", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303, response.text
    with world.db.session(SYSTEM) as session:
        (model,) = model_registry.deployed(session, world.ids_a["equipment_id"])
        state = model_registry.load_model(model)
        assert model.company_id == world.firm_a and model.kind == "testbed.linear" and model.status == "deployed"
        assert model.tag_ids == [world.ids_a["tag_id"]]  # the input tag; the target tag is what it predicts
        assert model.name == "SENTINEL-A MCT/temp" and "rmse" in model.metrics
        assert model.trained_from < model.trained_to and model.deployed_by == "member_a"
        assert model.settings == {"bucket_s": 60.0, "testbed_run_id": run_id}  # one-minute rows, as it learned
        model_id = model.id
    # The saved model reads columns named by tag id, as live scoring names them, and predicts temp from load.
    live = pd.DataFrame({str(world.ids_a["tag_id"]): [10.0, 90.0]})
    assert np.allclose(state.predict(live), [23.0, 47.0], atol=0.5)
    assert f"배포했습니다: 모델 #{model_id}." in member.get(f"/testbed/runs/{run_id}").text
    models_page = member.get(f"/monitoring/equipment/{world.ids_a['equipment_id']}/analytics").text
    assert "선형 모델 (AI 테스트베드 우승 모델)" in models_page and "<td>testbed.linear</td>" not in models_page
    with world.db.session(SYSTEM) as session:  # the deploy is in the audit log, with the run and the model
        columns = (AuditEntry.action, AuditEntry.target, AuditEntry.user_email)
        firms = select(*columns).where(AuditEntry.company_id == world.firm_a)
        trail = session.execute(firms.order_by(AuditEntry.id)).all()
    assert trail[-2:] == [("model.deploy", f"model:{model_id}", "ma@test.kr"),
                          ("testbed.deploy", f"testbed_run:{run_id}", "ma@test.kr")]  # fmt: skip
    assert member.post(f"/testbed/runs/{run_id}/deploy", data={"csrf_token": csrf}).status_code == 409  # once

    # Live: the deployed model scores the machine's new points and its machine page shows the newest score.
    machine_page = f"/monitoring/equipment/{world.ids_a['equipment_id']}"
    assert "아직 점수가 없습니다" in member.get(machine_page).text  # deployed, nothing scored yet: said so
    now = utcnow().replace(second=0, microsecond=0)
    live_moments = [now + timedelta(minutes=i) for i in range(3)]
    app.state.system.alarms.reload()
    app.state.system.alarms.process(Batch.from_columns(world.ids_a["tag_id"], live_moments, [90.0, 90.0, 90.0]))
    page = member.get(machine_page).text
    row = page[page.index(f'data-model-id="{model_id}"'):]
    score = float(re.search(r'data-testid="live-score"><strong[^>]*>([-0-9.e+]+)<', row).group(1))  # type: ignore[union-attr]
    assert score == pytest.approx(47.0, abs=0.5)  # the temperature it predicts at load 90
    assert f'href="/testbed/runs/{run_id}"' in row and "없음 (예측값)" in row  # a value: no alarm limit


def test_a_run_cut_short_by_shutdown_fails_with_the_reason(app: Any, client: TestClient, world: World) -> None:
    from smart365.testbed.service import execute

    member, csrf = _member(app, world)
    token = _upload(member, csrf, world.firm_a, "ok.csv", _csv()).headers["location"].rsplit("=", 1)[1]
    with world.db.session(SYSTEM) as session:
        run = TestbedRun(company_id=world.firm_a, created_by="x", source_kind="file", source="ok.csv",
                         source_spec={"token": token}, target="판정", time_column="생산일시",
                         status="queued")  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
    worker = TestbedWorker(world.db, app.state.system.testbed.staging)
    worker._stopping.set()  # the server is stopping: the run ends at its first step
    execute(world.db, worker.staging, run_id, check=worker._check_stopping)
    (stopped,) = _runs(world)
    assert stopped.status == "failed" and stopped.error == "The server stopped during this run; start it again."
    assert stopped.error_ko == "실행 중에 서버가 멈췄습니다. 다시 실행하세요."
    member.get("/lang/en")
    assert "The server stopped during this run" in member.get(f"/testbed/runs/{run_id}").text


def test_no_template_puts_a_percent_sign_inside_a_translated_string() -> None:
    """Jinja's ``_()`` applies %-formatting to its message, so ``_("{share}% missing")`` raised
    ``ValueError: unsupported format character`` (a 500) on every table with a gap."""
    import smart365

    root = Path(smart365.__file__).parent
    offenders = []
    for template in root.rglob("templates/**/*.html"):
        for literal in re.findall(r'_\(\s*"((?:[^"\\]|\\.)*)"', template.read_text(encoding="utf-8")):
            if re.search(r"%(?!%|\()", literal):
                offenders.append(f"{template.relative_to(root)}: {literal}")
    assert offenders == []


def test_a_tag_table_with_gaps_previews_and_runs_with_the_gaps_reported(app: Any, client: TestClient,
                                                                         world: World) -> None:  # fmt: skip
    extra_id = _temperature_tag(world)
    start = utcnow().replace(second=0, microsecond=0) - timedelta(hours=3)
    moments = [start + timedelta(minutes=i) for i in range(180)]
    load = np.random.default_rng(7).uniform(10, 90, 180)
    kept = [i for i in range(180) if not 60 <= i < 100]  # the temperature sensor was off for 40 minutes
    app.state.system.store.append(Batch.from_columns(world.ids_a["tag_id"], moments, load))
    app.state.system.store.append(Batch.from_columns(extra_id, [moments[i] for i in kept], 20 + 0.3 * load[kept]))
    member, csrf = _member(app, world)
    local = (start + timedelta(hours=9)).replace(tzinfo=None)
    response = member.post(f"/testbed/companies/{world.firm_a}/tags", data={
        "csrf_token": csrf, "tag_id": [world.ids_a["tag_id"], extra_id],
        "start": local.isoformat(timespec="minutes"), "end": (local + timedelta(hours=3)).isoformat(timespec="minutes"),
    }, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    page = member.get(response.headers["location"])
    assert page.status_code == 200, page.text[-2000:]  # was a 500: "{share}% missing" inside _()
    assert 'data-testid="missing-share"' in page.text and "% 결측" in page.text
    assert "SENTINEL-A MCT/temp 열은 시간 단계" in page.text and "측정값이 없습니다" in page.text  # the gap, reported
    token = response.headers["location"].rsplit("=", 1)[1]
    response = member.post(f"/testbed/companies/{world.firm_a}/runs", data={"csrf_token": csrf, "table": token,
                           "target": "SENTINEL-A MCT/temp", "time": "time"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    _wait(member, run_id)
    run = _runs(world)[-1]
    assert run.status == "done", run.error
    kinds = [f["kind"] for f in run.report["findings"]]  # type: ignore[index]
    assert "target_missing" in kinds  # the steps without a temperature are left out, and said so
    result = member.get(f"/testbed/runs/{run_id}")
    assert result.status_code == 200 and 'data-testid="run-reading"' in result.text  # R² in words


def test_the_page_form_takes_a_group_column_that_keeps_lots_together(app: Any, client: TestClient,
                                                                       world: World) -> None:  # fmt: skip
    member, csrf = _member(app, world)
    frame = pd.read_csv(io.BytesIO(_csv()))
    frame["로트"] = [f"L{i // 10:02d}" for i in range(len(frame))]
    token = _upload(member, csrf, world.firm_a, "lots.csv", frame.to_csv(index=False).encode()).headers["location"]
    token = token.rsplit("=", 1)[1]
    preview_page = member.get(f"/testbed/companies/{world.firm_a}/new?table={token}").text
    assert 'data-testid="testbed-group"' in preview_page and "묶음 열" in preview_page
    bad = member.post(f"/testbed/companies/{world.firm_a}/runs", data={"csrf_token": csrf, "table": token,
                      "target": "판정", "time": "생산일시", "group": "판정"}, follow_redirects=False)  # fmt: skip
    assert bad.status_code == 422 and "묶음 열을 목표 열" in bad.text and "group column cannot" in bad.text
    response = member.post(f"/testbed/companies/{world.firm_a}/runs", data={"csrf_token": csrf, "table": token,
                           "target": "판정", "time": "생산일시", "group": "로트"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    _wait(member, run_id)
    run = _runs(world)[-1]
    assert run.status == "done", run.error
    assert run.source_spec["group"] == "로트" and run.report["data"]["group"] == "로트"  # type: ignore[index]
    assert any(n["kind"] == "groups" for n in run.report["notes"])  # type: ignore[index]


def test_a_run_stored_before_the_honest_metrics_still_shows(app: Any, client: TestClient, world: World) -> None:
    member, _csrf_token = _member(app, world)
    with world.db.session(SYSTEM) as session:  # the world's run, in the report shape of earlier versions
        run = session.get(TestbedRun, world.ids_a["run_id"])
        assert run is not None
        run.report = run.report | {"task": "classification", "classes": ["NG", "OK"]}  # type: ignore[operator]
    page = member.get(f"/testbed/runs/{world.ids_a['run_id']}")
    assert page.status_code == 200 and 'data-testid="run-verdict"' in page.text


def test_a_deployed_defect_model_raises_its_alarm_on_the_machine_page(
    app: Any, client: TestClient, world: World
) -> None:
    """A two-class winner scores the calibrated chance of a reject live and alarms above its threshold."""
    from smart365.testbed import deploy

    load_id = world.ids_a["tag_id"]
    rng = np.random.default_rng(9)
    load = rng.uniform(10, 90, 300)
    table = pd.DataFrame({"time": pd.date_range("2026-11-01", periods=300, freq="min"), str(load_id): load,
                          "reject": (load + rng.normal(0, 5, 300) > 65).astype(int)})  # fmt: skip
    saved = deploy.winner_state(table, "reject", "time", "classification", "linear (logistic)")
    with world.db.session(SYSTEM) as session:
        model = model_registry.register(
            session, company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="불량 예측",
            kind=saved.kind, state=saved.state, tag_ids=[load_id], trained_from=saved.trained_from,
            trained_to=saved.trained_to, metrics={}, created_by="test",
        )  # fmt: skip
        model.settings = {"bucket_s": 60.0}
        model_registry.deploy(session, model.id, by="test")
    app.state.system.alarms.reload()
    now = utcnow().replace(second=0, microsecond=0)
    hot = Batch.from_columns(load_id, [now + timedelta(minutes=i) for i in range(6)], [88.0] * 6)
    app.state.system.alarms.process(hot)
    member, _csrf = _member(app, world)
    page = member.get(f"/monitoring/equipment/{world.ids_a['equipment_id']}").text
    row = page[page.index('data-testid="live-model"') :].split("</tr>")[0]
    assert 'data-testid="model-alarm"' in row, row
    score = float(re.search(r'data-testid="live-score"><strong[^>]*>([-0-9.e+]+)<', row).group(1))  # type: ignore[union-attr]
    assert 0.5 < score <= 1.0  # the chance of a reject at load 88, above the model's own threshold
    cool = Batch.from_columns(load_id, [now + timedelta(minutes=6 + i) for i in range(6)], [15.0] * 6)
    app.state.system.alarms.process(cool)
    assert 'data-testid="model-alarm"' not in member.get(f"/monitoring/equipment/{world.ids_a['equipment_id']}").text


def test_a_run_on_a_file_is_deployed_onto_the_tags_its_columns_are(app: Any, client: TestClient,
                                                                  world: World) -> None:  # fmt: skip
    temp_id = _temperature_tag(world)  # firm A's machine has "SENTINEL-A spindle" and "temp"
    rng = np.random.default_rng(3)
    load = rng.uniform(10, 90, 200)
    frame = pd.DataFrame({"측정시각": pd.date_range("2026-03-02 08:00", periods=200, freq="min").astype(str),
                          "sentinel-a spindle": load.round(2), "TEMP": (20 + 0.3 * load + rng.normal(0, 0.3, 200)),
                          "품질": rng.normal(0, 1, 200)})  # fmt: skip
    frame["품질"] = 2 * frame["TEMP"] + rng.normal(0, 0.5, 200)
    member, csrf = _member(app, world)
    token = _upload(member, csrf, world.firm_a, "측정.csv", frame.to_csv(index=False).encode()).headers["location"]
    response = member.post(f"/testbed/companies/{world.firm_a}/runs", data={
        "csrf_token": csrf, "table": token.rsplit("=", 1)[1], "target": "품질", "time": "측정시각",
    }, follow_redirects=False)  # fmt: skip
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    _wait(member, run_id)
    page = member.get(f"/testbed/runs/{run_id}").text
    assert 'data-testid="tag-mapping"' in page and 'data-testid="deploy"' in page
    proposed = dict(re.findall(r'data-column="([^"]+)" required>.*?<option value="(\d+)" selected', page, re.S))
    assert proposed == {"sentinel-a spindle": str(world.ids_a["tag_id"]), "TEMP": str(temp_id)}  # by name

    url = f"/testbed/runs/{run_id}/deploy"
    missing = member.post(url, data={"csrf_token": csrf, "tag-TEMP": str(temp_id)})
    assert missing.status_code == 422 and "sentinel-a spindle 열이 어느 태그인지" in missing.text
    twice = {"csrf_token": csrf, "tag-TEMP": str(temp_id), "tag-sentinel-a spindle": str(temp_id)}
    assert member.post(url, data=twice).status_code == 422
    with world.db.session(SYSTEM) as session:
        firm_b_tag = session.scalars(select(Tag.id).where(Tag.company_id == world.firm_b)).first()
    assert firm_b_tag is not None
    theirs = {"csrf_token": csrf, "tag-TEMP": str(temp_id), "tag-sentinel-a spindle": str(firm_b_tag)}
    assert member.post(url, data=theirs).status_code == 422  # another firm's tag is not this firm's to read
    chosen = {"csrf_token": csrf, "tag-TEMP": str(temp_id), "tag-sentinel-a spindle": str(world.ids_a["tag_id"])}
    assert member.post(url, data=chosen, follow_redirects=False).status_code == 303
    with world.db.session(SYSTEM) as session:
        (model,) = model_registry.deployed(session, world.ids_a["equipment_id"])
        assert sorted(model.tag_ids) == sorted([world.ids_a["tag_id"], temp_id]) and model.name == "품질"
        state = model_registry.load_model(model)
    live = pd.DataFrame({str(world.ids_a["tag_id"]): [50.0], str(temp_id): [35.0]})
    assert float(state.predict(live)[0]) == pytest.approx(70.0, abs=2.0)  # 품질 ≈ 2 × temp, read from the tag
