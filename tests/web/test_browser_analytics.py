"""A firm member opens a machine's analytics page from its live page: the SPC chart draws, the deployed
anomaly model is listed, a new version is trained and deployed, the old one offered to roll back to, the
anomaly alarm explains itself; then the page in English.

The showcase plant's history is fed straight into the store with the demo's models trained on the way
(sim/live.py), as ``smart365 demo`` does, without network servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from smart365.sim.live import DEMO_MODELS, LiveConfig
from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def analytics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    live = LiveConfig(network=False, backfill_h=3.0, tick=1.0)
    with serve_demo(tmp_path_factory, "analytics", firms=5, live=live) as url:
        yield url


def test_member_sees_the_spc_chart_and_deploys_a_model_version(analytics_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, analytics_server, width=1400)
    page.goto(f"{analytics_server}/monitoring")
    page.get_by_test_id("machine-MCT-02").get_by_role("link", name="MCT-02").click()
    page.get_by_test_id("analytics-link").click()

    expect(page.get_by_test_id("analytics-title")).to_contain_text("MCT-02 · 분석")
    expect(page.locator("#spc-location canvas")).to_be_visible()
    expect(page.get_by_test_id("violations")).to_contain_text("규칙")
    expect(page.locator("#spc-ewma canvas")).to_be_visible()
    expect(page.locator("#spc-cusum canvas")).to_be_visible()
    expect(page.get_by_test_id("shifts")).to_contain_text("CUSUM (k 0.5σ, h 5σ)")
    deployed = page.locator('[data-testid="model-row"][data-status="deployed"]')
    expect(deployed).to_have_count(len(DEMO_MODELS))  # PCA, stuck-sensor and trend checks
    expect(deployed.first).to_contain_text("anomaly v1")
    expect(page.get_by_test_id("anomalies")).to_contain_text("σ")  # the bearing wearing out, explained
    shot(page, "analytics-01-ko")

    page.get_by_test_id("train-form").get_by_role("button", name="새 버전 학습").click()
    candidate = page.locator('[data-testid="model-row"][data-status="candidate"]')
    expect(candidate).to_contain_text("anomaly v2")
    candidate.get_by_role("button", name="배포").click()
    expect(page.locator('[data-testid="model-row"][data-status="deployed"]', has_text="anomaly v")).to_contain_text(
        "anomaly v2"
    )
    expect(page.get_by_role("button", name="v1로 되돌리기")).to_be_visible()

    page.locator('a[data-lang="en"]').click()
    expect(page.get_by_test_id("analytics-title")).to_contain_text("MCT-02 · Analytics")
    expect(page.get_by_role("button", name="Roll back to v1")).to_be_visible()
    expect(page.get_by_test_id("anomalies")).to_contain_text(re.compile(r"(vibration|spindle \w+) [+-]\d+\.\dσ"))
    shot(page, "analytics-02-en")
    page.close()
