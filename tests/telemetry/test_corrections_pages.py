"""A firm's correction policy as its member sets it (page and API) and as ingest then applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.audit import AuditEntry
from smart365.core.tenancy import SYSTEM
from tests.conftest import World, bearer
from tests.web.test_tenancy_matrix import _csrf, _page_client

TS = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)


def _send(client: TestClient, headers: dict[str, str], tag: int, value: float) -> dict[str, Any]:
    answer = client.post("/api/v1/ingest", headers=headers, json={"points": [
        {"tag_id": tag, "ts": TS.isoformat(), "value": value}]})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_member_chooses_overwrite_and_the_correction_replaces_the_value(client: TestClient, world: World) -> None:
    member, firm, tag = bearer(client, world.emails["member_a"]), world.firm_a, world.ids_a["tag_id"]
    assert _send(client, member, tag, 10.0)["stored"] == 1
    kept = _send(client, member, tag, 11.0)  # keep_first, the default: the first value stays
    assert (kept["stored"], kept["already_stored"], kept["conflicts"]) == (0, 0, 1)
    assert client.get(f"/api/v1/tags/{tag}/latest", headers=member).json()["value"] == 10.0

    chosen = client.put(f"/api/v1/companies/{firm}/corrections", headers=member, json={"policy": "overwrite"})
    assert chosen.status_code == 200 and chosen.json()["policy"] == "overwrite"
    assert [r["outcome"] for r in chosen.json()["revisions"]] == ["refused"]
    assert _send(client, member, tag, 12.0)["conflicts"] == 1
    assert _send(client, member, tag, 12.0)["already_stored"] == 1  # the same value again is a duplicate
    assert client.get(f"/api/v1/tags/{tag}/latest", headers=member).json()["value"] == 12.0
    revisions = client.get(f"/api/v1/companies/{firm}/corrections", headers=member).json()["revisions"]
    assert sorted((r["outcome"], r["value"]) for r in revisions) == [("refused", 11.0), ("replaced", 10.0)]

    with world.db.session(SYSTEM) as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "ingest.correction_policy"))
    assert entry is not None and entry.user_email == world.emails["member_a"] and entry.company_id == firm
    assert entry.details == {"before": "keep_first", "after": "overwrite"}


def test_a_bad_policy_is_refused_with_the_choices_and_an_outsider_cannot_change_it(
    client: TestClient, world: World
) -> None:
    member, firm = bearer(client, world.emails["member_a"]), world.firm_a
    bad = client.put(f"/api/v1/companies/{firm}/corrections", headers=member, json={"policy": "newest"})
    assert bad.status_code == 422 and "overwrite" in bad.text
    outsider = bearer(client, world.emails["member_b"])
    refused = client.put(f"/api/v1/companies/{firm}/corrections", headers=outsider, json={"policy": "overwrite"})
    assert refused.status_code == 404
    assert client.get(f"/api/v1/companies/{firm}/corrections", headers=member).json()["policy"] == "keep_first"


def test_the_signals_page_sets_the_policy_and_lists_revisions(app: Any, client: TestClient, world: World) -> None:
    member, firm, tag = bearer(client, world.emails["member_a"]), world.firm_a, world.ids_a["tag_id"]
    page = _page_client(app, world.emails["member_a"])
    token = _csrf(page)
    form = page.post(f"/companies/{firm}/signals/corrections", data={"policy": "keep_both", "csrf_token": token},
                     follow_redirects=False)  # fmt: skip
    assert form.status_code == 303
    _send(client, member, tag, 20.0)
    assert _send(client, member, tag, 21.5)["conflicts"] == 1
    assert client.get(f"/api/v1/tags/{tag}/latest", headers=member).json()["value"] == 20.0  # the first stays

    html = page.get(f"/companies/{firm}/signals").text
    assert 'value="keep_both" checked' in html
    assert "21.5" in html and "정정" in html
    bad = page.post(f"/companies/{firm}/signals/corrections", data={"policy": "", "csrf_token": token},
                    follow_redirects=False)  # fmt: skip
    assert bad.status_code == 422
