"""The session-level tenancy mechanism, independent of HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from smart365.core.db import Database
from smart365.core.errors import Forbidden
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry.models import Company, Equipment, Site, Tag
from tests.conftest import World


def member(company_id: int) -> Principal:
    return Principal(user_id=1, role=Role.COMPANY_MEMBER, company_id=company_id)


def test_member_sees_only_own_firm_in_every_table(world: World) -> None:
    with world.db.session(member(world.firm_b)) as session:
        assert [c.id for c in session.scalars(select(Company))] == [world.firm_b]
        assert {t.company_id for t in session.scalars(select(Tag))} == {world.firm_b}
        assert session.get(Site, world.ids_a["site_id"]) is None


def test_joins_and_counts_are_scoped_too(world: World) -> None:
    from sqlalchemy import func

    with world.db.session(member(world.firm_b)) as session:
        joined = session.scalars(select(Equipment).join(Site, Site.company_id == Equipment.company_id)).all()
        assert {e.company_id for e in joined} == {world.firm_b}
        assert session.scalar(select(func.count()).select_from(Company)) == 1


def test_writing_to_another_firm_is_refused(world: World) -> None:
    with pytest.raises(Forbidden), world.db.session(member(world.firm_b)) as session:
        session.add(Site(company_id=world.firm_a, name="intruder"))
    with world.db.session(SYSTEM) as session:
        assert session.scalar(select(Site).where(Site.name == "intruder")) is None


def test_bulk_update_cannot_reach_another_firm(world: World) -> None:
    with world.db.session(member(world.firm_b)) as session:
        session.execute(update(Company).values(employees=1).execution_options(synchronize_session=False))
    with world.db.session(SYSTEM) as session:
        assert session.get(Company, world.firm_a).employees == 50  # type: ignore[union-attr]
        assert session.get(Company, world.firm_b).employees == 1  # type: ignore[union-attr]


def test_data_partner_sees_nothing_and_writes_nothing(world: World) -> None:
    partner = Principal(user_id=9, role=Role.DATA_PARTNER)
    with world.db.session(partner) as session:
        assert session.scalars(select(Company)).all() == []
        assert not partner.can_change(world.firm_a)


def test_consultant_sees_assigned_firms_only(world: World) -> None:
    consultant = Principal(user_id=3, role=Role.CONSULTANT, assigned=frozenset({world.firm_a}))
    with world.db.session(consultant) as session:
        assert [c.id for c in session.scalars(select(Company))] == [world.firm_a]


def test_session_without_principal_fails_closed(db: Database) -> None:
    from sqlalchemy.orm import Session

    with Session(db.engine) as session, pytest.raises(RuntimeError, match="no principal"):
        session.scalars(select(Company)).all()
