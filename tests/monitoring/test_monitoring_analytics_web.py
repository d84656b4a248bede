"""The machine analytics page and the models API: an SPC chart with a known violation marked and listed,
bad choices answered with a reason, and deploying allowed to the firm and the centre only."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from smart365.core.db import utcnow
from smart365.telemetry.batch import Batch
from tests.conftest import World, bearer
from tests.web.test_tenancy_matrix import _csrf, _page_client

SPIKE = 150  # the minute whose mean is far beyond 3σ


def _series(app: Any, world: World, minutes: int = 180) -> datetime:
    """One point per minute for the last ``minutes`` minutes: steady, but one far beyond the limits; returns
    the first point's time."""
    now = utcnow().replace(second=0, microsecond=0)
    times = [now - timedelta(minutes=minutes - i) for i in range(minutes)]
    values = np.random.default_rng(3).normal(50.0, 1.0, minutes)
    values[SPIKE] = 80.0
    app.state.system.store.append(Batch.from_columns(world.ids_a["tag_id"], times, values))
    return times[0]


def _page(client: TestClient, world: World, headers: dict[str, str] | None = None, **params: str) -> Any:
    url = f"/monitoring/equipment/{world.ids_a['equipment_id']}/analytics"
    return client.get(url, params={"tag_id": str(world.ids_a["tag_id"]), **params}, headers=headers)


