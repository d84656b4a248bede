"""The member's whole flow on the demo, in the browser: the home page → the diagnosis with evidence measured
from the plant → the AI test-bed on collected tags with gaps → deploy → the model's live score and its alarm
on the machine page.

The firm collects two more signals on MCT-01 through its own ingest (a coolant temperature with missing
minutes, and a reject flag that follows it), so the test-bed has something real to find; the live points
after the deploy come in over ``POST /api/v1/ingest`` with the firm's API key, as a gateway sends them.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from smart365.bootstrap import System
from smart365.core import api_keys
from smart365.core.db import utcnow
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Equipment, Tag
from smart365.sim.live import LiveConfig
from smart365.telemetry.batch import Batch
from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser

HOURS = 3


class Plant:
    """What the test added to the showcase firm: the new tags, the window they cover, the firm's key."""

    key = ""
    machine_id = 0
    temp_id = 0
    reject_id = 0
    start = utcnow()


def _collect(system: System) -> None:
    """MCT-01 gets a coolant temperature (minutes missing, and a 25-minute outage) and a reject flag that
    follows it."""
    with system.db.session(SYSTEM) as session:
        machine = session.scalars(select(Equipment).where(Equipment.name == "MCT-01")).one()
        temp = Tag(company_id=machine.company_id, equipment_id=machine.id, name="coolant_temp",
                   display_name="절삭유 온도", unit="°C")  # fmt: skip
        reject = Tag(company_id=machine.company_id, equipment_id=machine.id, name="reject", display_name="불량 여부")
        session.add_all([temp, reject])
        session.flush()
        _row, Plant.key = api_keys.create_key(session, machine.company_id, "게이트웨이", "test")
        Plant.machine_id, Plant.temp_id, Plant.reject_id = machine.id, temp.id, reject.id
    rng = np.random.default_rng(7)
    Plant.start = utcnow().replace(second=0, microsecond=0) - timedelta(hours=HOURS)
    minutes = [Plant.start + timedelta(minutes=i) for i in range(HOURS * 60)]
    coolant = rng.uniform(20, 40, len(minutes))
    kept = rng.random(len(minutes)) > 0.1  # a flaky sensor: one minute in ten never arrived...
    kept[60:85] = False  # ...and a 25-minute outage
    flips = rng.random(len(minutes)) < 0.03
    rejects = ((coolant > 33) ^ flips).astype(float)
    system.store.append(Batch.from_columns(Plant.temp_id, [m for m, k in zip(minutes, kept, strict=True) if k],
                                           coolant[kept]))  # fmt: skip
    system.store.append(Batch.from_columns(Plant.reject_id, minutes, rejects))


@pytest.fixture(scope="module")
def flow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    live = LiveConfig(network=False, backfill_h=1.0, tick=1.0)
    with serve_demo(tmp_path_factory, "member-flow", firms=10, live=live, prepare=_collect) as url:
        yield url


def _local(moment: Any) -> str:
    return (moment + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M")  # the form takes Korean time


def test_member_goes_from_home_to_a_deployed_model_watching_the_machine(flow_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    page = logged_in(browser, flow_server, width=1400)
    expect(page.get_by_test_id("member-home")).to_contain_text("(주)한빛정밀")
    expect(page.get_by_test_id("home-level")).to_contain_text("레벨")
    expect(page.get_by_test_id("home-alarms")).to_be_visible()
    shot(page, "flow-01-home-ko")

    page.get_by_test_id("home-diagnosis").click()
    evidence = page.get_by_test_id("evidence")
    expect(evidence).to_be_visible()
    measured = [row.inner_text() for row in page.get_by_test_id("evidence-row").all()]
    assert sum(bool(re.search(r"\t\d\t", row)) for row in measured) >= 3, measured  # stages read from the plant
    collection = page.locator('[data-testid="evidence-row"][data-item="CTL.4"]')
    expect(collection).to_contain_text("등록 설비 9대 중 9대")  # every machine of the plant sends
    shot(page, "flow-02-diagnosis-ko")

    page.get_by_test_id("nav-testbed").click()
    form = page.get_by_test_id("testbed-tags-form")
    machine = form.locator("details").filter(has=page.locator(f'input[value="{Plant.temp_id}"]'))
    if machine.get_attribute("open") is None:
        machine.locator("summary").click()  # open MCT-01's tags
    form.locator(f'input[name="tag_id"][value="{Plant.temp_id}"]').check()
    form.locator(f'input[name="tag_id"][value="{Plant.reject_id}"]').check()
    expect(form).to_contain_text("절삭유 온도")  # the tags by their display names
    form.locator('input[name="start"]').fill(_local(Plant.start))
    form.locator('input[name="end"]').fill(_local(Plant.start + timedelta(hours=HOURS)))
    form.get_by_role("button").click()
    expect(page.get_by_test_id("testbed-preview")).to_be_visible()
    expect(page.get_by_test_id("missing-share").first).to_be_visible()  # the gaps are said, not a 500
    target = page.get_by_test_id("testbed-target")
    target.select_option(label=next(o for o in target.locator("option").all_inner_texts() if "불량 여부" in o))
    page.get_by_test_id("testbed-task").select_option("classification")  # a reject is a yes/no question
    shot(page, "flow-03-preview-ko")
    page.get_by_test_id("testbed-start").click()
    expect(page.get_by_test_id("run-verdict")).to_be_visible(timeout=180_000)
    expect(page.get_by_test_id("run-verdict")).to_contain_text("이깁니다")
    shot(page, "flow-04-result-ko")
    page.get_by_test_id("deploy").click()
    expect(page.get_by_text(re.compile(r"배포했습니다: 모델 #\d+"))).to_be_visible()

    # Live: the gateway sends hot coolant; the deployed model scores it and raises its alarm.
    now = utcnow().replace(microsecond=0)
    points = [{"tag_id": Plant.temp_id, "ts": (now + timedelta(minutes=i - 6)).isoformat(), "value": 39.5}
              for i in range(7)]  # fmt: skip
    request = urllib.request.Request(f"{flow_server}/api/v1/ingest", data=json.dumps({"points": points}).encode(),
                                     headers={"Authorization": f"Bearer {Plant.key}",
                                              "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read())["stored"] == len(points)
    page.goto(f"{flow_server}/monitoring/equipment/{Plant.machine_id}")
    expect(page.locator(".trend-card h4", has_text="절삭유 온도")).to_be_visible()  # each trend says what it is
    row = page.locator('[data-testid="live-model"]', has_text="불량 여부")
    for _ in range(30):  # the scores are written every few seconds: look again, as a person would
        if row.get_by_test_id("model-alarm").count():
            break
        page.wait_for_timeout(2000)
        page.reload()
    expect(row.get_by_test_id("live-score")).to_contain_text(re.compile(r"0\.\d+|1"))
    expect(row.get_by_test_id("model-alarm")).to_be_visible()
    expect(row.get_by_test_id("model-run")).to_be_visible()
    expect(page.get_by_test_id("open-alarms")).to_contain_text("절삭유 온도")  # the alarm names the input by its name
    shot(page, "flow-05-machine-ko")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_test_id("live-models")).to_contain_text("AI models watching this machine")
    shot(page, "flow-06-machine-en")
    page.close()
