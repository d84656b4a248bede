"""Registry logic: plain functions taking a scoped session, shared by the API, pages, CLI and tests.

Tenancy is not checked here: the session's principal scopes every query and write
(:mod:`smart365.core.tenancy`). Only role rules (who may create a company) are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.db import Base
from smart365.core.errors import Conflict, Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.tenancy import Role, principal_of
from smart365.registry.brn import normalize_brn
from smart365.registry.models import Company, Equipment, Line, Site, Tag
from smart365.registry.schemas import CompanyIn, CompanyPatch
from smart365.registry.sobujang import is_sobujang

M = TypeVar("M", bound=Base)

#: Each hierarchy level and the parent it hangs from: (child, parent, foreign key on the child).
HIERARCHY: dict[type[Base], tuple[type[Base], str]] = {
    Site: (Company, "company_id"),
    Line: (Site, "site_id"),
    Equipment: (Line, "line_id"),
    Tag: (Equipment, "equipment_id"),
}


def get(session: Session, model: type[M], ident: int) -> M:
    """The row ``ident`` of ``model`` if the principal may see it, else :class:`NotFound`."""
    row = session.get(model, ident)  # scoped like any query: another firm's row is simply not found
    if row is None:
        raise NotFound()
    return row


@dataclass
class CompanyFilter:
    """Filters of the company list. Every field is optional."""

    q: str | None = None
    region: str | None = None
    sobujang: bool | None = None
    ksic: str | None = None
    system: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.q and self.q.strip():
            term = f"%{self.q.strip()}%"
            conds.append(or_(Company.name.ilike(term), Company.brn.like(f"%{normalize_brn(self.q)}%")))
        if self.region:
            conds.append(Company.region == self.region)
        if self.sobujang is not None:
            conds.append(Company.sobujang.is_(self.sobujang))
        if self.ksic:
            conds.append(Company.ksic_code.startswith(self.ksic.strip().upper().removeprefix("C")))
        if self.system:
            # JSON list stored as text on both backends: match the quoted code.
            conds.append(cast(Company.systems, Text).like(f'%"{self.system.upper()}"%'))
        return conds


def company_query(flt: CompanyFilter) -> Select[Company]:
    return select(Company).where(*flt.conditions())


def list_companies(session: Session, flt: CompanyFilter, page: int = 1, size: int = 50) -> tuple[list[Company], int]:
    """One page of companies matching ``flt`` (by name), and the total count."""
    query = company_query(flt)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Company.name, Company.id).offset((page - 1) * size).limit(size))
    return list(rows), total


def _apply_sobujang(company: Company, override: bool | None) -> None:
    if override is not None:
        company.sobujang, company.sobujang_manual = override, True
    elif not company.sobujang_manual:
        company.sobujang = is_sobujang(company.ksic_code)


def create_company(session: Session, data: CompanyIn) -> Company:
    """Register a firm (centre only); the 소부장 flag follows its KSIC code unless overridden."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    company = Company(**data.model_dump(exclude={"sobujang"}))
    _apply_sobujang(company, data.sobujang)
    session.add(company)
    _flush_unique(session)
    return company


def update_company(session: Session, company: Company, patch: CompanyPatch) -> Company:
    """Change the given fields; ``sobujang`` set to a value overrides the KSIC-derived flag."""
    changes = patch.model_dump(exclude_unset=True)
    override = changes.pop("sobujang", None)
    for key, value in _required_kept(company, changes).items():
        setattr(company, key, value)
    _apply_sobujang(company, override)
    _flush_unique(session)
    return company


def delete_company(session: Session, company: Company) -> None:
    principal_of(session).require(Role.CENTRE_ADMIN)
    audit.record(session, audit.Action.DELETE, f"company:{company.id}", company_id=company.id,
                 details={"name": company.name, "brn": company.brn})  # fmt: skip
    session.delete(company)
    session.flush()


