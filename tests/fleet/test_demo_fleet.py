"""The demo's centre has a fleet to show: a dozen synthetic firms' plants as a centre worker would have stored."""

from __future__ import annotations

from sqlalchemy import func, select

from smart365.core.db import Database, utcnow
from smart365.core.tenancy import SYSTEM
from smart365.fleet.service import Status, firm_fleet, fleet
from smart365.registry.models import Company, Tag
from smart365.sim.demo import add_firm
from smart365.sim.demo_fleet import seed_fleet
from smart365.sim.population import generate_population


def test_the_demo_fleet_shows_every_state_and_a_day_of_each_tag(db: Database) -> None:
    # Half past the hour: in an hour's first minutes the last closed hour has not been forwarded yet (seen in CI).
    now = utcnow().replace(minute=30, second=0, microsecond=0)
    with db.session(SYSTEM) as session:
        for firm in generate_population(60, seed=365):
            add_firm(session, firm)
        assert seed_fleet(session, now) == 12
    with db.session(SYSTEM) as session:
        seen = fleet(session, now)
        assert [p.status for p in seen.plants].count(Status.DELAYED) == 1
        assert [p.status for p in seen.plants].count(Status.SILENT) == 1
        assert seen.reporting == 10 and seen.firms == 12
        for plant in seen.plants:  # the firm's own registered tags, six hours of minutes each
            registered = session.scalar(select(func.count()).select_from(Tag).where(Tag.company_id == plant.company_id))
            assert plant.tags == registered > 0 and plant.buckets_24h == 360 * registered
        one = session.get(Company, seen.plants[0].company_id)
        assert one is not None
        section = firm_fleet(session, one, now)
        tags = {tag.id: tag for tag in session.scalars(select(Tag).where(Tag.company_id == one.id))}
        for series in section.tags[seen.plants[0].plant]:
            tag = tags[series.tag_id]
            assert (series.name, series.unit) == (tag.name, tag.unit)
            assert sum(v is not None for v in series.hourly) == 23  # the 23 closed hours; the running one is open
            if not tag.name.endswith("_count"):  # a counter climbs; the rest stay inside the tag's range
                assert tag.min_value is not None and tag.max_value is not None
                assert all(tag.min_value <= v <= tag.max_value for v in series.hourly if v is not None)
