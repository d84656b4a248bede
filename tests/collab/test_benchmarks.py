"""Peer benchmarks through the service, the page and the API: joining, groups and their fallbacks, the rule on
every cell, the same release for the same members, the budget ledger, the usage log and the audit."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.collab import benchmarks, ledger
from smart365.collab.disclosure import BUDGET_PER_KPI, MIN_N_EPSILON
from smart365.collab.models import BenchMember, BenchRelease, BudgetEntry, UsageRecord
from smart365.core.audit import Actor, AuditEntry
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry.models import Company
from tests.conftest import PASSWORD, SENTINEL, World

ACTOR = Actor(None, "test@smart365.kr")


def peers(db: Database, count: int, *, ksic: str = "29229", region: str = "gyeonggi", employees: int = 50,
          start: int = 0, figures: Any = None) -> list[int]:  # fmt: skip
    """``count`` firms in the pool, each with its own figures (``figures(i)``, else OEE rising with i)."""
    ids = []
    with db.session(SYSTEM) as session:
        for i in range(start, start + count):
            company = Company(name=f"동료 {i}", brn=f"9{i:09d}", ksic_code=ksic, region=region, employees=employees)
            session.add(company)
            session.flush()
            values = figures(i) if figures else {"oee": 0.5 + 0.003 * i, "maturity:D1": 40.0 + i % 30}
            benchmarks.enter(session, company.id, values, ACTOR)
            ids.append(company.id)
    return ids


def member_of(world: World, firm: int) -> Principal:
    return Principal(user_id=None, role=Role.COMPANY_MEMBER, company_id=firm)


def test_a_firm_out_of_the_pool_sees_its_own_figures_and_why_some_are_absent(world: World) -> None:
    v = benchmarks.view(world.db, None, member_of(world, world.firm_a), world.firm_a)
    assert not v.joined and v.can_act and not v.rows
    absent = {f.kpi.code: f.absent for f in v.figures if f.value is None}
    assert "specification limits" in (absent["cpk"] or "") and absent["oee"] and absent["fpy"]


def test_joining_logs_audits_and_groups_with_the_finest_group_of_five(world: World) -> None:
    peers(world.db, 6)  # same KSIC 29, size band 50–99, region 경기 as firm A
    kpis = benchmarks.join(world.db, None, member_of(world, world.firm_a), ACTOR, world.firm_a)
    assert kpis == []  # firm A's test plant has no OEE history and no survey: nothing to give but its place
    with world.db.session(SYSTEM) as s:
        s.scalars(select(BenchMember)).all()
        records = s.scalars(select(UsageRecord).where(UsageRecord.company_id == world.firm_a)).all()
        assert [r.kind for r in records][-1] == benchmarks.JOINED
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "collab.bench_join")).first() is not None
    v = benchmarks.view(world.db, None, member_of(world, world.firm_a), world.firm_a)
    assert v.joined and v.level == "ksic_size_region" and v.firms == 7 and not v.passed
    rows = {r.kpi.code: r for r in v.rows}
    assert rows["oee"].own is None and rows["oee"].rule is None  # firm A gives no OEE: nothing to compare
    assert ledger.verify(world.db).ok


def test_each_rule_is_named_and_a_small_group_gets_quartiles_only(world: World) -> None:
    ids = peers(world.db, 5)
    v = benchmarks.view(world.db, None, member_of(world, ids[0]), ids[0])
    oee = next(r for r in v.rows if r.kpi.code == "oee")
    assert (oee.rule, oee.n, oee.mean, oee.quartile) == ("quartile", 5, None, 4)
    assert oee.rule_label.startswith("소규모 집단")  # the rule in words, Korean first
    few = peers(world.db, 3, ksic="10110", region="busan", start=100)
    v = benchmarks.view(world.db, None, member_of(world, few[0]), few[0])
    assert v.level != "ksic_size_region" and v.passed and v.passed[0][2] == 3  # fell back, and says from where


def test_a_large_group_gets_a_dp_mean_released_once_and_charged_to_every_firm(world: World) -> None:
    n = int(MIN_N_EPSILON)
    ids = peers(world.db, n)
    first = benchmarks.view(world.db, None, member_of(world, ids[0]), ids[0])
    oee = next(r for r in first.rows if r.kpi.code == "oee")
    assert oee.rule == "dp" and oee.epsilon == 1.0 and oee.mean is not None and oee.spent == 1.0
    again = benchmarks.view(world.db, None, member_of(world, ids[7]), ids[7])
    assert again.release_id == first.release_id
    assert next(r for r in again.rows if r.kpi.code == "oee").mean == oee.mean  # the same draw, not a new one
    with world.db.session(SYSTEM) as s:
        assert s.scalar(select(BenchRelease.prov).where(BenchRelease.id == first.release_id))
        charged = s.scalars(select(BudgetEntry).where(BudgetEntry.kpi == "oee")).all()
        assert sorted(e.company_id for e in charged) == sorted(ids)
        logged = s.scalars(select(UsageRecord).where(UsageRecord.kind == benchmarks.RELEASED)).all()
        assert len(logged) == n and all(json.loads(r.details)["release"] == first.release_id for r in logged)
        assert all(str(i) not in json.loads(r.details)["group"] for r in logged for i in ids if i > 99)
    prov = first.prov or {}
    assert prov["entity"]["s365:benchmark/pool/ksic-29.size-50-99.region-gyeonggi"][
        "s365:firms"]["$"] == str(n)  # fmt: skip


def test_the_budget_runs_out_and_the_cell_falls_back_to_quartiles(world: World) -> None:
    n = int(MIN_N_EPSILON)
    ids = peers(world.db, n)
    rules = []
    for round_ in range(int(BUDGET_PER_KPI) + 1):
        with world.db.session(SYSTEM) as s:  # a new firm each round: a new membership, a new release
            company = Company(name=f"신규 {round_}", brn=f"8{round_:09d}", ksic_code="29229", region="gyeonggi",
                              employees=50)
            s.add(company)
            s.flush()
            benchmarks.enter(s, company.id, {"oee": 0.7}, ACTOR)
        v = benchmarks.view(world.db, None, member_of(world, ids[0]), ids[0])
        rules.append(next(r for r in v.rows if r.kpi.code == "oee").rule)
    assert rules == ["dp"] * int(BUDGET_PER_KPI) + ["budget"]


def test_leaving_takes_the_figures_out(world: World) -> None:
    ids = peers(world.db, 5)
    benchmarks.leave(world.db, member_of(world, ids[0]), ACTOR, ids[0])
    with world.db.session(SYSTEM) as s:
        m = s.scalars(select(BenchMember).where(BenchMember.company_id == ids[0])).one()
        assert not m.active and m.figures == {}
    v = benchmarks.view(world.db, None, member_of(world, ids[1]), ids[1])
    assert next(r for r in v.rows if r.kpi.code == "oee").rule == "suppressed"


def _login(client: TestClient, email: str) -> str:
    import re

    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/collab/benchmarks").text)
    assert match
    return match.group(1)


def test_the_page_joins_in_one_click_and_names_each_rule(client: TestClient, world: World) -> None:
    peers(world.db, 6)
    token = _login(client, world.emails["member_a"])
    page = client.get("/collab/benchmarks")
    assert page.status_code == 200 and 'data-testid="bench-join"' in page.text and "bench-not-joined" in page.text
    joined = client.post("/collab/benchmarks/join", data={"csrf_token": token})
    assert joined.status_code == 200 and 'data-testid="bench-joined"' in joined.text  # followed the redirect
    assert "수준진단" in joined.text or "bench-row" in joined.text
    assert "동료" not in joined.text and SENTINEL in joined.text  # its own name, never a peer's


def test_the_api_gives_the_cells_and_the_provenance(client: TestClient, world: World) -> None:
    from tests.conftest import bearer

    ids = peers(world.db, 6)
    headers = bearer(client, world.emails["member_a"])
    out = client.post("/api/v1/collab/benchmarks/join", headers=headers).json()
    assert out["joined"] and out["firms"] == 7 and out["provenance"]["activity"]
    assert {c["rule"] for c in out["cells"] if c["rule"]} <= {"quartile", "suppressed", "dominance"}
    as_b = bearer(client, world.emails["member_b"])
    other = client.get(f"/api/v1/collab/benchmarks?company_id={ids[0]}", headers=as_b)
    assert other.json()["company_id"] == world.firm_b  # a member only ever reads its own firm
    partner = client.get("/api/v1/collab/benchmarks", headers=bearer(client, world.emails["partner"]))
    assert partner.status_code == 403


def test_the_figures_come_from_the_firms_own_machines(world: World) -> None:
    """OEE, its factors, unplanned downtime and energy per part from state, counter and kWh tags in the store."""
    from datetime import UTC, datetime, timedelta

    from smart365.monitoring.models import OeeSetting
    from smart365.registry.models import Tag
    from smart365.telemetry.batch import Batch
    from smart365.telemetry.store import DuckDBStore

    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    t0 = int((now - timedelta(hours=2)).timestamp() * 1e6)
    minute = 60_000_000
    with world.db.session(SYSTEM) as s:
        tags = {name: Tag(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name=name, unit=unit)
                for name, unit in (("state", None), ("count", "ea"), ("bad", "ea"), ("energy", "kWh"))}  # fmt: skip
        s.add_all(tags.values())
        s.flush()
        s.add(OeeSetting(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], ideal_cycle_s=30.0,
                         state_tag_id=tags["state"].id, count_tag_id=tags["count"].id, bad_tag_id=tags["bad"].id))
        ids = {name: tag.id for name, tag in tags.items()}
    store = DuckDBStore(":memory:")
    store.append(Batch.from_columns(ids["state"], [t0, t0 + 90 * minute], [1.0, 2.0]))  # 90 min running, 30 down
    store.append(Batch.from_columns(ids["count"], [t0, t0 + 90 * minute], [0.0, 100.0]))
    store.append(Batch.from_columns(ids["bad"], [t0, t0 + 90 * minute], [0.0, 5.0]))
    store.append(Batch.from_columns(ids["energy"], [t0, t0 + 90 * minute], [1000.0, 1050.0]))
    with world.db.session(SYSTEM) as s:
        figures = {f.kpi.code: f.value for f in benchmarks.firm_figures(s, store, world.firm_a, now=now)}
    assert round(figures["availability"] or 0, 4) == 0.75 and round(figures["quality"] or 0, 4) == 0.95
    assert round(figures["unplanned_downtime"] or 0, 4) == 0.25 and round(figures["energy_per_part"] or 0, 4) == 0.5
    assert figures["oee"] is not None and figures["cpk"] is None and figures["fpy"] is None
