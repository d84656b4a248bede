"""The demo's programmes: a selected call with every firm's stored reason, and an open 소부장 call whose
applications carry the reasons of each rule they fail (the 2026 call's selected firms are excluded)."""

from __future__ import annotations

from sqlalchemy import select

from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.programmes import service
from smart365.programmes.models import Call, CallState
from smart365.sim.demo import seed_demo


def test_the_demo_seeds_a_selected_call_and_an_open_one(db: Database) -> None:
    seed_demo(db, firms=30)
    with db.session(SYSTEM) as session:
        calls = {c.state: c for c in session.scalars(select(Call))}
        assert set(calls) == {CallState.SELECTED, CallState.OPEN}
        done, open_call = calls[CallState.SELECTED], calls[CallState.OPEN]
        applied = service.applications(session, done.id)
        results = service.results(session, done.id)
        assert len(applied) >= 10 and set(results) == {a.id for a in applied}
        chosen = [r for r in results.values() if r.selected]
        assert chosen and sum(a.requested for a in applied if results[a.id].selected) <= done.budget
        assert done.selection["total"] >= done.selection["greedy_total"]
        assert all(service.selection_texts(r.reason) for r in results.values())
        later = service.applications(session, open_call.id)
        excluded = [a for a in later if any(r["rule"] == "prior" for r in a.reasons)]
        chosen_firms = {r.company_id for r in chosen}
        assert excluded and all(a.company_id in chosen_firms for a in excluded)
        assert any(a.eligible for a in later)
