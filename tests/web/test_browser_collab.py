"""Done-when of data collaboration, in Chromium: firm A publishes an offer built from its tags with a Korean
policy, partner P requests it, A accepts, P agrees and pulls it; after A revokes, P's next pull is refused with
the reason; A's usage log shows every step and verifies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from smart365.bootstrap import System
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Company, Equipment, Tag
from smart365.sim.demo import SHOWCASE
from smart365.telemetry.batch import Batch
from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser

TITLE = "MCT-01 주축 부하 (품질 분석용)"
REASON = "협력 과제가 끝나 계약을 철회합니다"


def _history(system: System) -> None:
    """An hour of the showcase's MCT-01 spindle load yesterday, so the pulled file has rows."""
    with system.db.session(SYSTEM) as session:
        tag_id = session.scalar(
            select(Tag.id).join(Equipment, Tag.equipment_id == Equipment.id).join(Company, Tag.company_id == Company.id)
            .where(Company.brn == SHOWCASE.company.brn, Equipment.name == "MCT-01", Tag.name == "spindle_load")
        )  # fmt: skip
    start = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1e6)
    system.store.append(Batch.from_columns(int(tag_id or 0), [start + i * 60_000_000 for i in range(60)],
                                           [40.0 + i / 10 for i in range(60)]))  # fmt: skip


@pytest.fixture(scope="module")
def collab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_demo(tmp_path_factory, "collab", firms=30, prepare=_history) as url:
        yield url


def test_offer_request_accept_pull_revoke_refused_and_the_log_verifies(
    collab_server: str, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    member = logged_in(browser, collab_server)
    member.get_by_test_id("nav-collab").click()
    member.get_by_test_id("new-offer").click()
    member.get_by_test_id("offer-title").fill(TITLE)
    member.get_by_test_id("offer-tags").get_by_label(re.compile(r"MCT-01 / 주축 부하")).check()
    member.get_by_test_id("offer-uses").fill("5")
    member.get_by_test_id("offer-uses").dispatch_event("change")
    reading = member.get_by_test_id("policy-reading")
    expect(reading).to_contain_text("(주)한빛정밀의 데이터를 데이터 파트너만 쓸 수 있습니다.")
    expect(reading).to_contain_text("최대 5회 쓸 수 있습니다.")
    expect(reading).to_contain_text("받은 데이터를 다른 곳에 다시 제공할 수 없습니다.")
    shot(member, "60-collab-offer-form")
    member.get_by_test_id("publish").click()
    expect(member.get_by_test_id("offer-heading")).to_contain_text(TITLE)
    expect(member.get_by_test_id("offer-reading")).to_contain_text("목적: 품질 개선에 한해 씁니다.")
    offer_url = member.url

    partner = logged_in(browser, collab_server, "partner@smart365.kr")
    expect(partner).to_have_url(re.compile(r"/collab$"))  # a partner's home is the offers naming it
    expect(partner.get_by_test_id("nav-monitoring")).to_have_count(0)
    partner.get_by_test_id("catalogue").get_by_role("link", name=TITLE).click()
    shot(partner, "61-collab-offer-partner")
    partner.get_by_test_id("request").click()
    expect(partner.get_by_test_id("agreement-state")).to_have_text("요청됨")
    agreement_url = partner.url

    member.goto(offer_url)
    member.get_by_test_id("open-agreement").click()
    member.get_by_test_id("accept").click()
    expect(member.get_by_test_id("agreement-state")).to_have_text("조건 제시됨")

    partner.reload()
    partner.get_by_test_id("agree").click()
    expect(partner.get_by_test_id("agreement-state")).to_have_text("계약 확정")
    with partner.expect_download() as download:
        partner.get_by_test_id("pull").click()
    saved = tmp_path / "pulled.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "time,tag_id,tag,machine,unit,value,quality"
    assert len(lines) == 61 and all('"주축 부하","MCT-01"' in line for line in lines[1:])
    partner.reload()
    expect(partner.get_by_test_id("agreement-uses")).to_have_text("1")
    shot(partner, "62-collab-agreement-partner")

    member.goto(agreement_url)
    member.get_by_test_id("reason").fill(REASON)
    member.get_by_test_id("terminate").click()
    expect(member.get_by_test_id("agreement-state")).to_have_text("종료됨")

    partner.reload()
    response = []
    partner.on("response", lambda r: response.append(r.status) if r.url.endswith("/pull") else None)
    partner.get_by_test_id("pull").click()
    expect(partner.get_by_test_id("agreement-error")).to_contain_text(REASON)
    assert response == [403]
    expect(partner.get_by_test_id("agreement-uses")).to_have_text("1")

    member.get_by_role("link", name="데이터 협력").first.click()
    member.get_by_test_id("usage-log").click()
    expect(member.get_by_test_id("log-verified")).to_contain_text("검증 통과")
    log = member.get_by_test_id("log-table")
    for kind in ("offer.published", "agreement.state", "transfer.pull", "transfer.done", "agreement.revoked",
                 "transfer.refused"):  # fmt: skip
        expect(log.locator(f'tr[data-kind="{kind}"]').first).to_be_visible()
    for state in ("요청됨", "조건 제시됨", "조건 수락됨", "합의됨", "검증됨", "계약 확정", "종료됨"):
        expect(log).to_contain_text(state)
    expect(log).to_contain_text(REASON)
    shot(member, "63-collab-usage-log")
