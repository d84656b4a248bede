"""In Chromium: the centre reads the audit log and the users page from the menu; a firm's member makes a
gateway key, sees it once, and the centre finds that in the log."""

from __future__ import annotations

import pytest

from tests.web.conftest import logged_in, open_own_firm, shot

pytestmark = pytest.mark.browser


def test_member_makes_a_key_and_the_centre_reads_it_in_the_audit_log(browser: object, live_server: str) -> None:
    member = open_own_firm(logged_in(browser, live_server))
    member.get_by_test_id("api-keys-link").click()
    member.get_by_test_id("key-name").fill("1공장 Telegraf 게이트웨이")
    member.get_by_role("button", name="키 발급").click()
    key = member.get_by_test_id("new-key-value").inner_text()
    assert key.startswith("s365_") and "이번 한 번만 보이며" in member.content()
    shot(member, "api-keys-new")
    member.goto(member.url)  # the list again: the key is not shown a second time
    assert key not in member.content() and "1공장 Telegraf 게이트웨이" in member.content()

    admin = logged_in(browser, live_server, email="admin@smart365.kr")
    admin.get_by_test_id("nav-audit").click()
    admin.get_by_test_id("audit-action").select_option("api_key.create")
    admin.get_by_role("button", name="검색").click()
    table = admin.get_by_test_id("audit-table").inner_text()
    assert "API 키 발급" in table and "member@hanbit.example" in table and "1공장 Telegraf 게이트웨이" in table
    assert key.split("_", 2)[2] not in admin.content()
    shot(admin, "audit-log")
    admin.get_by_test_id("nav-users").click()
    assert "member@hanbit.example" in admin.get_by_test_id("users-table").inner_text()
    shot(admin, "users")
