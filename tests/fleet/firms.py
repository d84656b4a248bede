"""A firm with one machine and its tags, registered in a plant's records (the fleet tests' plants)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from smart365.registry.models import Equipment, Line, Site, Tag
from smart365.registry.schemas import CompanyIn
from smart365.registry.service import create_company


def firm_with_machine(session: Session, brn: str, tags: Sequence[tuple[str, str]], name: str = "") -> list[int]:
    """Register firm ``brn`` with a site, a line, machine MCT-01 and ``tags`` (name, unit); their ids."""
    firm = create_company(session, CompanyIn(name=name or f"기업 {brn}", brn=brn, ksic_code="29229", region="경기"))
    site = Site(company_id=firm.id, name="본사 공장")
    session.add(site)
    session.flush()
    line = Line(company_id=firm.id, site_id=site.id, name="1 라인")
    session.add(line)
    session.flush()
    machine = Equipment(company_id=firm.id, line_id=line.id, name="MCT-01", kind="cnc")
    session.add(machine)
    session.flush()
    rows = [Tag(company_id=firm.id, equipment_id=machine.id, name=tag, unit=unit) for tag, unit in tags]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]