def _chart(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="spc-data">(.*?)</script>', html, re.S)
    assert match
    return dict(json.loads(match.group(1)))


def test_spc_page_marks_and_lists_a_known_violation(app: Any, world: World) -> None:
    start = _series(app, world)
    member = _page_client(app, world.emails["member_a"])
    response = _page(member, world, hours="4", lsl="40", usl="60")
    assert response.status_code == 200, response.text
    chart = _chart(response.text)
    assert SPIKE in chart["flagged"] and chart["location"][SPIKE] == 80.0
    assert 'data-rule="1"' in response.text and "3σ" in response.text  # Nelson rule 1 in words
    assert 'data-testid="capability"' in response.text and "Cpk" in response.text
    assert chart["limits"]["ucl"] < 80.0 < chart["limits"]["ucl"] + 30
    first, last = chart["baseline"]  # chosen automatically: a stable quarter of the 180 minutes, not the spike
    assert last - first + 1 == 45 and not first <= SPIKE <= last and 'data-testid="baseline-auto"' in response.text
    xbar = _page(member, world, hours="4", chart="Xbar-S", n="5")
    assert xbar.status_code == 200 and SPIKE // 5 in _chart(xbar.text)["flagged"]
    first, last = _chart(xbar.text)["baseline"]
    assert last - first + 1 == 20 and not first <= SPIKE // 5 <= last  # at least 20 subgroups, as phase I asks
    manual = _page(member, world, hours="4", baseline_from=_local(start), baseline_to=_local(start, 90))
    assert _chart(manual.text)["baseline"] == [0, 89] and 'data-testid="baseline-auto"' not in manual.text


def _local(start: datetime, minute: int = 0) -> str:
    """The form's Korean time of the series' ``minute`` (counted from its first point at ``start``)."""
    return (start + timedelta(hours=9, minutes=minute)).strftime("%Y-%m-%dT%H:%M")


def test_the_default_baseline_is_a_stable_stretch_not_a_warm_up_ramp(app: Any, world: World) -> None:
    now = utcnow().replace(second=0, microsecond=0)
    values = np.concatenate([np.linspace(45, 80, 60), np.random.default_rng(5).normal(80.0, 1.0, 260)])
    times = [now - timedelta(minutes=320 - i) for i in range(320)]  # the machine warmed up, then ran steadily
    app.state.system.store.append(Batch.from_columns(world.ids_a["tag_id"], times, values))
    member = _page_client(app, world.emails["member_a"])
    response = _page(member, world, hours="6")
    chart = _chart(response.text)
    assert chart["baseline"][0] >= 60  # after the ramp
    steady = [i for i in chart["flagged"] if i >= 65]  # Nelson's eight rules give a few false signals in 255
    assert len(steady) <= 15 and len(chart["flagged"]) < 80  # was 311 of 321 with the first half as baseline
    assert "자동으로 골랐습니다" in response.text and 'data-rule="1"' in response.text  # the ramp is out of limits
    ramp = _page(member, world, hours="6", baseline_from=_local(times[0]), baseline_to=_local(times[0], 60))
    assert 'data-testid="baseline-not-in-control"' in ramp.text and 'data-rule="' not in ramp.text
    assert "부분군 크기 (X̄ 관리도)" in response.text


def test_a_small_sustained_shift_is_signalled_by_ewma_and_cusum_not_by_3_sigma(app: Any, world: World) -> None:
    now = utcnow().replace(second=0, microsecond=0)
    values = np.random.default_rng(8).normal(50.0, 1.0, 180)
    values[120:] += 1.0  # a heater drifting 1σ from minute 120: rarely a point beyond 3σ
    times = [now - timedelta(minutes=180 - i) for i in range(180)]
    app.state.system.store.append(Batch.from_columns(world.ids_a["tag_id"], times, values))
    response = _page(_page_client(app, world.emails["member_a"]), world, hours="4")
    assert response.status_code == 200, response.text
    chart = _chart(response.text)
    beyond = [i for i in chart["flagged"] if chart["location"][i] > chart["limits"]["ucl"]]
    assert len(beyond) <= 2  # the Shewhart chart alone barely sees it
    ewma, cusum = chart["ewma"], chart["cusum"]
    assert ewma["signals"] and 120 <= ewma["signals"][0] < 150 and len(ewma["z"]) == len(chart["times"])
    assert cusum["signals_up"] and 120 <= cusum["signals_up"][0] < 150 and not cusum["signals_down"]
    sigma = (chart["limits"]["ucl"] - chart["limits"]["center"]) / 3
    assert cusum["h"] == pytest.approx(5 * sigma)  # h = 5σ of the plotted points
    assert f"{chart['times'][cusum['signals_up'][0]]}부터 상승 변화" in response.text


def test_bad_choices_get_a_reason_not_a_crash(app: Any, world: World) -> None:
    _series(app, world)
    member = _page_client(app, world.emails["member_a"])
    cases = {
        "not a tag of this machine": {"tag_id": "999999"},
        "choose a period inside the data": {"baseline_from": "2020-01-01T00:00", "baseline_to": "2020-01-02T00:00"},
        "upper specification limit": {"lsl": "60", "usl": "40"},
        "between 2 and 25": {"chart": "Xbar-R", "n": "40"},
        "must be a number": {"lsl": "abc"},
        "not a date and time": {"baseline_from": "yesterday"},
    }
    for reason, params in cases.items():
        response = _page(member, world, {"Accept": "application/json"}, hours="4", **params)
        assert response.status_code == 422, (params, response.status_code)
        error = response.json()["error"]
        assert reason in error["message_en"] and error["message"] != error["message_en"], (params, error)
    page = _page(member, world, hours="4", lsl="60", usl="40")  # a browser gets the page shell with the reason
    assert page.status_code == 422 and "상한" in page.text


def test_a_machine_without_history_still_shows_its_models(app: Any, world: World) -> None:
    member = _page_client(app, world.emails["member_a"])
    response = _page(member, world)
    assert response.status_code == 200
    assert 'data-testid="no-data"' in response.text and "SENTINEL-A model v1" in response.text
    assert f'data-testid="deploy-{world.ids_a["model_id"]}"' in response.text


def test_deploy_is_for_the_firm_and_the_centre_consultants_read(app: Any, client: TestClient, world: World) -> None:
    model_id, equipment_id = world.ids_a["model_id"], world.ids_a["equipment_id"]
    consultant_api = bearer(client, world.emails["consultant_a"])
    listed = client.get(f"/api/v1/equipment/{equipment_id}/models", headers=consultant_api)
    assert listed.status_code == 200 and [m["status"] for m in listed.json()] == ["candidate"]
    refused = client.post(f"/api/v1/models/{model_id}/deploy", headers=consultant_api)
    assert refused.status_code == 403 and "Consultants" in refused.json()["error"]["message_en"]
    hidden = client.post(f"/api/v1/models/{model_id}/deploy", headers=bearer(client, world.emails["member_b"]))
    assert hidden.status_code == 404
    done = client.post(f"/api/v1/models/{model_id}/deploy", headers=bearer(client, world.emails["member_a"]))
    assert done.status_code == 200 and done.json()["status"] == "deployed" and done.json()["deployed_by"] == "member_a"

    consultant = _page_client(app, world.emails["consultant_a"])
    page = _page(consultant, world)
    assert page.status_code == 200 and 'data-testid="deploy-' not in page.text
    admin = _page_client(app, world.emails["admin"])
    form = {"csrf_token": _csrf(admin)}
    again = admin.post(f"/monitoring/models/{model_id}/deploy", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].endswith("/analytics#models")
