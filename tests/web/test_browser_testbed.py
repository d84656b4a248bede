"""A firm member tries AI on a file of their own history: upload, preview, pick the target, watch the run,
read the result in Korean, then in English."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.web.conftest import logged_in, shot

pytestmark = pytest.mark.browser


def _quality_csv(rows: int = 400) -> bytes:
    rng = np.random.default_rng(11)
    temp, pressure = rng.normal(230, 4, rows), rng.normal(80, 3, rows)
    defect = (0.5 * (temp - 230) + 0.4 * (pressure - 80) + rng.normal(0, 1, rows) > 2.2).astype(int)
    frame = pd.DataFrame({
        "생산일시": pd.date_range("2026-11-02 08:00", periods=rows, freq="5min").strftime("%Y-%m-%d %H:%M"),
        "로트번호": [f"L{i:05d}" for i in range(rows)], "금형온도": temp.round(1), "사출압력": pressure.round(1),
        "작업조": np.where(np.arange(rows) % 96 < 48, "주간", "야간"), "불량": defect,
    })  # fmt: skip
    return frame.to_csv(index=False).encode("cp949")  # as Excel in Korea saves it


def test_member_uploads_a_file_picks_the_target_and_reads_the_result(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, live_server)
    page.get_by_test_id("nav-testbed").click()
    expect(page.get_by_role("heading", name="(주)한빛정밀 · AI 테스트베드")).to_be_visible()
    shot(page, "testbed-01-start-ko")

    page.get_by_test_id("testbed-file").set_input_files(
        {"name": "사출_품질이력.csv", "mimeType": "text/csv", "buffer": _quality_csv()}
    )
    page.get_by_test_id("testbed-upload").click()
    preview = page.get_by_test_id("testbed-preview")
    expect(preview).to_contain_text("금형온도")
    expect(page.get_by_text("400행, 6열.")).to_be_visible()
    expect(page.get_by_test_id("testbed-time")).to_have_value("생산일시")  # the time column is guessed
    page.get_by_test_id("testbed-target").select_option("불량")
    shot(page, "testbed-02-preview-ko")
    page.get_by_test_id("testbed-start").click()

    expect(page).to_have_url(re.compile(r"/testbed/runs/\d+$"))
    verdict = page.get_by_test_id("run-verdict")
    expect(verdict).to_be_visible(timeout=90_000)  # the progress fragment reloads the page when the run ends
    expect(verdict).to_contain_text("이깁니다")
    expect(verdict).to_contain_text("항상 가장 흔한 값")  # the majority-class baseline, in plain Korean
    expect(page.get_by_test_id("run-status")).to_have_text("완료")
    results = page.get_by_test_id("run-results")
    expect(results).to_contain_text("균형 정확도")
    expect(results).to_contain_text("단순 기준선")
    expect(page.get_by_test_id("run-findings")).to_contain_text("로트번호")  # the lot number is left out
    # its winner reads a one-hot text column, which no live tag sends: said, instead of a deploy button
    expect(page.get_by_test_id("run-deploy")).to_contain_text("글자 값으로 만든 열을 읽는데")
    shot(page, "testbed-03-result-ko")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_test_id("run-verdict")).to_contain_text("wins: its balanced accuracy is")
    expect(page.get_by_test_id("run-verdict")).to_contain_text("best simple baseline (majority class)")
    shot(page, "testbed-04-result-en")
    page.close()


def _vibration_csv(rows: int = 2000) -> bytes:
    """A bearing log at 10 s with three labelled wear-outs, all in the last three quarters."""
    rng = np.random.default_rng(5)
    vibration, event = rng.normal(2.0, 0.2, rows), np.zeros(rows, dtype=int)
    for start in (1000, 1400, 1800):
        vibration[start : start + 60] += np.linspace(0.5, 3.0, 60)
        event[start : start + 60] = 1
    frame = pd.DataFrame({
        "측정시각": pd.date_range("2026-11-02 08:00", periods=rows, freq="10s").strftime("%Y-%m-%d %H:%M:%S"),
        "진동_mm_s": vibration.round(3), "베어링온도": rng.normal(61, 0.5, rows).round(2), "이상": event,
    })  # fmt: skip
    return frame.to_csv(index=False).encode()


def test_member_tests_detectors_on_a_log_whose_first_block_has_no_event(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, live_server)
    page.get_by_test_id("nav-testbed").click()
    page.get_by_test_id("testbed-file").set_input_files(
        {"name": "베어링_진동.csv", "mimeType": "text/csv", "buffer": _vibration_csv()}
    )
    page.get_by_test_id("testbed-upload").click()
    expect(page.get_by_test_id("testbed-time")).to_have_value("측정시각")
    page.get_by_test_id("testbed-target").select_option("이상")
    page.get_by_test_id("testbed-task").select_option("anomaly")
    page.get_by_test_id("testbed-start").click()

    verdict = page.get_by_test_id("run-verdict")
    expect(verdict).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("run-status")).to_have_text("완료")
    expect(verdict).not_to_contain_text("경보 안 함")  # never alarming does not win on the empty first block
    findings = page.get_by_test_id("run-findings")
    expect(findings).to_contain_text("폴드 1의 시험 구간에는 표시된 이상이 없어")
    expect(findings).to_contain_text("고장을 보여 주는 센서라면 당연한 일")  # the vibration is no leak here
    expect(findings).not_to_contain_text("중복")  # equal readings at different times are no duplicates
    shot(page, "testbed-05-anomaly-ko")
    page.close()
