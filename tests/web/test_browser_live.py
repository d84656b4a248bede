"""A firm member watches the showcase plant live: values update, OEE and an alarm show, the alarm is
acknowledged, the page switches to English; then a machine's trends, the alarm list and a CSV import.

The plant is the real simulator physics fed straight into the store (no network servers: faster and
steadier in a test); the ingest path with connectors is covered by tests/telemetry/test_telemetry_worker.py
and tests/monitoring/test_monitoring_runtime.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from smart365.sim.live import LiveConfig
from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_plant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    live = LiveConfig(network=False, backfill_h=2.0, tick=1.0)
    with serve_demo(tmp_path_factory, "live-plant", firms=10, live=live) as url:
        yield url


def test_member_watches_the_plant_live_in_korean_and_english(live_plant_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, live_plant_server, width=1440)
    page.get_by_test_id("nav-monitoring").click()
    expect(page.get_by_test_id("plant-title")).to_contain_text("(주)한빛정밀 · 실시간 공장")

    value = page.get_by_test_id("value-MCT-01-spindle_load")
    expect(value).to_have_text(re.compile(r"^[\d,]+(\.\d)?$"))
    first, updated = value.text_content(), page.get_by_test_id("live-updated").text_content()
    expect(page.get_by_test_id("live-updated")).not_to_have_text(updated or "", timeout=10_000)  # an SSE event came
    expect(value).not_to_have_text(first or "", timeout=15_000)  # and the simulated spindle load moved
    expect(page.get_by_test_id("machine-MCT-01")).to_contain_text(re.compile("가동|대기|정지"))
    expect(page.get_by_test_id("machine-MCT-03")).to_contain_text("대기 · 자재대기")  # scripted: waiting for material
    expect(page.get_by_test_id("oee-value").first).to_have_text(re.compile(r"^\d+%$"))
    expect(page.get_by_test_id("plant-oee")).to_have_text(re.compile(r"^\d+%$"))
    expect(page.get_by_test_id("line-가공라인")).to_contain_text(re.compile(r"OEE \d+% · A \d+%"))
    alarms = page.get_by_test_id("alarm-list")
    expect(alarms).to_contain_text("실린더 온도 > 238 °C")  # the heater of IMM-02 is drifting hot
    expect(alarms).to_contain_text("긴급")
    page.wait_for_timeout(600)
    shot(page, "live-01-plant-ko")

    alarms.locator("li", has_text="실린더 온도 > 238").get_by_role("button", name="확인").click()
    expect(page.get_by_test_id("alarm-list").locator("li", has_text="실린더 온도 > 238")).to_contain_text("확인함")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_test_id("plant-title")).to_contain_text("Live plant")
    expect(page.get_by_role("heading", name=re.compile("Active alarms"))).to_be_visible()
    expect(page.get_by_test_id("machine-MCT-01")).to_contain_text(re.compile("Running|Idle|Down"))
    expect(page.get_by_test_id("machine-MCT-03")).to_contain_text("Idle · material wait")
    expect(page.get_by_test_id("alarm-list")).to_contain_text("Acknowledged")
    expect(page.get_by_test_id("alarm-list")).to_contain_text("Critical")
    page.wait_for_timeout(600)
    shot(page, "live-02-plant-en")

    page.get_by_role("link", name="IMM-02").click()
    expect(page.get_by_test_id("equipment-live-name")).to_contain_text("IMM-02")
    expect(page.get_by_text("OEE by shift")).to_be_visible()
    expect(page.get_by_test_id("state-timeline").locator(".seg").first).to_be_attached()
    expect(page.locator(".explain li").first).to_contain_text("Availability")
    expect(
        page.locator("#trend-" + page.locator(".trend").first.get_attribute("id").split("-")[1] + " canvas")
    ).to_be_visible()  # type: ignore[union-attr]
    page.wait_for_timeout(2500)
    shot(page, "live-03-equipment-en")
    page.close()


def test_alarm_list_and_csv_import_with_a_bad_row(live_plant_server: str, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, live_plant_server, height=900)
    page.goto(f"{live_plant_server}/monitoring")
    page.get_by_role("link", name="알람", exact=True).first.click()
    expect(page.get_by_role("heading", name="알람 이력")).to_be_visible()
    expect(page.get_by_test_id("active-alarm").first).to_be_visible()
    page.get_by_test_id("rules").locator("summary").click()
    form = page.locator("form.rule-form")
    form.get_by_label("태그").select_option(label="IMM-01/금형 온도")  # tags by their display names
    form.get_by_label("조건").select_option("low")
    form.get_by_label("한계값").fill("20")
    form.get_by_label("히스테리시스").fill("1")
    form.get_by_role("button", name="규칙 추가").click()
    page.get_by_test_id("rules").locator("summary").click()
    expect(page.get_by_test_id("rule").filter(has_text="금형 온도 < 20 °C")).to_have_count(1)
    shot(page, "live-04-alarms-ko")

    page.get_by_role("link", name="← 실시간 공장").click()
    page.get_by_role("link", name="이력 데이터 가져오기 (CSV, 엑셀, Parquet)").click()
    csv = tmp_path / "history.csv"
    csv.write_text(
        "timestamp,tag,value\n2026-01-05 09:00:00,MCT-01/spindle_load,51.5\n"
        "2026-01-05 09:00:10,MCT-01/spindle_load,abc\n2026-01-05 09:00:20,MCT-09/spindle_load,50\n",
        encoding="utf-8",
    )
    page.get_by_test_id("import-file").set_input_files(str(csv))
    page.get_by_test_id("import-preview").click()
    expect(page.get_by_test_id("import-report")).to_contain_text("미리 보기(아직 저장하지 않음): 값 3개를 읽었고 1개")
    expect(page.get_by_test_id("import-sample")).to_contain_text("MCT-01/spindle_load")
    shot(page, "live-05-import-preview-ko")
    page.get_by_test_id("import-file").set_input_files(str(csv))
    page.get_by_role("button", name="가져오기", exact=True).click()
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("값 3개를 읽어 1개 저장")
    expect(report).to_contain_text("등록되지 않은 태그")
    shot(page, "live-06-import-ko")
    page.close()
