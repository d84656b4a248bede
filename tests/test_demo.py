"""The synthetic population and the demo seeding."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from smart365.core.accounts import User
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.registry.brn import brn_is_valid
from smart365.registry.models import Company
from smart365.registry.sobujang import is_sobujang
from smart365.sim.demo import seed_demo
from smart365.sim.population import generate_population


def test_population_is_plausible_and_deterministic() -> None:
    firms = generate_population(320, seed=7)
    companies = [f.company for f in firms]
    assert len({c.brn for c in companies}) == len({c.name for c in companies}) == 320
    assert all(brn_is_valid(c.brn) for c in companies)
    share = sum(is_sobujang(c.ksic_code) for c in companies) / 320
    assert 0.40 < share < 0.62
    regions = Counter(c.region for c in companies)
    assert regions.most_common(1)[0][0] == "gyeonggi" and len(regions) >= 12
    employees = sorted(c.employees or 0 for c in companies)
    assert employees[160] < 100 < employees[-1]  # most are small, some are not
    assert [f.company.name for f in generate_population(20, seed=7)] == [c.name for c in companies[:20]]


def test_demo_seeds_once_and_then_reuses(db: Database) -> None:
    assert seed_demo(db, firms=30) is True
    assert seed_demo(db, firms=30) is False
    with db.session(SYSTEM) as session:
        assert session.scalar(select(func.count()).select_from(Company)) == 31
        assert session.scalar(select(func.count()).select_from(User)) == 4
