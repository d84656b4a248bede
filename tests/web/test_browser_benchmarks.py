"""Done-when of the peer benchmarks, in Chromium: (주)한빛정밀's member reaches them from 데이터 협력, joins in one
click (no file) and reads every cell's rule; in a five-firm demo the page degrades to the rules that say so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_demo(tmp_path_factory, "benchmarks", firms=5) as url:
        yield url


def test_join_in_three_clicks_and_read_each_rule(bench_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    member = logged_in(browser, bench_server)
    member.get_by_test_id("nav-collab").click()  # 1
    member.get_by_test_id("benchmarks-link").click()  # 2
    expect(member.get_by_test_id("bench-not-joined")).to_be_visible()
    member.get_by_test_id("bench-join").click()  # 3
    expect(member.get_by_test_id("bench-joined")).to_be_visible()
    rules = member.get_by_test_id("bench-rule")
    expect(rules.first).to_be_visible()
    text = " ".join(rules.all_inner_texts())
    assert "비공개: 5개사 미만" in text or "사분위 위치만 제공" in text, text
    shot(member, "benchmarks")