def children(session: Session, model: type[M], parent_id: int) -> list[M]:
    """The rows of ``model`` directly under the parent ``parent_id`` (which must be visible)."""
    parent_model, fk = HIERARCHY[model]
    get(session, parent_model, parent_id)
    return list(session.scalars(select(model).where(getattr(model, fk) == parent_id).order_by(model.name)))  # type: ignore[attr-defined]


def create_child(session: Session, model: type[M], parent_id: int, data: BaseModel) -> M:
    """Add a row of ``model`` under ``parent_id``; it inherits the parent's company."""
    parent_model, fk = HIERARCHY[model]
    parent = get(session, parent_model, parent_id)
    company_id = parent.id if isinstance(parent, Company) else parent.company_id  # type: ignore[attr-defined]
    row = model(**data.model_dump(), **{"company_id": company_id, fk: parent_id})
    session.add(row)
    try:
        _flush_unique(session)
    except Exception:
        session.expunge(row)  # refused: the session must not try to write it again at commit
        raise
    return row


def update_row(session: Session, row: M, patch: BaseModel) -> M:
    for key, value in _required_kept(row, patch.model_dump(exclude_unset=True)).items():
        setattr(row, key, value)
    _flush_unique(session)
    return row


def delete_row(session: Session, row: Base) -> None:
    """Delete a site, line, machine or tag (and what hangs under it); audited."""
    audit.record(session, audit.Action.DELETE, f"{row.__tablename__}:{row.id}",  # type: ignore[attr-defined]
                 company_id=row.company_id, details={"name": row.name})  # type: ignore[attr-defined]  # fmt: skip
    session.delete(row)
    session.flush()


def _required_kept(row: Base, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes``, unless one of them empties a column that must hold a value (e.g. ``{"systems": null}``):
    that is a 422 naming the field, for every patch in one place, not a database error or a broken answer."""
    columns = sa_inspect(type(row)).columns
    for key, value in changes.items():
        if value is None and key in columns and not columns[key].nullable:
            raise Invalid(N_("{field} cannot be empty; leave it out to keep it as it is."), field=key)
    return changes


def _flush_unique(session: Session) -> None:
    """Flush, turning a uniqueness violation into a clear 409."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(N_("A record with the same name or registration number already exists.")) from exc


def hierarchy_counts(session: Session, company_id: int) -> dict[str, int]:
    """How many sites, lines, machines and tags a firm has registered."""
    return {
        name: session.scalar(select(func.count()).select_from(model).where(model.company_id == company_id)) or 0
        for name, model in (("sites", Site), ("lines", Line), ("equipment", Equipment), ("tags", Tag))
    }


@dataclass
class PopulationSummary:
    """Counts over the visible firms, for dashboards."""

    companies: int
    sobujang: int
    by_region: dict[str, int]
    by_system: dict[str, int]
    median_employees: float | None


def population_summary(session: Session) -> PopulationSummary:
    """How many visible firms there are, by region and by system they run."""
    rows = session.execute(select(Company.region, Company.sobujang, Company.systems, Company.employees)).all()
    by_region: dict[str, int] = {}
    by_system: dict[str, int] = {}
    for region, _sob, systems, _emp in rows:
        by_region[region] = by_region.get(region, 0) + 1
        for system in systems or []:
            by_system[system] = by_system.get(system, 0) + 1
    employees = sorted(r.employees for r in rows if r.employees is not None)
    median = float(employees[len(employees) // 2]) if employees else None
    return PopulationSummary(
        companies=len(rows),
        sobujang=sum(1 for r in rows if r.sobujang),
        by_region=dict(sorted(by_region.items(), key=lambda kv: -kv[1])),
        by_system=dict(sorted(by_system.items(), key=lambda kv: -kv[1])),
        median_employees=median,
    )


def tag_choices(session: Session, company_id: int) -> list[tuple[str, int]]:
    """The firm's tags as people read them (``MACHINE/label``) with their ids, sorted, for a choice in a form."""
    tags = session.scalars(select(Tag).where(Tag.company_id == company_id))
    return sorted((tag.machine_label, int(tag.id)) for tag in tags)
