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


def test_the_demo_seeds_two_buyers_needs_with_ranked_suppliers_even_with_few_firms(db: Database) -> None:
    from smart365.core.accounts import User
    from smart365.core.tenancy import Principal, Role
    from smart365.programmes import sourcing
    from smart365.programmes.models import SourcingNeed, Stage

    seed_demo(db, firms=4)
    with db.session(SYSTEM) as session:
        needs = list(session.scalars(select(SourcingNeed).order_by(SourcingNeed.id)))
        assert len(needs) == 2 and len({n.buyer for n in needs}) == 2
        for need in needs:
            ranked = sourcing.need_matches(session, need)
            assert ranked and all(m.criteria for m in ranked)
        result = sourcing.outcomes(session)
        assert result.orders == 1 and result.won == 186_000_000 and result.by_stage[Stage.SAMPLE] >= 1
        partner = session.scalar(select(User).where(User.role == Role.DATA_PARTNER))
        assert partner is not None
        partner_id = partner.id
    with db.session(Principal(user_id=partner_id, role=Role.DATA_PARTNER)) as session:
        (own,) = sourcing.list_needs(session)  # the partner's own need; the other is the centre's for its buyer
        assert any(m.company == "(주)한빛정밀" for m in sourcing.need_matches(session, own))
